"""Triggers that wait on W&B itself: a run reaching a terminal state, a new artifact version under an alias.

Both are the one polling loop (``PollingTrigger``) around one GraphQL read. Their kwargs name the connection
id, never the API key: the credentials are read from the connection in the triggerer (off the event loop).
Run waits share one ``RunStatePoller`` per connection (many runs in one query a round); an artifact wait reuses
its own GraphQL client (httpx) for every poll.
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_wandb_launch.triggers.polling import PollingTrigger
from airflow_wandb_launch.triggers.run_state_poller import run_poller_for
from airflow_wandb_launch.wandb_api.graphql import GraphQLClient
from airflow_wandb_launch.wandb_api.runs import (
    ARTIFACT_ALIAS_QUERY,
    RUN_TERMINAL_STATES,
    artifact_variables,
    read_artifact_version,
)


class _WandbQueryTrigger(PollingTrigger):
    """One GraphQL query per poll; ``done`` reads its answer. Events: ``{"status": "done", ...}`` or ``"error"``.

    :param wandb_conn_id: the ``wandb`` connection (its key is read in the triggerer, not stored here).
    """

    polling_fields = ("poll_interval",)  # no deadline (the sensor's timeout is Airflow's), no job to stop
    operation = ""
    query = ""

    def __init__(self, *, wandb_conn_id: str, **polling: Any) -> None:
        super().__init__(**polling)
        self.wandb_conn_id = wandb_conn_id
        self._client: GraphQLClient | None = None

    async def read(self) -> Any:
        """What W&B says now (one read)."""
        client = await self._graphql()
        return await client.aexecute(self.query, self.variables(), self.operation)

    def variables(self) -> dict[str, Any]:
        raise NotImplementedError

    def done(self, data: Any) -> dict[str, Any] | None:
        """The event's fields once the wait is over (from ``read``'s answer), else None."""
        raise NotImplementedError

    async def _graphql(self) -> GraphQLClient:
        if self._client is None:
            from airflow_wandb_launch.hooks.wandb import WandbHook

            hook = WandbHook(self.wandb_conn_id)
            self._client = GraphQLClient(await asyncio.to_thread(lambda: hook.credentials))
        return self._client

    async def check(self) -> dict[str, Any] | None:
        found = self.done(await self.read())
        return {"status": "done", **found} if found is not None else None

    def failure_payload(self, message: str) -> dict[str, Any]:
        return {"status": "error", "message": f"W&B read failed: {message}"}

    async def cleanup(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class WandbRunTrigger(_WandbQueryTrigger):
    """Wait for a W&B run to reach a terminal state (finished, failed, crashed, killed).

    :param run_path: ``entity/project/run_id``.
    :param wandb_conn_id: the ``wandb`` connection.
    :param poll_interval: seconds between reads.
    """

    fields = ("run_path", "wandb_conn_id")
    paced_by_reads = True  # the connection's run-state poller paces the reads

    def __init__(self, *, run_path: str, wandb_conn_id: str, **polling: Any) -> None:
        super().__init__(wandb_conn_id=wandb_conn_id, **polling)
        self.run_path = run_path
        self._last_state: str | None = None

    def describe(self) -> str:
        return f"W&B run {self.run_path}"

    async def read(self) -> dict[str, Any] | None:
        """``{"state", "summary"}`` from the connection's next round (None: no such run yet)."""
        return await run_poller_for(self.wandb_conn_id).get(self.run_path, self.run_path, self.poll_interval)

    def done(self, run: dict[str, Any] | None) -> dict[str, Any] | None:
        state = run["state"] if run else None
        if state != self._last_state:
            self.log.info("W&B run %s is %s", self.run_path, state or "not there (yet)")
            self._last_state = state
        return {"run_path": self.run_path, "state": state} if state in RUN_TERMINAL_STATES else None

    async def cleanup(self) -> None:
        run_poller_for(self.wandb_conn_id).forget(self.run_path)


class WandbArtifactTrigger(_WandbQueryTrigger):
    """Wait for the version of an artifact collection that carries ``alias`` to be newer than ``newer_than``.

    :param entity: W&B entity.
    :param project: W&B project.
    :param name: the artifact collection's name.
    :param alias: the alias to follow (``latest``: any new version).
    :param newer_than: version index already seen (-1: none, so any version will do).
    :param wandb_conn_id: the ``wandb`` connection.
    :param poll_interval: seconds between reads.
    """

    fields = ("entity", "project", "name", "alias", "newer_than", "wandb_conn_id")
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
        **polling: Any,
    ) -> None:
        super().__init__(wandb_conn_id=wandb_conn_id, **polling)
        self.entity, self.project, self.name, self.alias = entity, project, name, alias
        self.newer_than = newer_than

    def describe(self) -> str:
        return f"W&B artifact {self.entity}/{self.project}/{self.name}:{self.alias}"

    def variables(self) -> dict[str, Any]:
        return artifact_variables(self.entity, self.project, self.name, self.alias)

    def done(self, data: dict[str, Any]) -> dict[str, Any] | None:
        found = read_artifact_version(data, self.entity, self.project, self.name)
        if found is not None and found["version_index"] > self.newer_than:
            return {"artifact": found}
        return None
