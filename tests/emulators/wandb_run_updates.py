"""Run updates in the W&B fake: the ``UpsertBucket`` mutation the SDK's public API sends to change a run.

``wandb.Api().run(path)`` (wandb 0.31) sends it twice over:

- ``run.summary.update({...})`` (and ``run.summary[k] = v; run.update()``): ``{id, summaryMetrics}``, where
  ``summaryMetrics`` is the whole summary as JSON. Like W&B, the keys sent are merged into the stored summary.
- ``run.update()`` after ``run.tags.append(...)``: ``{id, tags, description, display_name, notes, config,
  groupName, jobType}``. A ``null`` leaves the field as it was; ``config`` arrives as ``{key: {"value", "desc"}}``.

``id`` is the run's storage id (the fake's ``_gid("Run", "entity/project/run_id")``). Registered on
:class:`~tests.emulators.wandb_server.WandbServer` as ``server.run_updates``; ``updates`` records each one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

Json = dict[str, Any]
#: UpsertBucket variable -> the stored run record's field
FIELDS = {"tags": "tags", "display_name": "name", "groupName": "group", "description": "description"}


class RunUpdates:
    """The ``UpsertBucket`` mutation of one :class:`WandbServer`.

    :param server: the fake (its lock, run store and node builder are shared).
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.updates: list[Json] = []  # (run path, variables) of each UpsertBucket, as received

    def handlers(self) -> dict[str, Callable[[Json], Json]]:
        return {"UpsertBucket": self._upsert_bucket}

    def _upsert_bucket(self, v: Json) -> Json:
        key = _run_key(v.get("id") or "")
        rec = self.server._runs.get(key) if key else None
        if rec is None:
            raise KeyError(f"no run with storage id {v.get('id')!r}")
        self.updates.append({"run": "/".join(key), **v})
        if v.get("summaryMetrics") is not None:
            rec["summary"].update(json.loads(v["summaryMetrics"]))
        for variable, field in FIELDS.items():
            if v.get(variable) is not None:
                rec[field] = list(v[variable]) if field == "tags" else v[variable]
        if v.get("config") is not None:
            config = json.loads(v["config"])
            rec["config"] = {k: c.get("value") if isinstance(c, dict) else c for k, c in config.items()}
        return {"upsertBucket": {"bucket": self.server._run_node(rec, {}), "inserted": False}}


def _run_key(storage_id: str) -> tuple[str, str, str] | None:
    """``(entity, project, run_id)`` of a fake storage id, or None."""
    try:
        kind, _, path = base64.b64decode(storage_id).decode().partition(":")
    except ValueError:
        return None
    parts = tuple(path.split("/"))
    return parts if kind == "Run" and len(parts) == 3 else None  # type: ignore[return-value]
