"""Sensors on W&B: a run reaching a terminal state, a new artifact version under an alias.

Both defer to a trigger by default (``deferrable=True``); with ``deferrable=False`` they are ordinary sensors
(``mode="poke"`` or ``mode="reschedule"``). Every check is one GraphQL POST (httpx, no wandb import); only the
run sensor's final result is read with the wandb SDK, on the worker, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.bases.sensor import PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_wandb_launch.hooks.wandb import WandbHook
from airflow_wandb_launch.launch.result import run_result
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.triggers.wandb import WandbArtifactTrigger, WandbRunTrigger
from airflow_wandb_launch.wandb_api.runs import (
    ARTIFACT_ALIAS_QUERY,
    RUN_STATE_QUERY,
    RUN_TERMINAL_STATES,
    artifact_variables,
    read_artifact_version,
    read_run_state,
    run_variables,
)

VIEWER_QUERY = "query Viewer { viewer { entity } }"


class WandbRunFailed(AirflowFailException):
    """The run the sensor waited for ended failed, crashed or killed (retrying the sensor would not help)."""


class _WandbSensor(BaseSensorOperator):
    """What both sensors share: the connection, one-POST checks, and deferral.

    :param wandb_conn_id: the ``wandb`` connection.
    :param deferrable: wait in the triggerer (default) rather than poking from a worker.
    :param poll_interval: seconds between checks (``poke_interval`` for the non-deferrable modes).
    """

    ui_color = "#fcba03"

    def __init__(
        self,
        *,
        wandb_conn_id: str = WandbHook.default_conn_name,
        deferrable: bool = True,
        poll_interval: float = 30,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        if poll_interval <= 0:
            raise ValueError(f"poll_interval = {poll_interval!r}: expected a number of seconds > 0")
        self.wandb_conn_id, self.deferrable, self.poll_interval = wandb_conn_id, deferrable, poll_interval

    @cached_property
    def hook(self) -> WandbHook:
        return WandbHook(self.wandb_conn_id)

    def _query(self, query: str, variables: dict[str, Any], operation: str) -> dict[str, Any]:
        client = self.hook.graphql()
        try:
            return client.execute(query, variables, operation)
        finally:
            client.close()

    def _entity(self, given: str | None) -> str:
        entity = given or self.hook.credentials.entity
        if not entity:
            entity = (self._query(VIEWER_QUERY, {}, "Viewer").get("viewer") or {}).get("entity")
        if not entity:
            raise AirflowException(f"no W&B entity: name one, or set the 'entity' extra of {self.wandb_conn_id!r}")
        return entity

    def _check(self, context: Context) -> Any:
        """One check: the task's result once the wait is over, else None."""
        raise NotImplementedError

    def _trigger(self, context: Context) -> Any:
        raise NotImplementedError

    def poke(self, context: Context) -> PokeReturnValue | bool:
        result = self._check(context)
        return PokeReturnValue(is_done=True, xcom_value=result) if result is not None else False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        result = self._check(context)  # already there: no deferral
        if result is not None:
            return result
        self.defer(
            trigger=self._trigger(context),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    @staticmethod
    def _event_ok(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "done":
            raise AirflowException(event.get("message") or f"unexpected trigger event {event!r}")
        return event


class WandbRunSensor(_WandbSensor):
    """Wait for a W&B run to reach a terminal state; return its result in the LaunchResult shape.

    Terminal states are ``finished``, ``failed``, ``crashed`` and ``killed`` (a ``preempted`` run may resume:
    the sensor keeps waiting, bounded by ``timeout``). A run that does not exist yet is waited for too.
    The result has the run fields filled (``run_id``, ``run_path``, ``run_url``, ``run_state``, ``summary``,
    ``artifacts``) and the job fields (``resource``, ``job_id``, ``job_url``, ``job_state``) None.

    :param run_path: ``entity/project/run_id`` or ``project/run_id`` (the connection's entity) (templated).
    :param require_finished: fail (without retries) when the run ended ``failed``, ``crashed`` or ``killed``;
        with False, any terminal state is returned for downstream tasks to judge.
    :param wandb_conn_id: the ``wandb`` connection.
    :param deferrable: wait in the triggerer (default).
    :param poll_interval: seconds between checks.
    """

    template_fields: Sequence[str] = ("run_path",)

    def __init__(self, *, run_path: str, require_finished: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_path, self.require_finished = run_path, require_finished

    def _full_path(self) -> str:
        parts = self.run_path.strip().strip("/").split("/")
        if len(parts) == 2:
            parts.insert(0, self._entity(None))
        if len(parts) != 3 or not all(parts):
            raise AirflowException(
                f"run_path = {self.run_path!r}: expected 'entity/project/run_id' or 'project/run_id'"
            )
        return "/".join(parts)

    def _check(self, context: Context) -> dict[str, Any] | None:
        run_path = self._full_path()
        run = read_run_state(self._query(RUN_STATE_QUERY, run_variables(run_path), "AirflowRunState"))
        if run is None or run["state"] not in RUN_TERMINAL_STATES:
            self.log.info("W&B run %s is %s", run_path, run["state"] if run else "not there (yet)")
            return None
        return self._result(run_path)

    def _trigger(self, context: Context) -> WandbRunTrigger:
        return WandbRunTrigger(
            run_path=self._full_path(), wandb_conn_id=self.wandb_conn_id, poll_interval=self.poll_interval
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: read the run's result on the worker."""
        return self._result(self._event_ok(event)["run_path"])

    def _result(self, run_path: str) -> dict[str, Any]:
        run = self.hook.get_run(run_path)
        if run is None:
            raise AirflowException(f"W&B run {run_path} reached a terminal state but can no longer be read")
        if self.require_finished and run.state != "finished":
            raise WandbRunFailed(
                f"W&B run {run_path} ended {run.state!r}, not 'finished': {run.url or run_path} "
                "(require_finished=False returns it instead)"
            )
        self.log.info("W&B run %s %s; summary %s", run_path, run.state, run.summary)
        return run_result(RunIdentity.from_path(run_path), run)


class WandbArtifactSensor(_WandbSensor):
    """Wait for a new version of a W&B artifact collection under an alias; return it.

    "New" means a higher version index than ``newer_than``; by default, than the version the previous
    successful run of this task returned (its XCom ``return_value``, pulled with ``include_prior_dates=True``:
    the latest one from a DAG run dated no later than this one). The first run, with nothing seen before,
    returns the version the alias names at once. Returns ``{"uri": "wandb-artifact://e/p/name:vN", "path":
    "e/p/name:vN", "version": "vN", "version_index": N, "aliases": [...], "type", "digest", "created_at"}``.

    :param artifact: ``entity/project/name`` or ``project/name`` (the connection's entity) (templated).
    :param alias: the alias to follow; ``latest`` (default) is any new version (templated).
    :param newer_than: a version (``"v3"`` or 3) to wait past instead of the previous run's (templated).
    :param wandb_conn_id: the ``wandb`` connection.
    :param deferrable: wait in the triggerer (default).
    :param poll_interval: seconds between checks.
    """

    template_fields: Sequence[str] = ("artifact", "alias", "newer_than")

    def __init__(
        self, *, artifact: str, alias: str = "latest", newer_than: str | int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.artifact, self.alias, self.newer_than = artifact, alias, newer_than
        self._seen: int | None = None

    def _collection(self) -> tuple[str, str, str]:
        parts = self.artifact.strip().removeprefix("wandb-artifact://").strip("/").split("/")
        if len(parts) == 2:
            parts.insert(0, self._entity(None))
        if len(parts) != 3 or not all(parts) or ":" in parts[2]:
            raise AirflowException(
                f"artifact = {self.artifact!r}: expected 'entity/project/name' or 'project/name' "
                "(pass the alias as alias=...)"
            )
        return parts[0], parts[1], parts[2]

    def _baseline(self, context: Context, entity: str, project: str, name: str) -> int:
        """The version index to wait past: ``newer_than``, else the previous successful run's, else -1."""
        if self.newer_than not in (None, ""):
            return int(str(self.newer_than).lstrip("vV"))
        if self._seen is None:
            prior = context["ti"].xcom_pull(task_ids=self.task_id, include_prior_dates=True)
            same = isinstance(prior, dict) and str(prior.get("path", "")).startswith(f"{entity}/{project}/{name}:")
            self._seen = int(prior["version"].lstrip("v")) if same else -1
            self.log.info("Previous run saw %s", f"v{self._seen}" if self._seen >= 0 else "no version")
        return self._seen

    def _check(self, context: Context) -> dict[str, Any] | None:
        entity, project, name = self._collection()
        seen = self._baseline(context, entity, project, name)
        variables = artifact_variables(entity, project, name, self.alias)
        data = self._query(ARTIFACT_ALIAS_QUERY, variables, "AirflowArtifactAlias")
        found = read_artifact_version(data, entity, project, name)
        if found is not None and found["version_index"] > seen:
            self.log.info("New version %s (%s:%s)", found["uri"], name, self.alias)
            return found
        now = found["version"] if found else "nothing"
        self.log.info("%s/%s/%s is %s; waiting for a version past v%s", entity, project, variables["name"], now, seen)
        return None

    def _trigger(self, context: Context) -> WandbArtifactTrigger:
        entity, project, name = self._collection()
        return WandbArtifactTrigger(
            entity=entity,
            project=project,
            name=name,
            alias=self.alias,
            newer_than=self._baseline(context, entity, project, name),
            wandb_conn_id=self.wandb_conn_id,
            poll_interval=self.poll_interval,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: the new version is the result."""
        found = self._event_ok(event)["artifact"]
        self.log.info("New version %s (%s)", found["uri"], self.alias)
        return found
