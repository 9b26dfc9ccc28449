"""Rank LaunchResults of one job run on several clouds: by a metric, then cost, then duration. Pure.

:func:`rank_runs` takes what each launch task left (a name, e.g. the task id, per entry):

- a LaunchResult (``job_state == "succeeded"``): ranked by ``summary[metric]``; one without the metric (or with a
  value that is not a finite number) is listed under ``unranked``, with why;
- a failure record (``{"failed": True, "reason": ...}``: XCom ``failure`` that ``WandbLaunchOperator`` pushes
  before it fails, see ``results.failure_record``), a LaunchResult of a job that did not succeed, or ``None``
  (no result at all): listed under ``failed``, with why.

**Ties** are broken by ``tie_breakers`` in order (default: lower ``cost_usd``, then shorter ``duration``), then by
the name, alphabetically, so the order is total and the same on every run. A missing cost or duration sorts after
any known one. ``duration`` is the run's own ``_runtime`` (W&B's summary) when it reports one, else the seconds
each machine was billed (``cost.billable_seconds / cost.machines``).

:func:`format_table` renders a table for the task log; ``ComparisonTable.to_dict()`` is what goes to XCom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

MODES = ("min", "max")
TIE_BREAKERS = ("cost_usd", "duration")


@dataclass(frozen=True)
class ComparisonTable:
    """Runs ranked by a metric; the ones that could not be ranked, and the ones that failed, with why.

    :param metric: the summary metric ranked by.
    :param mode: ``min`` (lower is better) or ``max``.
    :param tie_breakers: what breaks ties, in order (then the name).
    :param ranked: rows best first: ``rank``, ``name``, ``resource``, ``value``, ``cost_usd``, ``duration``,
        ``run_path``, ``run_url``, ``job_id``.
    :param unranked: succeeded runs without the metric: ``name``, ``resource``, ``reason``, ``cost_usd``, ...
    :param failed: ``name``, ``resource``, ``job_state``, ``reason``, ``cost_usd``, ``job_id``, ``run_path``.
    """

    metric: str
    mode: str
    tie_breakers: tuple[str, ...]
    ranked: list[dict[str, Any]] = field(default_factory=list)
    unranked: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def winner(self) -> dict[str, Any] | None:
        """The best ranked row, if any run was ranked."""
        return self.ranked[0] if self.ranked else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for XCom (with ``winner``: the best row's name, or None)."""
        data = asdict(self)
        data["tie_breakers"] = list(self.tie_breakers)
        data["winner"] = self.winner["name"] if self.winner else None
        return data


def rank_runs(
    results: Mapping[str, Any] | Sequence[Any],
    metric: str,
    mode: str = "min",
    tie_breakers: Sequence[str] = TIE_BREAKERS,
) -> ComparisonTable:
    """Rank LaunchResults by ``summary[metric]``, then ``tie_breakers``, then name.

    :param results: name -> LaunchResult, failure record or None; a sequence is named by each entry's
        ``resource`` (else ``run <i>``).
    :param metric: the summary key to rank by (``loss``, ``eval/accuracy``).
    :param mode: ``min`` (lower is better) or ``max``.
    :param tie_breakers: any of ``cost_usd`` and ``duration``, in the order they break ties.
    :raises ValueError: for an unknown mode or tie breaker, or two entries of the same name.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    unknown = [t for t in tie_breakers if t not in TIE_BREAKERS]
    if unknown:
        raise ValueError(f"unknown tie breakers {unknown}: expected some of {TIE_BREAKERS}")
    table = ComparisonTable(metric, mode, tuple(tie_breakers))
    candidates = []
    for name, entry in _named(results):
        if _failed(entry):
            table.failed.append(_failure_row(name, entry))
            continue
        row = _row(name, entry, metric)
        if row["value"] is None:
            row["reason"] = f"no numeric {metric!r} in the run's summary"
            table.unranked.append(row)
        else:
            candidates.append(row)
    sign = 1 if mode == "min" else -1
    candidates.sort(key=lambda r: (sign * r["value"], *(_last_if_none(r[t]) for t in tie_breakers), r["name"]))
    table.ranked.extend({"rank": i, **row} for i, row in enumerate(candidates, start=1))
    return table


def _named(results: Mapping[str, Any] | Sequence[Any]) -> list[tuple[str, Any]]:
    if isinstance(results, Mapping):
        return [(str(name), entry) for name, entry in results.items()]
    named = [(str((e or {}).get("resource") or f"run {i}"), e) for i, e in enumerate(results, start=1)]
    names = [n for n, _ in named]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"several results are named {duplicates}: pass a mapping of name -> result")
    return named


def _failed(entry: Any) -> bool:
    return not isinstance(entry, Mapping) or bool(entry.get("failed")) or entry.get("job_state") != "succeeded"


def _number(value: Any) -> float | None:
    """A finite number, else None (a bool, a string or NaN is not a metric value)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def duration(result: Mapping[str, Any]) -> float | None:
    """The run's duration in seconds: W&B's ``_runtime``, else billed seconds per machine, else None.

    :param result: a LaunchResult.
    """
    runtime = _number((result.get("summary") or {}).get("_runtime"))
    if runtime is not None:
        return runtime
    cost = result.get("cost") or {}
    billed, machines = _number(cost.get("billable_seconds")), cost.get("machines") or 1
    return billed / machines if billed is not None else None


