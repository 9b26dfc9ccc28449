"""rank_runs and format_table as tables: min/max, ties broken by cost then duration then name, missing metrics,
failed clouds."""

from __future__ import annotations

import math

import pytest

from airflow_wandb_launch.cost.comparison import duration, format_table, rank_runs


def result(resource: str, metric: float | None = None, cost: float | None = 1.0, seconds: float | None = 600, **kw):
    summary = {} if metric is None else {"loss": metric}
    summary.update(kw.pop("summary", {}))
    billing = None if seconds is None else {"billable_seconds": seconds * kw.get("machines", 1), "machines": 1}
    return {
        "resource": resource,
        "job_id": f"{resource}-job",
        "job_state": kw.get("job_state", "succeeded"),
        "run_path": f"e/p/{resource}",
        "run_url": None,
        "summary": summary,
        "cost_usd": cost,
        "cost": billing,
    }


def names(table) -> list[str]:
    return [row["name"] for row in table.ranked]


@pytest.mark.parametrize(
    ("mode", "losses", "expected"),
    [
        ("min", {"a": 0.3, "b": 0.1, "c": 0.2}, ["b", "c", "a"]),
        ("max", {"a": 0.3, "b": 0.1, "c": 0.2}, ["a", "c", "b"]),
        ("min", {"a": -1, "b": 0, "c": 5}, ["a", "b", "c"]),
    ],
)
def test_rank_by_metric(mode, losses, expected):
    table = rank_runs({n: result(n, v) for n, v in losses.items()}, "loss", mode)
    assert names(table) == expected and [r["rank"] for r in table.ranked] == [1, 2, 3]
    assert table.winner["name"] == expected[0] and table.to_dict()["winner"] == expected[0]


@pytest.mark.parametrize(
    ("runs", "breakers", "expected"),
    [
        # equal metric: the cheaper first
        (
            {"a": (0.2, 0.9, 600), "b": (0.2, 0.5, 600), "c": (0.1, 5.0, 9000)},
            ("cost_usd", "duration"),
            ["c", "b", "a"],
        ),
        # equal metric and cost: the shorter first
        ({"a": (0.2, 0.5, 900), "b": (0.2, 0.5, 600)}, ("cost_usd", "duration"), ["b", "a"]),
        # duration first when asked
        ({"a": (0.2, 0.1, 900), "b": (0.2, 0.9, 600)}, ("duration", "cost_usd"), ["b", "a"]),
        # a missing cost sorts after a known one
        ({"a": (0.2, None, 60), "b": (0.2, 9.0, 600)}, ("cost_usd", "duration"), ["b", "a"]),
        # all equal: by name, so the order never depends on the input order
        ({"zeta": (0.2, 0.5, 60), "alpha": (0.2, 0.5, 60)}, ("cost_usd", "duration"), ["alpha", "zeta"]),
        # no tie breakers: the name decides
        ({"b": (0.2, 0.1, 60), "a": (0.2, 9.0, 600)}, (), ["a", "b"]),
    ],
)
def test_ties(runs, breakers, expected):
    results = {n: result(n, m, c, s) for n, (m, c, s) in runs.items()}
    assert names(rank_runs(results, "loss", "min", breakers)) == expected
    assert names(rank_runs(dict(reversed(results.items())), "loss", "min", breakers)) == expected


@pytest.mark.parametrize("value", [None, "0.1", True, math.nan, math.inf])
def test_a_run_without_a_numeric_metric_is_listed_unranked(value):
    odd = result("b")
    odd["summary"] = {} if value is None else {"loss": value}
    table = rank_runs({"a": result("a", 0.5), "b": odd}, "loss")
    assert names(table) == ["a"]
    [row] = table.unranked
    assert row["name"] == "b" and row["reason"] == "no numeric 'loss' in the run's summary"


def test_failed_clouds_are_listed_with_why():
    failure = {
        "failed": True,
        "resource": "azure-ml",
        "job_id": "j",
        "job_state": "failed",
        "reason": "azure-ml job j failed (Failed): CUDA out of memory.",
        "cost_usd": 0.53,
        "run_path": "e/p/x",
    }
    stopped = result("vertex", 0.01, job_state="stopped")
    table = rank_runs({"sm": result("sagemaker", 0.3), "az": failure, "vx": stopped, "gone": None}, "loss")
    assert names(table) == ["sm"]
    failed = {row["name"]: row for row in table.failed}
    assert failed["az"]["reason"].endswith("CUDA out of memory.") and failed["az"]["cost_usd"] == 0.53
    assert failed["vx"]["reason"] == "its job ended stopped" and failed["vx"]["resource"] == "vertex"
    assert failed["gone"]["reason"].startswith("no result") and failed["gone"]["resource"] is None


def test_nothing_ranked_means_no_winner():
    table = rank_runs({"a": None}, "loss")
    assert table.winner is None and table.to_dict()["winner"] is None
    assert "(no run could be ranked)" in format_table(table) and "Winner: none" in format_table(table)


def test_a_sequence_is_named_by_resource_and_duplicates_refused():
    table = rank_runs([result("sagemaker", 0.2), result("vertex", 0.1)], "loss")
    assert names(table) == ["vertex", "sagemaker"]
    with pytest.raises(ValueError, match="several results are named"):
        rank_runs([result("vertex", 0.2), result("vertex", 0.1)], "loss")


@pytest.mark.parametrize(("mode", "breakers"), [("best", ()), ("min", ("price",))])
def test_bad_arguments(mode, breakers):
    with pytest.raises(ValueError):
        rank_runs({}, "loss", mode, breakers)


def test_duration_prefers_the_runs_runtime_then_billed_seconds_per_machine():
    assert duration({"summary": {"_runtime": 42}, "cost": {"billable_seconds": 7200, "machines": 2}}) == 42
    assert duration({"summary": {}, "cost": {"billable_seconds": 7200, "machines": 2}}) == 3600
    assert duration({"summary": {}, "cost": None}) is None


def test_format_table():
    failure = {"failed": True, "resource": "azure-ml", "reason": "it failed", "cost_usd": 0.5}
    table = rank_runs({"sm": result("sagemaker", 0.3, 0.74, 3600), "vx": result("vertex", 0.1, 0.84, 3600),
                       "az": failure, "cpu": result("local-process")}, "loss")  # fmt: skip
    text = format_table(table)
    print(text)
    lines = text.splitlines()
    assert lines[0] == "Runs ranked by loss (min; ties broken by cost_usd, then duration, then name)"
    assert lines[1].split() == ["rank", "name", "resource", "loss", "cost_usd", "duration_s", "run_path"]
    assert lines[2].split() == ["1", "vx", "vertex", "0.1", "$0.84", "3600", "e/p/vertex"]
    assert lines[3].split() == ["2", "sm", "sagemaker", "0.3", "$0.74", "3600", "e/p/sagemaker"]
    assert "  cpu (local-process, cost $1.00): no numeric 'loss' in the run's summary" in lines
    assert "  az (azure-ml, cost $0.50): it failed" in lines
    assert lines[-1] == "Winner: vx (e/p/vertex)"
    assert format_table(table.to_dict()) == text
