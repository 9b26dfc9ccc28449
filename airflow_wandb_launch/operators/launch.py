"""WandbLaunchOperator: submit a W&B Launch job to a resource, defer while it runs, return its W&B result."""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar, NamedTuple

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import TaskDeferralError, TaskDeferralTimeout, TaskDeferred

from airflow_wandb_launch.assets import record_artifact_events
from airflow_wandb_launch.backends import (
    Backend,
    backend_class,
    canonical_resource,
    foreign_connection_arg,
    make_backend,
    resource_names,
)
from airflow_wandb_launch.backends.base import PENDING_TIMEOUT, is_pending_timeout
from airflow_wandb_launch.cost.estimate import cost_dict, job_cost
from airflow_wandb_launch.errors import LaunchJobFailed, ResourceArgsError
from airflow_wandb_launch.hooks.wandb import WandbHook
from airflow_wandb_launch.launch.fallbacks import (
    Attempt,
    attempt_request,
    attempt_target,
    parse_fallbacks,
    plan_attempt,
)
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.memory import LaunchRecord, Phase, forget, remember, remembered, try_chain
from airflow_wandb_launch.launch.prepare import prepare_launch
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import load_resource_args
from airflow_wandb_launch.launch.result import attempt_record, total_cost
from airflow_wandb_launch.launch.run import RunIdentity, make_run_id
from airflow_wandb_launch.lineage import OpenLineageMixin
from airflow_wandb_launch.links import JOB_URL_KEY, RUN_URL_KEY, CloudJobLink, WandbRunLink
from airflow_wandb_launch.operators.finish import finish_launch, push_failure
from airflow_wandb_launch.triggers.launch import LaunchJobTrigger
from airflow_wandb_launch.triggers.polling import wait_in_process

#: extra time Airflow's own deferral timeout allows past the trigger's deadline (a backstop).
DEFERRAL_GRACE = timedelta(minutes=5)
#: an attempt's job state when the cloud refused its submit (a quota checked at create).
REFUSED = "refused"


class Launched(NamedTuple):
    """A job the task waits on: which attempt of the run it is, and what the earlier attempts came to."""

    ref: JobRef
    attempt: int = 0
    past: tuple[dict[str, Any], ...] = ()


class _Refused(Exception):
    """The cloud refused an attempt's submit for capacity or quota, and a fallback remains."""

    def __init__(self, reason: str, error: BaseException) -> None:
        super().__init__(f"{error}")
        self.reason, self.error = reason, error


