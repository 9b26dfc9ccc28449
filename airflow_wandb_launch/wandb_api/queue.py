"""W&B Launch run queues over GraphQL, the way W&B's own SDK talks to them (no wandb import).

Where each operation comes from in wandb 0.31:

- the run spec: ``wandb.sdk.launch.utils.construct_launch_spec`` (called by ``launch_add``);
- push: ``LaunchApi.push_to_run_queue_by_name`` (``wandb/sdk/launch/api.py``), mutation ``pushToRunQueueByName``;
- item state: ``QueuedRun._get_item`` (``wandb/apis/public/jobs.py``), query ``GetRunQueueItem``;
- delete: ``QueuedRun.delete``: query ``fetchRunQueuesFromProject`` for the queue id, mutation ``DeleteFromRunQueue``;
- stop a run: ``Run.stop()`` -> wandb-core's ``StopRun`` mutation ``stopRun(input: {id})`` with the run's storage id.

An agent honours the spec's ``run_id`` (``LaunchProject.from_spec`` -> ``WANDB_RUN_ID``) and acks the item with
it (``ackRunQueueItem``), so the item's ``associatedRunId`` is the run id chosen here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_wandb_launch.wandb_api.graphql import GraphQLClient

#: the project W&B Launch queues live in unless a ``project_queue`` is given (``LAUNCH_DEFAULT_PROJECT``).
LAUNCH_DEFAULT_PROJECT = "model-registry"

Op = tuple[str, dict[str, Any], str]  # (query, variables, operation name)

GET_ITEM = """
query GetRunQueueItem($projectName: String!, $entityName: String!, $runQueue: String!, $itemId: ID!) {
    project(name: $projectName, entityName: $entityName) {
        runQueue(name: $runQueue) {
            runQueueItem(id: $itemId) {
                id
                state
                associatedRunId
            }
        }
    }
}
"""
# The SDK's ``GetRunQueueItems`` (``RunQueue.items``) with each item's run spec: an interrupted push's item is found
# by the run id its spec carries.
LIST_ITEMS = """
query AirflowRunQueueItems($projectName: String!, $entityName: String!, $runQueue: String!) {
    project(name: $projectName, entityName: $entityName) {
        runQueue(name: $runQueue) {
            runQueueItems(first: 100) { edges { node { id state associatedRunId runSpec } } }
        }
    }
}
"""
# Not in the SDK: the item's failure, asked for only once it is FAILED (tolerated if the server lacks it).
GET_ITEM_ERROR = """
query AirflowRunQueueItemError($projectName: String!, $entityName: String!, $runQueue: String!, $itemId: ID!) {
    project(name: $projectName, entityName: $entityName) {
        runQueue(name: $runQueue) { runQueueItem(id: $itemId) { id state error { message stage } } }
    }
}
"""
GET_QUEUE_ID = """
query fetchRunQueuesFromProject($entityName: String!, $projectName: String!, $runQueueName: String!) {
    project(name: $projectName, entityName: $entityName) {
        runQueue(name: $runQueueName) {
            id
        }
    }
}
"""
DELETE_ITEM = """
mutation DeleteFromRunQueue($queueID: ID!, $runQueueItemId: ID!) {
    deleteFromRunQueue(input: {queueID: $queueID, runQueueItemId: $runQueueItemId}) {
        success
        clientMutationId
    }
}
"""
GET_RUN_ID = """
query AirflowRunStorageId($entity: String!, $project: String!, $run: String!) {
  project(name: $project, entityName: $entity) { run(name: $run) { id name state } }
}
"""
STOP_RUN = """
mutation StopRun($id: ID!) {
    stopRun(input: {id: $id}) {
        success
    }
}
"""


@dataclass(frozen=True)
class QueueRef:
    """Where a W&B Launch queue lives: its entity, the project holding it (``project_queue``) and its name."""

    entity: str
    project_queue: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"entity": self.entity, "project_queue": self.project_queue, "name": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueueRef:
        return cls(data["entity"], data["project_queue"], data["name"])

    @property
    def label(self) -> str:
        """How W&B names the queue to users: ``entity/name`` (``entity/project_queue/name`` if not the default)."""
        if self.project_queue == LAUNCH_DEFAULT_PROJECT:
            return f"{self.entity}/{self.name}"
        return f"{self.entity}/{self.project_queue}/{self.name}"

    def variables(self, item_id: str) -> dict[str, Any]:
        return {"projectName": self.project_queue, "entityName": self.entity, "runQueue": self.name, "itemId": item_id}


# -- operations ---------------------------------------------------------------------------------------------


def push_op(queue: QueueRef, spec: Mapping[str, Any], template_variables: Mapping | None, priority: int | None) -> Op:
    """``pushToRunQueueByName`` as ``push_to_run_queue_by_name`` builds it (optional arguments only when set)."""
    params = ["$entityName: String!", "$projectName: String!", "$queueName: String!", "$runSpec: JSONString!"]
    inputs = ["entityName: $entityName", "projectName: $projectName", "queueName: $queueName", "runSpec: $runSpec"]
    variables: dict[str, Any] = {
        "entityName": queue.entity,
        "projectName": queue.project_queue,
        "queueName": queue.name,
        "runSpec": json.dumps(dict(spec)),
    }
    if priority is not None:
        variables["priority"] = priority
        params.append("$priority: Int")
        inputs.append("priority: $priority")
    if template_variables is not None:
        variables["templateVariableValues"] = json.dumps(dict(template_variables))
        params.append("$templateVariableValues: JSONString")
        inputs.append("templateVariableValues: $templateVariableValues")
    query = (
        f"mutation pushToRunQueueByName({', '.join(params)}) {{\n"
        f"    pushToRunQueueByName(input: {{{', '.join(inputs)}}}) {{\n"
        "        runQueueItemId\n        runSpec\n    }\n}"
    )
    return query, variables, "pushToRunQueueByName"


def _pushed(data: dict[str, Any], queue: QueueRef) -> tuple[str, dict[str, Any]]:
    result = data.get("pushToRunQueueByName") or {}
    if not result.get("runQueueItemId"):
        raise RuntimeError(f"W&B did not add the run to queue {queue.label} (no runQueueItemId in {result!r})")
    spec = result.get("runSpec")
    if isinstance(spec, str):
        spec = json.loads(spec)
    return str(result["runQueueItemId"]), spec if isinstance(spec, dict) else {}


def push(
    client: GraphQLClient,
    queue: QueueRef,
    spec: Mapping[str, Any],
    template_variables: Mapping[str, Any] | None = None,
    priority: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Push a run spec onto a queue; return the run queue item id and the spec as W&B stored it.

    :param client: the GraphQL client. :param queue: the queue. :param spec: from ``build_run_spec``.
    :param template_variables: values for the queue's template variables. :param priority: 0 (critical) .. 3 (low).
    """
    return _pushed(client.execute(*push_op(queue, spec, template_variables, priority)), queue)


