"""Triggers that wait on W&B itself: a run reaching a terminal state, a new artifact version under an alias.

Each trigger's kwargs name the connection id, never the API key: the credentials are rebuilt from the
connection in the triggerer, once per trigger, and ONE GraphQL client (httpx) is reused for every poll.
The queries and the reading of their answers live here too, shared with the sensors' sync ``poke``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_wandb_launch.hooks.wandb import RUN_STATE_QUERY
from airflow_wandb_launch.launch.result import artifact_uri
from airflow_wandb_launch.triggers.launch import MAX_READ_ERRORS
from airflow_wandb_launch.wandb_api.graphql import GraphQLClient

#: W&B run states after which a run does not change again (``preempted`` runs may resume: not terminal).
RUN_TERMINAL_STATES = frozenset({"finished", "failed", "crashed", "killed"})
VERSION_ALIAS = re.compile(r"^v\d+$")

ARTIFACT_ALIAS_QUERY = """
query AirflowArtifactAlias($entity: String!, $project: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    artifactCollectionMembership(name: $name) {
      versionIndex
      aliases { alias }
      artifact { id versionIndex digest createdAt artifactType { name } aliases { alias } }
    }
  }
}
"""


def read_run_state(data: dict[str, Any]) -> dict[str, Any] | None:
    """``{"state", "summary"}`` from an ``AirflowRunState`` answer; None if there is no such run (yet)."""
    run = (data.get("project") or {}).get("run")
    if not run:
        return None
    return {"state": run["state"], "summary": json.loads(run.get("summaryMetrics") or "{}")}


def read_artifact_version(data: dict[str, Any], entity: str, project: str, name: str) -> dict[str, Any] | None:
    """The version an ``AirflowArtifactAlias`` answer names, as the artifact sensor returns it; None if none."""
    membership = (data.get("project") or {}).get("artifactCollectionMembership")
    if not membership:
        return None
    artifact = membership.get("artifact") or {}
    index = membership.get("versionIndex", artifact.get("versionIndex"))
    found = [a["alias"] for a in (membership.get("aliases") or artifact.get("aliases") or ())]
    version = f"v{index}"
    return {
        "uri": artifact_uri(entity, project, name, version),
        "path": f"{entity}/{project}/{name}:{version}",
        "version": version,
        "version_index": int(index),
        "aliases": sorted({a for a in found if not VERSION_ALIAS.match(a)}),
        "type": (artifact.get("artifactType") or {}).get("name"),
        "digest": artifact.get("digest"),
        "created_at": artifact.get("createdAt"),
    }


def run_variables(run_path: str) -> dict[str, str]:
    entity, project, run_id = run_path.split("/")
    return {"entity": entity, "project": project, "run": run_id}


def artifact_variables(entity: str, project: str, name: str, alias: str) -> dict[str, str]:
    return {"entity": entity, "project": project, "name": f"{name}:{alias}"}


class _WandbPollTrigger(BaseTrigger):
    """Polls one GraphQL query until ``_done`` says so; tolerates MAX_READ_ERRORS failed reads in a row.

    :param wandb_conn_id: the ``wandb`` connection (its key is read in the triggerer, not stored here).
    :param poll_interval: seconds between reads.
    """

    operation = ""
    query = ""

    def __init__(self, *, wandb_conn_id: str, poll_interval: float = 30) -> None:
        super().__init__()
        self.wandb_conn_id = wandb_conn_id
        self.poll_interval = poll_interval
        self._client: GraphQLClient | None = None

    def _kwargs(self) -> dict[str, Any]:
        return {"wandb_conn_id": self.wandb_conn_id, "poll_interval": self.poll_interval}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", self._kwargs()

    def _variables(self) -> dict[str, Any]:
        raise NotImplementedError

    def _done(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The event's payload once the wait is over, else None."""
        raise NotImplementedError

    async def _graphql(self) -> GraphQLClient:
        if self._client is None:
            from airflow_wandb_launch.hooks.wandb import WandbHook

            hook = WandbHook(self.wandb_conn_id)
            credentials = await asyncio.to_thread(lambda: hook.credentials)
            self._client = GraphQLClient(credentials)
        return self._client

    async def run(self) -> AsyncIterator[TriggerEvent]:
        errors = 0
        try:
            while True:
                try:
                    client = await self._graphql()
                    payload = self._done(await client.aexecute(self.query, self._variables(), self.operation))
                    errors = 0
                except Exception as err:
                    errors += 1
                    self.log.warning("W&B read failed (%d/%d): %s", errors, MAX_READ_ERRORS, err)
                    if errors >= MAX_READ_ERRORS:
                        yield TriggerEvent({"status": "error", "message": f"W&B read failed {errors} times: {err}"})
                        return
                    payload = None
                if payload is not None:
                    yield TriggerEvent({"status": "done", **payload})
                    return
                await asyncio.sleep(self.poll_interval * (2 ** min(errors, 4) if errors else 1))
        finally:
            await self.cleanup()

    async def cleanup(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class WandbRunTrigger(_WandbPollTrigger):
    """Wait for a W&B run to reach a terminal state (finished, failed, crashed, killed).

    :param run_path: ``entity/project/run_id``.
    :param wandb_conn_id: the ``wandb`` connection.
    :param poll_interval: seconds between reads.
    """

    operation, query = "AirflowRunState", RUN_STATE_QUERY

    def __init__(self, *, run_path: str, wandb_conn_id: str, poll_interval: float = 30) -> None:
        super().__init__(wandb_conn_id=wandb_conn_id, poll_interval=poll_interval)
        self.run_path = run_path
        self._last_state: str | None = None

    def _kwargs(self) -> dict[str, Any]:
        return {"run_path": self.run_path, **super()._kwargs()}

    def _variables(self) -> dict[str, Any]:
        return run_variables(self.run_path)

    def _done(self, data: dict[str, Any]) -> dict[str, Any] | None:
        run = read_run_state(data)
        state = run["state"] if run else None
        if state != self._last_state:
            self.log.info("W&B run %s is %s", self.run_path, state or "not there (yet)")
            self._last_state = state
        return {"run_path": self.run_path, "state": state} if state in RUN_TERMINAL_STATES else None


class WandbArtifactTrigger(_WandbPollTrigger):
    """Wait for the version of an artifact collection that carries ``alias`` to be newer than ``newer_than``.

    :param entity: W&B entity. :param project: W&B project. :param name: the artifact collection's name.
    :param alias: the alias to follow (``latest``: any new version).
    :param newer_than: version index already seen (-1: none, so any version will do).
    :param wandb_conn_id: the ``wandb`` connection.
    :param poll_interval: seconds between reads.
    """

    operation, query = "AirflowArtifactAlias", ARTIFACT_ALIAS_QUERY

    def __init__(
        self,
        *,
        entity: str,
        project: str,
        name: str,
        alias: str = "latest",
        newer_than: int = -1,
        wandb_conn_id: str,
        poll_interval: float = 30,
    ) -> None:
        super().__init__(wandb_conn_id=wandb_conn_id, poll_interval=poll_interval)
        self.entity, self.project, self.name, self.alias = entity, project, name, alias
        self.newer_than = newer_than

    def _kwargs(self) -> dict[str, Any]:
        ids = {"entity": self.entity, "project": self.project, "name": self.name, "alias": self.alias}
        return {**ids, "newer_than": self.newer_than, **super()._kwargs()}

    def _variables(self) -> dict[str, Any]:
        return artifact_variables(self.entity, self.project, self.name, self.alias)

    def _done(self, data: dict[str, Any]) -> dict[str, Any] | None:
        found = read_artifact_version(data, self.entity, self.project, self.name)
        if found is not None and found["version_index"] > self.newer_than:
            return {"artifact": found}
        return None