class WandbLaunchOperator(OpenLineageMixin, BaseOperator):
    """Run a W&B Launch job on a resource and return its W&B result.

    The W&B run id is chosen before submit (unique per try) and handed to the job as ``WANDB_RUN_ID``;
    XCom ``run_id``, ``run_path`` and ``job_id`` are pushed at submit. The task defers while the job
    runs and returns a LaunchResult dict (job state, run state, summary metrics, artifact URIs, estimated
    ``cost_usd``, also written to the W&B run's summary as ``airflow/cost_usd`` ...). A job that ended badly
    pushes XCom ``failure`` (``launch.result.failure_record``: why, and its cost) before failing the task.

    :param resource: ``sagemaker``, ``vertex``, ``azure-ml``, ``local-process``, ``local-container`` or ``wandb-queue``.
    :param resource_args: the W&B Launch queue config for the resource: a dict, or a YAML/JSON file path
        relative to the DAG file (templated).
    :param image: container image URI (templated).
    :param job: W&B job artifact ``entity/project/name:alias`` whose source is an image (templated).
    :param entry_point: command to run, a string or a list (templated); ``local-process`` needs only this.
    :param project: W&B project (default: the connection's ``project`` extra).
    :param entity: W&B entity (default: the connection's ``entity`` extra, else the API key's default).
    :param run_config: the run's config, handed to the job as ``WANDB_CONFIG`` (templated).
    :param run_name: the run's display name (default ``<dag_id>.<task_id>``).
    :param tags: run tags.
    :param group: run group (default: the DAG run).
    :param job_type: run job type.
    :param env: extra environment variables for the job (templated).
    :param wandb_conn_id: the ``wandb`` connection.
    :param deferrable: wait in the triggerer (default) rather than in the worker.
    :param poll_interval: seconds between status reads.
    :param pending_timeout: how long the job may wait to start (queued, no capacity) before it is stopped and
        the task fails (default: no limit).
    :param cancel_on_kill: stop the job when the task is killed, marked or times out.
    :param require_wandb_run: fail unless the job's W&B run exists and is ``finished``.
    :param stream_logs: show the cloud job's log lines in the task log while it runs (None: wherever the
        resource's backend can read them, today SageMaker).
    :param max_log_lines_per_poll: log lines shown per poll at most (the newest; a "… N lines skipped" line
        stands for the rest).
    :param wandb_api_key_env: pass the W&B API key to the job as ``WANDB_API_KEY`` in its definition (as W&B
        Launch's own runners do); False for images that get the key from their own secret store.
    :param fallbacks: where to try the same W&B run next when its job fails for capacity or quota (or a spot job
        waited past its limit, or it stayed pending past ``pending_timeout``): an ordered list, each a partial
        ``resource_args`` merged over the current one, ``{"hardware": "1x V100"}``, connection arguments, or a whole
        other resource (``{"resource": "vertex", "resource_args": ...}``); see ``launch.fallbacks``. Failures that
        are the job's own never fall back. The result's ``attempts`` lists every attempt, ``cost_usd`` their sum.
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
        pending_timeout: timedelta | None = None,
        cancel_on_kill: bool = True,
        require_wandb_run: bool = True,
        wandb_api_key_env: bool = True,
        stream_logs: bool | None = None,
        max_log_lines_per_poll: int = 200,
        fallbacks: Sequence[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.resource = canonical_resource(resource)
        params = backend_class(self.resource).connection_params
        self.connection_args = {k: kwargs.pop(k) for k in list(kwargs) if k in params}
        if "wandb_conn_id" in params:
            self.connection_args["wandb_conn_id"] = wandb_conn_id
        _reject_foreign_connection_args(self.resource, kwargs)
        super().__init__(**kwargs)
        _check_arguments(self.resource, image, job, entry_point, poll_interval, pending_timeout, env)
        self.resource_args = resource_args
        self.image, self.job, self.entry_point = image, job, entry_point
        self.project, self.entity, self.run_config, self.run_name = project, entity, run_config, run_name
        self.tags, self.group, self.job_type, self.env = tags, group, job_type, env
        self.wandb_conn_id = wandb_conn_id
        self.deferrable, self.poll_interval, self.pending_timeout = deferrable, poll_interval, pending_timeout
        self.cancel_on_kill, self.require_wandb_run = cancel_on_kill, require_wandb_run
        self.wandb_api_key_env = wandb_api_key_env
        if max_log_lines_per_poll < 1:
            raise ResourceArgsError(self.resource, "max_log_lines_per_poll", max_log_lines_per_poll, "an integer >= 1")
        self.stream_logs, self.max_log_lines_per_poll = stream_logs, max_log_lines_per_poll
        self.fallbacks = fallbacks
        self._fallbacks = parse_fallbacks(self.resource, fallbacks)
        self._active: JobRef | None = None
        self._active_backend: Backend | None = None
        self._tried: tuple[dict[str, Any], ...] = ()  # the attempts so far, for XCom failure of a failed submit
        self._trying = self.resource  # the resource of the attempt being submitted

    @cached_property
    def backend(self) -> Backend:
        """The backend of the operator's own resource (the first attempt's)."""
        return backend_class(self.resource)(**self.connection_args)

    def backend_for(self, resource: str, connection_args: dict[str, Any]) -> Backend:
        """The backend of an attempt's resource and connection (``backend`` for the operator's own; others kept)."""
        if resource == self.resource and connection_args == self.connection_args:
            return self.backend
        others: dict[str, Backend] = self.__dict__.setdefault("_other_backends", {})
        key = f"{resource}:{json.dumps(connection_args, sort_keys=True, default=str)}"
        if key not in others:
            others[key] = make_backend(resource, connection_args)
        return others[key]

    def _backend_at(self, attempt: int) -> Backend:
        return self.backend_for(*self._target(attempt))

    def _target(self, attempt: int) -> tuple[str, dict[str, Any]]:
        """Attempt ``attempt``'s resource and connection arguments."""
        if not attempt:
            return self.resource, self.connection_args
        return attempt_target(attempt, self.resource, self.connection_args, self._fallbacks)

    def _attempt(self, context: Context, attempt: int) -> Attempt:
        """What attempt ``attempt`` launches (its ``resource_args`` merged from the fallbacks)."""
        fileloc = getattr(context.get("dag"), "fileloc", None)
        base_dir = os.path.dirname(fileloc) if fileloc else None

        def load(resource: str, value: Any) -> dict[str, Any]:
            names = resource_names(resource)
            return load_resource_args(value, resource=resource, resource_names=names, base_dir=base_dir)

        return plan_attempt(
            attempt,
            resource=self.resource,
            connection_args=self.connection_args,
            resource_args=self.resource_args,
            fallbacks=self._fallbacks,
            load=load,
        )

    @cached_property
    def wandb_hook(self) -> WandbHook:
        return WandbHook(self.wandb_conn_id)

    # -- submit ---------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            record = self._chain_record(context)
            if record is not None and record.phase is Phase.SUCCEEDED and record.result is not None:
                return self._replay(context, record)
            launched = self._reattach(context, record) or self._submit(context, record)
        except Exception as err:  # failed before any job ran: a bad config, a refused submit
            self._push_submit_failure(context, err)
            raise
        return self._follow(context, launched)

    def _follow(self, context: Context, launched: Launched) -> dict[str, Any]:
        """Push the job's XCom, then wait for it."""
        ref = launched.ref
        self._push(context, job_id=ref.job_id, **{JOB_URL_KEY: ref.job_url}, **self._job_xcom(ref))
        backend = self._backend_at(launched.attempt)
        self.log.info("%s%s", backend.describe(ref), f": {ref.job_url}" if ref.job_url else "")
        return self._wait(context, ref, launched.attempt, launched.past)

    def _push_submit_failure(self, context: Context, err: BaseException) -> None:
        """XCom ``failure`` of a task whose launch failed before a job ran (with the attempts so far, if any)."""
        record: dict[str, Any] = {"failed": True, "resource": self._trying, "reason": f"{err}"}
        if self._tried:
            record.update(attempts=list(self._tried), cost_usd=total_cost(list(self._tried)))
        push_failure(self, context, record)

    def _submit(self, context: Context, record: LaunchRecord | None, *, fallback: bool = False) -> Launched:
        """Persist, then submit: the run (and so the job's name or label) is recorded before the cloud sees it.

        :param record: an interrupted submit's record (its run and attempt are submitted again), or with
            ``fallback`` the next attempt's (its run, attempt and the earlier attempts); otherwise a new run's
            first attempt is submitted.
        :param fallback: ``record`` is a fallback's next attempt, never submitted before.

        A submit the cloud refuses for capacity or quota moves on to the next fallback, if one remains.
        """
        interrupted = not fallback and record is not None and record.phase is Phase.SUBMITTING
        if fallback or interrupted:
            run, attempt, past = record.run, record.attempt, record.attempts  # type: ignore[union-attr]
        else:
            run, attempt, past = self._identity(context), 0, ()
        self._tried = past
        while True:
            try:
                return Launched(
                    self._submit_attempt(context, run, attempt, past, interrupted=interrupted), attempt, past
                )
            except _Refused as refused:
                resource, _ = self._target(attempt)
                message = f"{refused.error}"
                past = (*past, attempt_record(attempt, resource, None, REFUSED, reason=refused.reason, message=message))
                self._tried, interrupted = past, False
                self.log.warning(
                    "%s refused the submit for %s (%s): trying fallback %d of %d (%s) for W&B run %s.",
                    resource,
                    refused.reason,
                    message,
                    attempt + 1,
                    len(self._fallbacks),
                    self._fallbacks[attempt].describe(),
                    run.run_path,
                )
                attempt += 1

    def _submit_attempt(
        self, context: Context, run: RunIdentity, attempt: int, past: tuple[dict[str, Any], ...], *, interrupted: bool
    ) -> JobRef:
        """Submit one attempt of ``run`` (the record written first); raises ``_Refused`` to fall back."""
        self._trying = self._target(attempt)[0]
        plan, backend, payload = self._build(context, run, attempt)
        if attempt == 0 and not interrupted:
            self._check_fallbacks(context, run)
        creds = self.wandb_hook.credentials
        planned = backend.planned_job_id(payload)
        if planned is not None and any(a.get("job_id") == planned for a in past):
            expected = "a job name of its own for each attempt: leave the name out of resource_args with fallbacks"
            raise ResourceArgsError(plan.resource, "job name", planned, expected)
        self.remember_lineage_request(context, payload)  # its datasets (URIs only) for OpenLineage, if enabled
        run_url = run.url(creds.base_url) if creds.online else None
        self._push(context, run_id=run.run_id, run_path=run.run_path, **{RUN_URL_KEY: run_url})
        if backend.runs_on_worker:  # the job lives and dies with this worker: nothing to find on a retry
            ref = backend.submit(payload, run)
            return ref.with_urls(job_url=backend.job_url(ref), run_url=run_url)
        record = LaunchRecord(Phase.SUBMITTING, run, try_chain(context), planned, attempt=attempt, attempts=tuple(past))
        if not remember(context, record, self.log):
            self.log.warning("No task state store: a retry after a worker death may submit a second job.")
        found = backend.find_submitted(payload, run) if interrupted else None
        if found is not None:
            self.log.info("An earlier try's submit of W&B run %s reached the cloud: attaching to it.", run.run_path)
            ref = found
        else:
            which = f" (fallback {attempt} of {len(self._fallbacks)})" if attempt else ""
            self.log.info("Submitting %s job for W&B run %s%s", plan.resource, run.run_path, which)
            try:
                ref = backend.submit(payload, run)  # idempotent by the recorded name where the cloud names jobs
            except Exception as err:
                reason = backend.refusal_reason(err) if attempt < len(self._fallbacks) else None
                if reason is None:
                    raise
                raise _Refused(reason, err) from err
        ref = ref.with_urls(job_url=backend.job_url(ref), run_url=run_url)
        remember(context, record.submitted(ref), self.log)
        return ref

    def _build(self, context: Context, run: RunIdentity, attempt: int) -> tuple[Attempt, Backend, dict[str, Any]]:
        """Attempt ``attempt`` of ``run``: its plan, its backend and the cloud request it submits (validated)."""
        plan = self._attempt(context, attempt)
        backend, creds = self.backend_for(plan.resource, plan.connection_args), self.wandb_hook.credentials
        if not creds.online and not backend.runs_on_worker and self.require_wandb_run:
            raise ResourceArgsError(
                plan.resource,
                f"connection {self.wandb_conn_id!r}",
                None,
                "a W&B API key (password): a cloud job cannot log its run without one",
            )
        prepared = prepare_launch(
            self._request(context, run, plan),
            plan.resource_args,
            creds,
            resource_names=(plan.resource, *backend.aliases),
            max_env_value_length=backend.max_env_value_length,
            with_api_key=self.wandb_api_key_env,
            fill_macros=backend.fills_macros,
        )
        return plan, backend, backend.build(prepared.request, prepared.resource_args, prepared.env)

    def _check_fallbacks(self, context: Context, run: RunIdentity) -> None:
        """Build every fallback's request before the first job is submitted: a bad one stops the task now, not
        after the first job failed for capacity (hours later, maybe)."""
        for fallback in self._fallbacks:
            try:
                self._build(context, run, fallback.index + 1)
            except ResourceArgsError as err:
                where = fallback.path if fallback.resource is None else f"{fallback.path}.resource_args"
                raise ResourceArgsError(err.resource, f"{where}.{err.key_path}", err.value, err.expected) from None

    def _identity(self, context: Context) -> RunIdentity:
        ti, hook = context["ti"], self.wandb_hook
        project = self.project or hook.credentials.project
        if not project:
            expected = f"a W&B project (or a 'project' extra on connection {self.wandb_conn_id!r})"
            raise ResourceArgsError(self.resource, "project", None, expected)
        entity = self.entity or hook.credentials.entity
        if not entity and hook.credentials.online:
            entity = hook.default_entity()
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

    def _request(self, context: Context, run: RunIdentity, attempt: Attempt | None = None) -> LaunchRequest:
        """What to launch for ``run``: attempt ``attempt`` (default: the first) of it."""
        ti = context["ti"]
        resource = attempt.resource if attempt else self.resource
        backend = self.backend_for(resource, attempt.connection_args) if attempt else self.backend
        image, entry_point = self.image, self.entry_point
        if self.job and backend.resolves_job_image:
            image, job_entry_point = self.wandb_hook.get_job_image(self.job)
            entry_point = entry_point or job_entry_point
        if isinstance(entry_point, str):
            entry_point = shlex.split(entry_point)
        fileloc = getattr(context.get("dag"), "fileloc", None)
        request = LaunchRequest(
            resource=resource,
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
            base_dir=os.path.dirname(fileloc) if fileloc else None,
            options=self._launch_options(),
        )
        return attempt_request(request, attempt.index) if attempt else request

    def _launch_options(self) -> dict[str, Any]:
        """Resource-specific launch options (``LaunchRequest.options``); none for the cloud resources."""
        return {}

    def _job_xcom(self, ref: JobRef) -> dict[str, Any]:
        """XCom pushed with ``job_id`` beyond the common keys (queue mode adds ``queue_item_id``)."""
        return {}

    def _chain_record(self, context: Context) -> LaunchRecord | None:
        """This try chain's launch record. A record of another chain means the user cleared the task: its job
        is stopped (clear means clear) and the record dropped, so this try launches anew."""
        if self.backend.runs_on_worker or (record := remembered(context)) is None:
            return None
        chain = try_chain(context)
        if record.chain is None or chain is None or record.chain == chain:
            return record
        self.log.info("The task was cleared (try chain %s, was %s): launching anew.", chain, record.chain)
        if record.phase is not Phase.SUCCEEDED:
            backend = self._backend_at(record.attempt)
            job = record.job or backend.find_launched(record.run, record.job_id)
            if job is not None:
                self._cancel(job, "the task was cleared", backend)
        forget(context)
        return None

    def _reattach(self, context: Context, record: LaunchRecord | None) -> Launched | None:
        """The job an earlier try of this chain submitted (of the attempt it recorded), if it is still running or
        it succeeded, or if it failed in a way the next fallback takes over (the fallback is then made)."""
        if record is None or record.phase is not Phase.SUBMITTED or record.job is None:
            return None
        ref, backend = record.job, self._backend_at(record.attempt)
        try:
            status = backend.status(ref)
        except Exception as err:
            self.log.warning("Could not read earlier job %s (%s); submitting a new one.", ref.job_id, err)
            return None
        state, which = status.state, f", attempt {record.attempt}" if record.attempt else ""
        falls_back = state.terminal and self._fallback_reason(record.attempt, backend, status) is not None
        if state in (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED) or falls_back:
            self.log.info("Reattaching to %s from an earlier try (%s%s).", backend.describe(ref), state.value, which)
            self._push(context, run_id=ref.run.run_id, run_path=ref.run.run_path, **{RUN_URL_KEY: ref.run_url})
            return Launched(ref, record.attempt, record.attempts)
        return None

    def _replay(self, context: Context, record: LaunchRecord) -> dict[str, Any]:
        """An earlier try of this chain succeeded (and died before Airflow recorded it): its result, again."""
        result = dict(record.result or {})
        self.log.info("An earlier try's job %s succeeded: returning its recorded result.", result.get("job_id"))
        self._push(
            context,
            run_id=result.get("run_id"),
            run_path=result.get("run_path"),
            job_id=result.get("job_id"),
            **{RUN_URL_KEY: result.get("run_url"), JOB_URL_KEY: result.get("job_url")},
        )
        record_artifact_events(self, context, result)
        self._lineage_result = result
        return result

    # -- wait -----------------------------------------------------------------------------------------------

    def _wait(
        self, context: Context, ref: JobRef, attempt: int = 0, past: tuple[dict[str, Any], ...] = ()
    ) -> dict[str, Any]:
        backend = self._backend_at(attempt)
        self._active, self._active_backend = ref, backend
        resume = {"attempt": attempt, "attempts": list(past)} if attempt else {}
        try:
            status = self._first_status(ref, backend)
            ended = status is not None and status.state.terminal  # ended before we could defer: no trigger needed
            if not ended:
                trigger = self._trigger(context, ref, attempt)
                if self.deferrable:
                    deadline = trigger.deadline
                    timeout = timedelta(seconds=deadline - time.time()) + DEFERRAL_GRACE if deadline else None
                    self.defer(trigger=trigger, method_name="execute_complete", kwargs=resume or None, timeout=timeout)
                event = wait_in_process(trigger)  # the trigger's own loop, here on the worker
        except (TaskDeferred, LaunchJobFailed):
            raise
        except BaseException:  # killed, timed out or crashed while waiting on the worker
            self._cancel(ref, "the task was interrupted", backend)
            raise
        if ended:  # outside the guard: a failure while finishing an ended job never sends it a stop
            return self._finish(context, ref, status, attempt, past)  # type: ignore[arg-type]
        return self.execute_complete(context, event, **resume)

    def _first_status(self, ref: JobRef, backend: Backend | None = None) -> JobStatus | None:
        backend = backend or self.backend
        if backend.runs_on_worker:
            return backend.wait(ref, lambda line: self.log.info("%s", line))  # type: ignore[attr-defined]
        try:
            return backend.status(ref)
        except Exception as err:  # the trigger's error budget takes it from here
            self.log.warning("Reading %s failed: %s", backend.describe(ref), err)
            return None

    def _trigger(self, context: Context, ref: JobRef, attempt: int = 0) -> LaunchJobTrigger:
        start = getattr(context["ti"], "start_date", None)
        started = start.timestamp() if start else time.time()
        timeout, pending = self.execution_timeout, self.pending_timeout
        resource, connection_args = self._target(attempt)
        backend = self.backend_for(resource, connection_args)
        return LaunchJobTrigger(
            job_ref=ref.to_dict(),
            connection_args=connection_args,
            poll_interval=self.poll_interval,
            deadline=started + timeout.total_seconds() if timeout else None,
            pending_timeout=pending.total_seconds() if pending else None,
            pending_since=time.time(),
            cancel_on_kill=self.cancel_on_kill,
            stream_logs=backend.streams_logs if self.stream_logs is None else self.stream_logs,
            max_log_lines_per_poll=self.max_log_lines_per_poll,
        )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        attempt: int | None = None,
        attempts: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Resume after the trigger fired: turn its event into the task's result, its failure, or the next attempt.

        :param attempt: which attempt of the run the job is (deferral kwargs of a fallback's attempt; when absent,
            the launch record says, else the first).
        :param attempts: the earlier attempts' records.
        """
        ref, status = JobRef.from_dict(event["job"]), JobStatus.from_dict(event["status"])
        if attempt is None:
            attempt, past = self._recorded_attempt(context, ref)
        else:
            past = tuple(attempts or ())
        return self._finish(context, ref, status, attempt, past)

    def _recorded_attempt(self, context: Context, ref: JobRef) -> tuple[int, tuple[dict[str, Any], ...]]:
        """The attempt the launch record names for job ``ref`` (0 and none before it if it names another)."""
        if self._fallbacks and (record := remembered(context)) is not None and record.job_id == ref.job_id:
            return record.attempt, record.attempts
        return 0, ()

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except (TaskDeferralError, TaskDeferralTimeout):  # Airflow timed the deferral out, or the trigger crashed
            if (record := remembered(context)) is not None and record.job is not None:
                self._cancel(record.job, "the deferral failed or timed out", self._backend_at(record.attempt))
            raise

    def on_kill(self) -> None:
        if self._active is not None:
            self._cancel(self._active, "the task was killed", self._active_backend)

    def _cancel(self, ref: JobRef, why: str, backend: Backend | None = None) -> None:
        backend = backend or self.backend
        what = backend.describe(ref)
        if not self.cancel_on_kill:
            self.log.warning("%s; %s keeps running (cancel_on_kill=False)", why, what)
            return
        self.log.warning("%s: stopping %s", why, what)
        try:
            said = backend.cancel(ref)
            if said:
                self.log.warning("%s", said)
        except Exception:
            self.log.exception("Stopping %s failed", what)

    def _finish(
        self,
        context: Context,
        ref: JobRef,
        status: JobStatus,
        attempt: int = 0,
        past: tuple[dict[str, Any], ...] = (),
    ) -> dict[str, Any]:
        self._active = self._active_backend = None
        backend = self._backend_at(attempt)
        try:
            status = backend.final_status(ref, status)
        except Exception as err:  # the details are a nicety: the job's end is known
            self.log.warning("Could not read the ended %s's details: %s", backend.describe(ref), err)
        kind = self._fallback_reason(attempt, backend, status, last_too=True)
        if kind is not None and attempt < len(self._fallbacks):
            return self._fall_back(context, ref, status, attempt, past, kind, backend)
        result = finish_launch(
            self,
            context,
            backend.resolve_run(ref, status),
            status,
            backend=backend,
            attempt=attempt,
            past=past,
            reason=kind,
        )
        if not backend.runs_on_worker:  # before Airflow records the success: a retry returns this result
            record = remembered(context) or LaunchRecord(
                Phase.SUBMITTED, ref.run, try_chain(context), ref.job_id, ref, attempt=attempt, attempts=past
            )
            remember(context, record.succeeded(result), self.log)
        self._lineage_result = result
        return result

    def _fallback_reason(
        self, attempt: int, backend: Backend, status: JobStatus, *, last_too: bool = False
    ) -> str | None:
        """Why the ended job may fall back (None: it succeeded, or failed on its own); only while a fallback
        remains unless ``last_too``."""
        if not self._fallbacks or (attempt >= len(self._fallbacks) and not last_too):
            return None
        if status.state is JobState.SUCCEEDED or not status.state.terminal:
            return None
        try:
            reason = backend.fallback_reason(status)
        except Exception as err:  # a classifier must never fail the task: a plain failure, then
            self.log.warning("Could not classify the %s job's failure (%s): %r", backend.resource, status.message, err)
            reason = None
        return reason or (PENDING_TIMEOUT if is_pending_timeout(status) else None)

    def _fall_back(
        self,
        context: Context,
        ref: JobRef,
        status: JobStatus,
        attempt: int,
        past: tuple[dict[str, Any], ...],
        reason: str,
        backend: Backend,
    ) -> dict[str, Any]:
        """Record the failed attempt, submit the next one for the same W&B run, and wait for it."""
        cost = cost_dict(job_cost(ref, status, logger=self.log), ref)
        entry = attempt_record(
            attempt,
            backend.ran_on(ref),
            ref.job_id,
            status.state.value,
            reason=reason,
            message=status.message,
            cost=cost,
            job_url=ref.job_url,
        )
        past = (*past, entry)
        self.log.warning(
            "%s %s for %s (%s): trying fallback %d of %d (%s) for the same W&B run %s.",
            backend.describe(ref),
            status.state.value,
            reason,
            status.message or status.cloud_state,
            attempt + 1,
            len(self._fallbacks),
            self._fallbacks[attempt].describe(),
            ref.run.run_path,
        )
        following = LaunchRecord(Phase.SUBMITTING, ref.run, try_chain(context), attempt=attempt + 1, attempts=past)
        self._tried = past
        try:
            launched = self._submit(context, following, fallback=True)
        except Exception as err:
            self._push_submit_failure(context, err)
            raise
        return self._follow(context, launched)

    def _push(self, context: Context, **values: Any) -> None:
        ti = context["ti"]
        for key, value in values.items():
            ti.xcom_push(key=key, value=value)


def _check_arguments(
    resource: str,
    image: str | None,
    job: str | None,
    entry_point: Any,
    poll_interval: float,
    pending_timeout: timedelta | None,
    env: dict[str, str] | None,
) -> None:
    """What can be checked when the DAG is parsed."""
    if image and job:
        raise ResourceArgsError(resource, "job", job, "either image or job, not both")
    if not (image or job or entry_point):
        raise ResourceArgsError(resource, "image", None, "an image, a W&B job or an entry_point")
    if poll_interval <= 0:
        raise ResourceArgsError(resource, "poll_interval", poll_interval, "a number of seconds > 0")
    if pending_timeout is not None and pending_timeout.total_seconds() <= 0:
        raise ResourceArgsError(resource, "pending_timeout", pending_timeout, "a positive timedelta")
    if env and "WANDB_RUN_ID" in env:
        expected = "no value: the operator chooses the run id (use run_name to name the run)"
        raise ResourceArgsError(resource, "env.WANDB_RUN_ID", env["WANDB_RUN_ID"], expected)


def _reject_foreign_connection_args(resource: str, kwargs: dict[str, Any]) -> None:
    for key, value in kwargs.items():
        if other := foreign_connection_arg(resource, key):
            raise TypeError(f"{key}={value!r} is a connection argument of resource {other!r}, not of {resource!r}")