def _item(data: dict[str, Any]) -> dict[str, Any] | None:
    queue = (data.get("project") or {}).get("runQueue") or {}
    return queue.get("runQueueItem")


def item_state(client: GraphQLClient, queue: QueueRef, item_id: str) -> dict[str, Any] | None:
    """``{"id", "state", "associatedRunId"}`` of a queue item; None if the queue has no such item."""
    return _item(client.execute(GET_ITEM, queue.variables(item_id), "GetRunQueueItem"))


def find_item(client: GraphQLClient, queue: QueueRef, run_id: str) -> str | None:
    """The id of the queue's item whose run spec names ``run_id`` (among its first 100), or None."""
    variables = {k: v for k, v in queue.variables("").items() if k != "itemId"}
    data = client.execute(LIST_ITEMS, variables, "AirflowRunQueueItems")
    edges = (((data.get("project") or {}).get("runQueue") or {}).get("runQueueItems") or {}).get("edges") or ()
    for edge in edges:
        node = edge.get("node") or {}
        if json.loads(node.get("runSpec") or "{}").get("run_id") == run_id:
            return node["id"]
    return None


def item_error(client: GraphQLClient, queue: QueueRef, item_id: str) -> str | None:
    """Why W&B failed the item (``stage: message``), or None if the server does not say."""
    try:
        data = client.execute(GET_ITEM_ERROR, queue.variables(item_id), "AirflowRunQueueItemError")
    except Exception:  # an older server without the field: the state alone must do
        return None
    error = (_item(data) or {}).get("error") or {}
    message = error.get("message")
    if not message:
        return None
    return f"{error['stage']}: {message}" if error.get("stage") else str(message)


def _queue_id_op(queue: QueueRef) -> Op:
    variables = {"entityName": queue.entity, "projectName": queue.project_queue, "runQueueName": queue.name}
    return GET_QUEUE_ID, variables, "fetchRunQueuesFromProject"


def _queue_id(data: dict[str, Any]) -> str | None:
    return ((data.get("project") or {}).get("runQueue") or {}).get("id")


def _delete_op(queue_id: str, item_id: str) -> Op:
    return DELETE_ITEM, {"queueID": queue_id, "runQueueItemId": item_id}, "DeleteFromRunQueue"


def _success(data: dict[str, Any], field: str) -> bool:
    return bool((data.get(field) or {}).get("success"))


def delete_item(client: GraphQLClient, queue: QueueRef, item_id: str) -> bool:
    """Remove an item from its queue (``QueuedRun.delete``); False if the queue is gone or W&B refused."""
    queue_id = _queue_id(client.execute(*_queue_id_op(queue)))
    return bool(queue_id) and _success(client.execute(*_delete_op(queue_id, item_id)), "deleteFromRunQueue")


def _run_id_op(run_path: str) -> Op:
    entity, project, run = run_path.split("/")
    return GET_RUN_ID, {"entity": entity, "project": project, "run": run}, "AirflowRunStorageId"


def _storage_id(data: dict[str, Any]) -> str | None:
    return ((data.get("project") or {}).get("run") or {}).get("id")


def stop_run(client: GraphQLClient, run_path: str) -> bool:
    """Ask a run to stop (W&B's "Stop run": the run's process sees the flag and ends ``killed``).

    :return: False if W&B has no such run.
    """
    storage_id = _storage_id(client.execute(*_run_id_op(run_path)))
    return bool(storage_id) and _success(client.execute(STOP_RUN, {"id": storage_id}, "StopRun"), "stopRun")


def _taken_back(deleted: bool) -> str:
    return "the item was removed from the queue" if deleted else "W&B did not remove the item from the queue"


def _stopped(run_path: str, stopped: bool) -> str:
    return f"W&B run {run_path} was asked to stop" if stopped else f"W&B has no run {run_path} to stop"


def cancel(client: GraphQLClient, queue: QueueRef, item_id: str, run_path: str) -> str:
    """Take a pushed item back: delete it if no agent has picked it up yet, else stop its run. Says what it did."""
    item = item_state(client, queue, item_id)
    if item is not None and not item.get("associatedRunId") and item.get("state") != "FAILED":
        return _taken_back(delete_item(client, queue, item_id))
    if item is not None and item.get("associatedRunId"):
        entity, project, _ = run_path.split("/")
        run_path = f"{entity}/{project}/{item['associatedRunId']}"
    return _stopped(run_path, stop_run(client, run_path))
