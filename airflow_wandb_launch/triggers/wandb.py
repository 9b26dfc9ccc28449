"""Triggers that wait on W&B itself: a run reaching a terminal state, a new artifact version under an alias.

Both are the one polling loop (``PollingTrigger``) around one GraphQL read. Their kwargs name the connection
id, never the API key: the credentials are read from the connection in the triggerer (off the event loop),
and one GraphQL client (httpx) is reused for every poll.
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_wandb_launch.triggers.polling import PollingTrigger
from airflow_wandb_launch.wandb_api.graphql import GraphQLClient
from airflow_wandb_launch.wandb_api.runs import (
    ARTIFACT_ALIAS_QUERY,
    RUN_STATE_QUERY,
    RUN_TERMINAL_STATES,
    artifact_variables,
    read_artifact_version,
    read_run_state,
    run_variables,
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

    def variables(self) -> dict[str, Any]:
        raise NotImplementedError

    def done(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The event's fields once the wait is over, else None."""
        raise NotImplementedError

    async def _graphql(self) -> GraphQLClient:
        if self._client is None:
            from airflow_wandb_launch.hooks.wandb import WandbHook

            hook = WandbHook(self.wandb_conn_id)
            self._client = GraphQLClient(await asyncio.to_thread(lambda: hook.credentials))
        return self._client

    async def check(self) -> dict[str, Any] | None:
        client = await self._graphql()
        found = self.done(await client.aexecute(self.query, self.variables(), self.operation))
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
    operation, query = "AirflowRunState", RUN_STATE_QUERY

    def __init__(self, *, run_path: str, wandb_conn_id: str, **polling: Any) -> None:
        super().__init__(wandb_conn_id=wandb_conn_id, **polling)
        self.run_path = run_path
        self._last_state: str | None = None

    def describe(self) -> str:
        return f"W&B run {self.run_path}"

    def variables(self) -> dict[str, Any]:
        return run_variables(self.run_path)

    def done(self, data: dict[str, Any]) -> dict[str, Any] | None:
        run = read_run_state(data)
        state = run["state"] if run else None
        if state != self._last_state:
            self.log.info("W&B run %s is %s", self.run_path, state or "not there (yet)")
            self._last_state = state
        return {"run_path": self.run_path, "state": state} if state in RUN_TERMINAL_STATES else None


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
