"""WandbLaunchOperator: submit a W&B Launch job to a resource, defer while it runs, return its W&B result."""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property, partial
from typing import Any, ClassVar, NoReturn

from airflow.sdk import BaseOperator, Context
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR
from airflow.sdk.exceptions import TaskDeferred

from airflow_wandb_launch.assets import record_artifact_events
from airflow_wandb_launch.backends import BACKENDS, Backend, backend_class, canonical_resource
from airflow_wandb_launch.cost.estimate import cost_dict, job_cost, write_cost_summary
from airflow_wandb_launch.cost.pricing import CostEstimate
from airflow_wandb_launch.errors import LaunchJobFailed, ResourceArgsError
from airflow_wandb_launch.hooks.wandb import WandbHook
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.memory import forget_job, remember_job, remembered_job
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import load_resource_args
from airflow_wandb_launch.launch.result import RunInfo, failure_record, launch_result
from airflow_wandb_launch.launch.run import RunIdentity, make_run_id
from airflow_wandb_launch.links import JOB_URL_KEY, RUN_URL_KEY, CloudJobLink, WandbRunLink
from airflow_wandb_launch.triggers.launch import MAX_READ_ERRORS, LaunchJobTrigger

#: extra time Airflow's own deferral timeout allows past the trigger's deadline (a backstop).
DEFERRAL_GRACE = timedelta(minutes=5)
#: how long a finished job's W&B run may still read "running" while its last data lands.
RUN_SETTLE_SECONDS = 60
FAILURE_WORDS = {
    JobState.FAILED: "failed",
    JobState.STOPPED: "was stopped",
    JobState.TIMED_OUT: "timed out",
}


