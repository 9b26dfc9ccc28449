"""W&B Launch run queues for the W&B fake: push, a scripted agent, item states, delete, and stopping runs.

The GraphQL operations are the ones wandb 0.31 sends (``LaunchApi.push_to_run_queue_by_name``,
``QueuedRun._get_item`` / ``delete``, wandb-core's ``StopRun``) plus our ``AirflowRunStorageId`` /
``AirflowRunQueueItemError``. Tests drive the agent either by hand (``agent_claim``, ``fail_item``,
``server.set_run_state``) or by script (``script``): claim after K item reads, then walk the run
through a ``Lifecycle`` one step per run-state read (``AirflowRunState``, or a batched ``AirflowRunsState`` page
that carries the run).
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.lifecycle import Lifecycle

Json = dict[str, Any]
DEFAULT_PROJECT = "model-registry"


def _gid(kind: str, key: str) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


@dataclass
class AgentScript:
    """What the queue's agent does with each item: claim it after ``claim_after`` item reads (None: never),
    or fail it with ``fail``; then the run walks through ``run`` one step per state read."""

    claim_after: int | None = 1
    fail: str | None = None
    run: Lifecycle = field(default_factory=lambda: Lifecycle(("running", 2), "finished"))
    summary: dict[str, Any] = field(default_factory=lambda: {"loss": 0.12, "accuracy": 0.91})
    artifacts: list[dict[str, Any]] = field(
        default_factory=lambda: [{"name": "model", "type": "model", "aliases": ["latest"]}]
    )


class LaunchQueues:
    """The run queues of one ``WandbServer`` (``server.queues``). Handlers run under the server's lock."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._queues: dict[tuple[str, str, str], Json] = {}  # (entity, project, name) -> queue
        self._items: dict[str, Json] = {}
        self._run_scripts: dict[tuple[str, str, str], Lifecycle] = {}
        self._ids = itertools.count(1)
        self.stopped: list[str] = []  # run paths stopRun was called for

    def handlers(self, current: dict[str, Callable[[Json], Json]]) -> dict[str, Callable[[Json], Json]]:
        """The queue operations; the run-state read already registered (``current``) is wrapped, not replaced."""
        return {
            "pushToRunQueueByName": self._push,
            "GetRunQueueItem": self._get_item,
            "AirflowRunQueueItems": self._list_items,
            "AirflowRunQueueItemError": self._get_item,
            "fetchRunQueuesFromProject": self._queue_id,
            "DeleteFromRunQueue": self._delete,
            "AirflowRunStorageId": self.server._run_query,
            "StopRun": self._stop_run,
            "AirflowRunState": self._advancing(current["AirflowRunState"]),
            "AirflowRunsState": self._advancing_many(current["AirflowRunsState"]),
        }

    # --- driving it from tests ---------------------------------------------------------------------

    def add_queue(
        self,
        entity: str,
        project: str = DEFAULT_PROJECT,
        name: str = "default",
        resource: str = "sagemaker",
        config: dict | None = None,
        script: AgentScript | None = None,
    ) -> str:
        """Create (or replace) a queue; return its id. Without a ``script`` nothing picks its items up."""
        with self.server._lock:
            queue_id = _gid("RunQueue", f"{entity}/{project}/{name}")
            self._queues[entity, project, name] = {
                "id": queue_id,
                "resource": resource,
                "config": dict(config or {}),
                "script": script,
            }
            return queue_id

    def script(self, entity: str, name: str, script: AgentScript, project: str = DEFAULT_PROJECT) -> None:
        """Give a queue a scripted agent."""
        with self.server._lock:
            self._queues[entity, project, name]["script"] = script

    def agent_claim(self, item_id: str, run_id: str | None = None, *, state: str = "running", **run: Any) -> str:
        """What an agent does: ack the item with a run id (the spec's by default) and start that run."""
        with self.server._lock:
            item = self._items[item_id]
            spec = item["spec"]
            run_id = run_id or spec.get("run_id") or f"agent{next(self._ids):04d}"
            item.update(state="CLAIMED", associatedRunId=run_id)
            config = (spec.get("overrides") or {}).get("run_config") or {}
            self.server.add_run(
                spec["entity"], spec["project"], run_id, state=state, config=config, name=spec.get("name"), **run
            )
            return run_id

    def fail_item(self, item_id: str, message: str, stage: str = "run") -> None:
        """What an agent does when it cannot start the job (``failRunQueueItem``)."""
        with self.server._lock:
            self._items[item_id].update(state="FAILED", error={"message": message, "stage": stage})

    def items(self, name: str | None = None) -> list[Json]:
        """Copies of the items pushed (deleted ones too, with ``deleted: True``), oldest first."""
        with self.server._lock:
            return [copy.deepcopy(i) for i in self._items.values() if name is None or i["queue"][2] == name]

    def pushed_specs(self) -> list[Json]:
        return [i["spec"] for i in self.items()]

    def reset(self) -> None:
        with self.server._lock:
            self._queues.clear()
            self._items.clear()
            self._run_scripts.clear()
            self.stopped.clear()

    # --- GraphQL -----------------------------------------------------------------------------------

    def _push(self, v: Json) -> Json:
        key = (v["entityName"], v["projectName"], v["queueName"])
        queue = self._queues.get(key)
        if queue is None:
            raise LookupError(f"run queue {v['queueName']} not found in {v['entityName']}/{v['projectName']}")
        spec = json.loads(v["runSpec"])
        item_id = _gid("RunQueueItem", str(next(self._ids)))
        self._items[item_id] = {
            "id": item_id,
            "queue": key,
            "state": "PENDING",
            "associatedRunId": None,
            "spec": spec,
            "priority": v.get("priority"),
            "templateVariableValues": json.loads(v["templateVariableValues"])
            if v.get("templateVariableValues")
            else None,
            "error": None,
            "reads": 0,
            "deleted": False,
        }
        stored = {**spec, "resource": queue["resource"], "resource_args": spec.get("resource_args") or queue["config"]}
        return {"pushToRunQueueByName": {"runQueueItemId": item_id, "runSpec": json.dumps(stored)}}

    def _get_item(self, v: Json) -> Json:
        key = (v["entityName"], v["projectName"], v["runQueue"])
        if key not in self._queues:
            return {"project": {"runQueue": None}}
        item = self._items.get(v["itemId"])
        if item is None or item["queue"] != key or item["deleted"]:
            return {"project": {"runQueue": {"id": self._queues[key]["id"], "runQueueItem": None}}}
        item["reads"] += 1
        self._run_script(item, self._queues[key]["script"])
        node = {k: item[k] for k in ("id", "state", "associatedRunId", "priority", "error")}
        node["runSpec"] = json.dumps(item["spec"])
        return {"project": {"runQueue": {"id": self._queues[key]["id"], "runQueueItem": node}}}

    def _list_items(self, v: Json) -> Json:
        """``runQueueItems(first: 100)``: the queue's items still on it, oldest first (no reads counted)."""
        key = (v["entityName"], v["projectName"], v["runQueue"])
        if key not in self._queues:
            return {"project": {"runQueue": None}}
        items = [i for i in self._items.values() if i["queue"] == key and not i["deleted"]][:100]
        edges = [
            {
                "node": {
                    "id": i["id"],
                    "state": i["state"],
                    "associatedRunId": i["associatedRunId"],
                    "runSpec": json.dumps(i["spec"]),
                }
            }
            for i in items
        ]
        return {"project": {"runQueue": {"id": self._queues[key]["id"], "runQueueItems": {"edges": edges}}}}

    def _run_script(self, item: Json, script: AgentScript | None) -> None:
        if script is None or item["state"] != "PENDING" or script.claim_after is None:
            return
        if item["reads"] < script.claim_after:
            return
        if script.fail:
            self.fail_item(item["id"], script.fail)
            return
        lifecycle = script.run.copy()
        first = lifecycle.current.state
        run_id = self.agent_claim(item["id"], state=first, summary=script.summary, logged_artifacts=script.artifacts)
        spec = item["spec"]
        self._run_scripts[spec["entity"], spec["project"], run_id] = lifecycle

    def _advancing(self, run_query: Callable[[Json], Json]) -> Callable[[Json], Json]:
        """A run-state read that first moves a scripted run one step along its lifecycle."""

        def handler(v: Json) -> Json:
            key = (v["entity"], v["project"], v.get("name") or v.get("run"))
            lifecycle = self._run_scripts.get(key)
            if lifecycle is not None and self.server.run(*key) is not None:
                self.server.set_run_state(*key, lifecycle.read().state)
            return run_query(v)

        return handler

    def _advancing_many(self, runs_query: Callable[[Json], Json]) -> Callable[[Json], Json]:
        """A batched run-state read (one page of a project's runs): each scripted run on the page moves one step,
        as if it had been read on its own."""

        def handler(v: Json) -> Json:
            page = self.server._runs_query(v)  # which runs this page answers for (an uncounted look)
            for edge in page["project"]["runs"]["edges"]:
                key = (v["entity"], v["project"], edge["node"]["name"])
                lifecycle = self._run_scripts.get(key)
                if lifecycle is not None:
                    self.server.set_run_state(*key, lifecycle.read().state)
            return runs_query(v)

        return handler

    def _queue_id(self, v: Json) -> Json:
        queue = self._queues.get((v["entityName"], v["projectName"], v["runQueueName"]))
        return {"project": {"runQueue": {"id": queue["id"]} if queue else None}}

    def _delete(self, v: Json) -> Json:
        item = self._items.get(v["runQueueItemId"])
        ok = item is not None and not item["deleted"] and self._queues[item["queue"]]["id"] == v["queueID"]
        if ok:
            item["deleted"] = True
        return {"deleteFromRunQueue": {"success": ok, "clientMutationId": None}}

    def _stop_run(self, v: Json) -> Json:
        """W&B flags the run; its process sees the flag and ends it ``killed`` (here: at once)."""
        try:
            path = base64.b64decode(v["id"]).decode().removeprefix("Run:")
            entity, project, run_id = path.split("/")
        except ValueError:
            return {"stopRun": {"success": False}}
        if self.server.run(entity, project, run_id) is None:
            return {"stopRun": {"success": False}}
        self.stopped.append(path)
        lifecycle = self._run_scripts.get((entity, project, run_id))
        if lifecycle is not None:
            lifecycle.stop(None, "killed")
        self.server.set_run_state(entity, project, run_id, "killed")
        return {"stopRun": {"success": True}}