def _row(name: str, result: Mapping[str, Any], metric: str) -> dict[str, Any]:
    return {
        "name": name,
        "resource": result.get("resource"),
        "value": _number((result.get("summary") or {}).get(metric)),
        "cost_usd": _number(result.get("cost_usd")),
        "duration": duration(result),
        "run_path": result.get("run_path"),
        "run_url": result.get("run_url"),
        "job_id": result.get("job_id"),
    }


def _failure_row(name: str, entry: Any) -> dict[str, Any]:
    entry = entry if isinstance(entry, Mapping) else {}
    state = entry.get("job_state")
    reason = entry.get("reason") or (
        f"its job ended {state}" if state else "no result: the task failed before its job ended, or did not run"
    )
    return {
        "name": name,
        "resource": entry.get("resource"),
        "job_state": state,
        "reason": reason,
        "cost_usd": _number(entry.get("cost_usd")),
        "job_id": entry.get("job_id"),
        "run_path": entry.get("run_path"),
    }


def _last_if_none(value: float | None) -> tuple[bool, float]:
    return (value is None, value if value is not None else 0.0)


def format_table(table: ComparisonTable | Mapping[str, Any]) -> str:
    """The comparison as text for a task log: the ranked runs, then the unranked and failed ones with why.

    :param table: a :class:`ComparisonTable` or its ``to_dict()``.
    """
    data = table.to_dict() if isinstance(table, ComparisonTable) else dict(table)
    metric, breakers = data["metric"], ", then ".join(data["tie_breakers"]) or "nothing"
    lines = [f"Runs ranked by {metric} ({data['mode']}; ties broken by {breakers}, then name)"]
    header = ("rank", "name", "resource", metric, "cost_usd", "duration_s", "run_path")
    rows = [
        (str(r["rank"]), r["name"], r["resource"] or "-", _fmt(r["value"]), _usd(r["cost_usd"]), _fmt(r["duration"]))
        for r in data["ranked"]
    ]
    rows = [(*row, r["run_path"] or "-") for row, r in zip(rows, data["ranked"], strict=True)]
    lines += _columns([header, *rows]) if rows else ["  (no run could be ranked)"]
    for title, key in ((f"Not ranked (no {metric!r}):", "unranked"), ("Failed:", "failed")):
        if data[key]:
            lines.append(title)
            lines += [
                f"  {r['name']} ({r['resource'] or '?'}, cost {_usd(r['cost_usd'])}): {r['reason']}" for r in data[key]
            ]
    winner = data["ranked"][0] if data["ranked"] else None
    lines.append(f"Winner: {winner['name']} ({winner['run_path']})" if winner else "Winner: none")
    return "\n".join(lines)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.2f}"