class WandbLaunchOperator(BaseOperator):
    """Run a W&B Launch job on a resource and return its W&B result.

    The W&B run id is chosen before submit (unique per try) and handed to the job as ``WANDB_RUN_ID``;
    XCom ``run_id``, ``run_path`` and ``job_id`` are pushed at submit. The task defers while the job
    runs and returns a LaunchResult dict (job state, run state, summary metrics, artifact URIs, estimated
    ``cost_usd``, also written to the W&B run's summary as ``airflow/cost_usd`` ...). A job that ended badly
    pushes XCom ``failure`` (``results.failure_record``: why, and its cost) before failing the task.

    :param resource: ``sagemaker``, ``vertex``, ``azure-ml``, ``local-process`` or ``local-container``.
    :param resource_args: the W&B Launch queue config for the resource: a dict, or a YAML/JSON file path
        relative to the DAG file (templated).
    :param image: container image URI (templated).
    :param job: W&B job artifact ``entity/project/name:alias`` whose source is an image (templated).
    :param entry_point: command to run, a string or a list (templated); ``local-process`` needs only this.
    :param project: W&B project (default: the connection's ``project`` extra).
    :param entity: W&B entity (default: the connection's ``entity`` extra, else the API key's default).
    :param run_config: the run's config, handed to the job as ``WANDB_CONFIG`` (templated).
    :param run_name: the run's display name (default ``<dag_id>.<task_id>``).
    :param tags: run tags. :param group: run group (default: the DAG run). :param job_type: run job type.
    :param env: extra environment variables for the job (templated).
    :param wandb_conn_id: the ``wandb`` connection.
    :param deferrable: wait in the triggerer (default) rather than in the worker.
    :param poll_interval: seconds between status reads.
    :param cancel_on_kill: stop the job when the task is killed, marked or times out.
    :param require_wandb_run: fail unless the job's W&B run exists and is ``finished``.
    :param connection_args: the resource's connection arguments (``aws_conn_id``, ``region_name``, ...)
        are accepted as keyword arguments.
    """

    template_fields: Sequence[str] = (
        "resource_args",
        "image",
        "job",
        "entry_point",
        "project",
        "entity",
        "run_config",
        "run_name",
        "tags",
        "group",
        "job_type",
        "env",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"resource_args": "json", "run_config": "json", "env": "json"}
    operator_extra_links = (WandbRunLink(), CloudJobLink())
    ui_color = "#fcba03"

    def __init__(
        self,
        *,
        resource: str,
        resource_args: dict[str, Any] | str | None = None,
        image: str | None = None,
        job: str | None = None,
        entry_point: str | Sequence[str] | None = None,
        project: str | None = None,
        entity: str | None = None,
        run_config: dict[str, Any] | None = None,
        run_name: str | None = None,
        tags: Sequence[str] | None = None,
        group: str | None = None,
        job_type: str | None = None,
        env: dict[str, str] | None = None,
        wandb_conn_id: str = WandbHook.default_conn_name,
        deferrable: bool = True,
        poll_interval: float = 30,
        cancel_on_kill: bool = True,
        require_wandb_run: bool = True,
        **kwargs: Any,
    ) -> None:
        self.resource = canonical_resource(resource)
        backend_cls = backend_class(self.resource)
        self.connection_args = {k: kwargs.pop(k) for k in list(kwargs) if k in backend_cls.connection_params}
        _reject_foreign_connection_args(self.resource, kwargs)
        super().__init__(**kwargs)
        if image and job:
            raise ResourceArgsError(self.resource, "job", job, "either image or job, not both")
        if not (image or job or entry_point):
            raise ResourceArgsError(self.resource, "image", None, "an image, a W&B job or an entry_point")
        if poll_interval <= 0:
            raise ResourceArgsError(self.resource, "poll_interval", poll_interval, "a number of seconds > 0")
        if env and "WANDB_RUN_ID" in env:
            raise ResourceArgsError(
                self.resource,
                "env.WANDB_RUN_ID",
                env["WANDB_RUN_ID"],
                "no value: the operator chooses the run id (use run_name to name the run)",
            )
        self.resource_args = resource_args
        self.image, self.job, self.entry_point = image, job, entry_point
        self.project, self.entity = project, entity
        self.run_config, self.run_name, self.tags, self.group, self.job_type = (
            run_config,
            run_name,
            tags,
            group,
            job_type,
        )
        self.env = env
        self.wandb_conn_id = wandb_conn_id
        self.deferrable, self.poll_interval = deferrable, poll_interval
        self.cancel_on_kill, self.require_wandb_run = cancel_on_kill, require_wandb_run
        self._active: JobRef | None = None

    # -- pieces ---------------------------------------------------------------------------------------------

    @cached_property
    def backend(self) -> Backend:
        return backend_class(self.resource)(**self.connection_args)

    @cached_property
    def wandb_hook(self) -> WandbHook:
        return WandbHook(self.wandb_conn_id)

    def _identity(self, context: Context) -> RunIdentity:
        ti = context["ti"]
        creds = self.wandb_hook.credentials
        project = self.project or creds.project
        if not project:
            raise ResourceArgsError(
                self.resource,
                "project",
                None,
                f"a W&B project (or a 'project' extra on connection {self.wandb_conn_id!r})",
            )
        entity = self.entity or creds.entity
        if not entity and creds.online:
            entity = self.wandb_hook.default_entity()
        map_index = ti.map_index if ti.map_index is not None else -1
        suffix = f"[{map_index}]" if map_index >= 0 else ""
        return RunIdentity(
            run_id=make_run_id(ti.dag_id, ti.task_id, ti.run_id, map_index, ti.try_number),
            project=project,
            entity=entity,
            name=self.run_name or f"{ti.dag_id}.{ti.task_id}{suffix}",
            group=self.group or f"{ti.dag_id}/{ti.run_id}",
            tags=tuple(self.tags or ()),
            job_type=self.job_type,
        )

    def _request(self, context: Context, run: RunIdentity) -> LaunchRequest:
        ti = context["ti"]
        image, entry_point = self.image, self.entry_point
        if self.job:
            image, job_entry_point = self.wandb_hook.get_job_image(self.job)
            entry_point = entry_point or job_entry_point
        if isinstance(entry_point, str):
            entry_point = shlex.split(entry_point)
        return LaunchRequest(
            resource=self.resource,
            run=run,
            image=image,
            job=self.job,
            entry_point=tuple(entry_point or ()),
            run_config=dict(self.run_config or {}),
            env=dict(self.env or {}),
            airflow_ids={
                "dag_id": ti.dag_id,
                "task_id": ti.task_id,
                "run_id": ti.run_id,
                "try_number": str(ti.try_number),
            },
            base_dir=_dag_folder(context),
        )

    # -- execution ------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            return self._execute(context)
        except (TaskDeferred, LaunchJobFailed):  # deferring; or failed after the job ended (XCom failure pushed)
            raise
        except Exception as err:  # failed before its job ended: a bad config, a refused submit
            self._push_failure(context, {"failed": True, "resource": self.resource, "reason": f"{err}"})
            raise

    def _execute(self, context: Context) -> dict[str, Any]:
        backend, creds = self.backend, self.wandb_hook.credentials
        if not creds.online and not backend.runs_on_worker and self.require_wandb_run:
            raise ResourceArgsError(
                self.resource,
                f"connection {self.wandb_conn_id!r}",
                None,
                "a W&B API key (password): a cloud job cannot log its run without one",
            )
        ref = self._reattach(context)
        if ref is None:
            run = self._identity(context)
            request = self._request(context, run)
            resource_args = load_resource_args(
                self.resource_args,
                resource=self.resource,
                resource_names=(self.resource, *backend.aliases),
                base_dir=request.base_dir,
            )
            env = request.job_env(creds, backend.max_env_value_length)
            payload = backend.build(request, resource_args, env)
            self._push(
                context,
                run_id=run.run_id,
                run_path=run.run_path,
                **{RUN_URL_KEY: run.url(creds.base_url) if creds.online else None},
            )
            self.log.info("Submitting %s job for W&B run %s", self.resource, run.run_path)
            submitted = backend.submit(payload)
            ref = JobRef(
                submitted.resource,
                submitted.job_id,
                {**submitted.extra, "run_id": run.run_id, "run_path": run.run_path},
            )
            if not backend.runs_on_worker:
                remember_job(context, ref, self.log)
        job_url = backend.job_url(ref)
        self._push(context, job_id=ref.job_id, **{JOB_URL_KEY: job_url})
        self.log.info("%s job %s%s", self.resource, ref.job_id, f": {job_url}" if job_url else "")
        self._active = ref
        try:
            status = self._first_status(context, ref)
        except TaskDeferred:
            raise
        except BaseException:  # killed, timed out or crashed while waiting on the worker
            self._cancel(ref, "the task was interrupted")
            raise
        return self._finish(context, ref, status)

    def _first_status(self, context: Context, ref: JobRef) -> JobStatus:
        backend = self.backend
        if backend.runs_on_worker:
            return backend.wait(ref, lambda line: self.log.info("%s", line))  # type: ignore[attr-defined]
        status = self._read_status(ref, errors=0)
        if status is not None and status.state.terminal:
            return status  # ended before we could defer: no trigger needed
        if self.deferrable:
            deadline = _deadline(context, self.execution_timeout)
            self.defer(
                trigger=LaunchJobTrigger(
                    job_ref=ref.to_dict(),
                    connection_args=self.connection_args,
                    poll_interval=self.poll_interval,
                    deadline=deadline,
                    cancel_on_kill=self.cancel_on_kill,
                ),
                method_name="execute_complete",
                timeout=(timedelta(seconds=deadline - time.time()) + DEFERRAL_GRACE) if deadline else None,
            )
        errors = 0 if status is not None else 1
        while status is None or not status.state.terminal:
            time.sleep(self.poll_interval)
            status = self._read_status(ref, errors)
            errors = 0 if status is not None else errors + 1
        return status

    def _read_status(self, ref: JobRef, errors: int) -> JobStatus | None:
        """One status read; a transient API error is logged and tolerated up to MAX_READ_ERRORS in a row."""
        try:
            return self.backend.status(ref)
        except Exception as err:
            if errors + 1 >= MAX_READ_ERRORS:
                raise
            self.log.warning(
                "Reading %s job %s failed (%d/%d): %s", ref.resource, ref.job_id, errors + 1, MAX_READ_ERRORS, err
            )
            return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: turn its event into the task's result or failure."""
        return self._finish(context, JobRef.from_dict(event["job"]), JobStatus.from_dict(event["status"]))

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        if next_method == TRIGGER_FAIL_REPR:  # Airflow timed the deferral out, or the trigger crashed
            stored = remembered_job(context)
            if stored:
                self._cancel(JobRef.from_dict(stored), "the deferral failed or timed out")
        return super().resume_execution(next_method, next_kwargs, context)

    def on_kill(self) -> None:
        if self._active is not None:
            self._cancel(self._active, "the task was killed")

    def _cancel(self, ref: JobRef, why: str) -> None:
        if not self.cancel_on_kill:
            self.log.warning("%s; %s job %s keeps running (cancel_on_kill=False)", why, ref.resource, ref.job_id)
            return
        self.log.warning("%s: stopping %s job %s", why, ref.resource, ref.job_id)
        try:
            self.backend.cancel(ref)
        except Exception:
            self.log.exception("Stopping %s job %s failed", ref.resource, ref.job_id)

    # -- the end --------------------------------------------------------------------------------------------

    def _finish(self, context: Context, ref: JobRef, status: JobStatus) -> dict[str, Any]:
        self._active = None
        job_url = self.backend.job_url(ref)
        run_id, run_path = ref.extra["run_id"], ref.extra["run_path"]
        run_url = self.wandb_hook.credentials.online and RunIdentity(run_id, *reversed(run_path.split("/")[:-1])).url(
            self.wandb_hook.credentials.base_url
        )
        links = f" Job: {job_url or ref.job_id}. W&B run: {run_url or run_path}."
        cost = job_cost(ref, status, logger=self.log)  # before any failure: a failed job costs money too
        fail = partial(self._fail, context, ref, status, links=links, cost=cost)
        if status.state is not JobState.SUCCEEDED:
            word = FAILURE_WORDS.get(status.state, status.state.value)
            reason = f" ({status.cloud_state}): {status.message}" if status.message else f" ({status.cloud_state})"
            spent = f" Estimated cost: ${cost.usd:.2f}." if cost else ""
            fail(f"{ref.resource} job {ref.job_id} {word}{reason}.{spent}")
        run = self._run_info(ref)
        if self.require_wandb_run:
            if run is None:
                fail(
                    f"{ref.resource} job {ref.job_id} succeeded but W&B has no run {run_path}: did the job call "
                    f"wandb.init() with WANDB_RUN_ID from its environment?"
                )
            if run.state != "finished":
                fail(
                    f"{ref.resource} job {ref.job_id} succeeded but its W&B run {run_path} is {run.state!r}, "
                    f"not 'finished'."
                )
        if run is not None and cost is not None and self.wandb_hook.credentials.online:
            write_cost_summary(self.wandb_hook, run_path, cost, self.log)
        run = run or RunInfo(state=None)
        forget_job(context)
        result = launch_result(
            ref, status, job_url=job_url, run_id=run_id, run_path=run_path, run=run, cost=cost_dict(cost, ref)
        )
        record_artifact_events(self, context, result)  # wandb-artifact outlets: event only for logged versions
        self.log.info(
            "W&B run %s %s; summary %s; artifacts %s",
            run_path,
            run.state,
            run.summary,
            [a["uri"] for a in run.artifacts],
        )
        return result

    def _fail(
        self, context: Context, ref: JobRef, status: JobStatus, message: str, *, links: str, cost: CostEstimate | None
    ) -> NoReturn:
        """Push XCom ``failure`` (what a comparison needs: why, and what it cost), then fail the task."""
        self._push_failure(context, failure_record(ref, status, message, cost_dict(cost, ref)))
        raise LaunchJobFailed(f"{message}{links}")

    def _push_failure(self, context: Context, record: dict[str, Any]) -> None:
        """XCom ``failure``: why the task failed (the W&B API key redacted), for a comparison downstream."""
        try:
            key = self.wandb_hook.credentials.api_key
        except Exception:  # the failure may be the credentials themselves
            key = None
        if key and key in str(record.get("reason")):
            record = {**record, "reason": str(record["reason"]).replace(key, "***")}
        try:
            self._push(context, failure=record)
        except Exception as err:
            self.log.warning("Could not push XCom 'failure': %s", err)

    def _run_info(self, ref: JobRef) -> RunInfo | None:
        run_id, run_path = ref.extra["run_id"], ref.extra["run_path"]
        if not self.wandb_hook.credentials.online:
            from airflow_wandb_launch.wandb_api.offline import find_offline_run, read_offline_run

            run_dir = find_offline_run(ref.extra.get("wandb_dir", ""), run_id)
            entity = run_path.split("/")[0] if run_path.count("/") == 2 else None
            return read_offline_run(run_dir, entity) if run_dir else None
        deadline = time.monotonic() + RUN_SETTLE_SECONDS
        while True:
            run = self.wandb_hook.get_run(run_path)
            if run is None or run.state != "running" or time.monotonic() > deadline:
                return run
            time.sleep(5)

    # -- state across tries ---------------------------------------------------------------------------------

    def _reattach(self, context: Context) -> JobRef | None:
        """The job an earlier try of this task submitted, if it is still running or it succeeded."""
        if self.backend.runs_on_worker:
            return None
        stored = remembered_job(context)
        if not stored:
            return None
        ref = JobRef.from_dict(stored)
        try:
            state = self.backend.status(ref).state
        except Exception as err:
            self.log.warning("Could not read earlier job %s (%s); submitting a new one.", ref.job_id, err)
            return None
        if state in (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED):
            self.log.info("Reattaching to %s job %s from an earlier try (%s).", ref.resource, ref.job_id, state.value)
            self._push(context, run_id=ref.extra["run_id"], run_path=ref.extra["run_path"])
            return ref
        return None

    def _push(self, context: Context, **values: Any) -> None:
        ti = context["ti"]
        for key, value in values.items():
            ti.xcom_push(key=key, value=value)


def _deadline(context: Context, execution_timeout: timedelta | None) -> float | None:
    if execution_timeout is None:
        return None
    start = getattr(context["ti"], "start_date", None)
    return (start.timestamp() if start else time.time()) + execution_timeout.total_seconds()


def _dag_folder(context: Context) -> str | None:
    fileloc = getattr(context.get("dag"), "fileloc", None)
    return os.path.dirname(fileloc) if fileloc else None


def _reject_foreign_connection_args(resource: str, kwargs: dict[str, Any]) -> None:
    for other in sorted(set(BACKENDS) - {resource}):
        try:
            params = backend_class(other).connection_params
        except ImportError:
            continue
        for key in kwargs:
            if key in params:
                raise TypeError(
                    f"{key}={kwargs[key]!r} is a connection argument of resource {other!r}, not of {resource!r}"
                )
