"""WandbLaunchQueueOperator: push a run onto an existing W&B Launch queue and wait for the run its agent starts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR

from airflow_wandb_launch.assets import record_artifact_events
from airflow_wandb_launch.errors import LaunchJobFailed, ResourceArgsError
from airflow_wandb_launch.hooks.wandb import WandbHook
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.resource_args import load_resource_args
from airflow_wandb_launch.launch.result import RunInfo, launch_result
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.links import JOB_URL_KEY, RUN_URL_KEY
from airflow_wandb_launch.operators.launch import (
    DEFERRAL_GRACE,
    FAILURE_WORDS,
    WandbLaunchOperator,
    _dag_folder,
    _deadline,
)
from airflow_wandb_launch.triggers.queue import QueueItemTrigger
from airflow_wandb_launch.wandb_api import queue as wandb_queue
from airflow_wandb_launch.wandb_api.queue import (
    LAUNCH_DEFAULT_PROJECT,
    WHO,
    QueueRef,
    build_run_spec,
    check_source,
    check_template_variables,
    normalize_priority,
)

#: the XCom key of the run queue item id (also pushed as ``job_id``).
QUEUE_ITEM_KEY = "queue_item_id"


class WandbLaunchQueueOperator(WandbLaunchOperator):
    """Push a run onto an existing W&B Launch queue; a W&B Launch agent runs it wherever the queue points.

    The run spec is the one W&B's ``launch_add`` pushes, with the W&B run id chosen here (unique per try),
    so XCom ``run_id``, ``run_path``, ``queue_item_id`` and ``job_id`` (the item id) are pushed at once.
    The task then defers until an agent picks the item up and its run ends: ``finished`` succeeds;
    ``failed``, ``crashed`` and ``killed`` fail the task saying which; an item no agent picks up within
    ``pickup_timeout`` is removed from the queue and fails the task. It returns a LaunchResult dict.
    Reuses ``WandbLaunchOperator``'s run identity, run lookup and links; it has no cloud backend.

    :param queue_name: the W&B Launch queue (templated).
    :param job: W&B job ``entity/project/name:alias`` (templated); or :param image: a container image (templated).
    :param resource_args: ``{resource: {...}}`` overriding the queue's config: a dict or a YAML/JSON file path
        relative to the DAG file (templated). Not together with ``template_variables``.
    :param template_variables: values of the queue's template variables, strings or numbers (templated).
    :param priority: 0-3 or ``critical``/``high``/``medium``/``low`` (queues with prioritization on).
    :param project: the run's W&B project (default: the connection's ``project`` extra).
    :param entity: the run's and the queue's entity (default: the connection's, else the API key's).
    :param project_queue: the project holding the queue (default ``model-registry``, where W&B keeps queues).
    :param run_config: the run's config (the job gets it as ``WANDB_CONFIG``) (templated).
    :param run_name: the run's display name (default ``<dag_id>.<task_id>``).
    :param tags: not supported: W&B Launch's run spec has no tags (set them in the job, or via the queue config).
    :param group: not supported, like ``tags``.
    :param pickup_timeout: how long an agent has to pick the item up before it is removed and the task fails.
    :param poll_interval: seconds between reads.
    :param deferrable: wait in the triggerer (default) rather than in the worker.
    :param cancel_on_kill: remove the item, or stop its run, when the task is killed, marked or times out.
    :param require_wandb_run: fail unless the run can be read back from W&B at the end.
    :param wandb_conn_id: the ``wandb`` connection (it must have an API key: queues live on a W&B server).
    """

    template_fields: Sequence[str] = (
        "queue_name",
        "job",
        "image",
        "resource_args",
        "template_variables",
        "project",
        "entity",
        "project_queue",
        "run_config",
        "run_name",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "resource_args": "json",
        "template_variables": "json",
        "run_config": "json",
    }

    def __init__(
        self,
        *,
        queue_name: str,
        job: str | None = None,
        image: str | None = None,
        resource_args: dict[str, Any] | str | None = None,
        template_variables: dict[str, str | int | float] | None = None,
        priority: int | str | None = None,
        project: str | None = None,
        entity: str | None = None,
        project_queue: str | None = None,
        run_config: dict[str, Any] | None = None,
        run_name: str | None = None,
        tags: Sequence[str] | None = None,
        group: str | None = None,
        pickup_timeout: timedelta = timedelta(minutes=30),
        poll_interval: float = 30,
        deferrable: bool = True,
        cancel_on_kill: bool = True,
        require_wandb_run: bool = True,
        wandb_conn_id: str = WandbHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        # No cloud backend and no resource to validate: WandbLaunchOperator.__init__ is skipped on purpose.
        BaseOperator.__init__(self, **kwargs)
        check_source(queue_name, job, image)
        if tags or group:
            field, value = ("tags", tags) if tags else ("group", group)
            raise ResourceArgsError(WHO, field, value, "nothing: W&B Launch run specs carry no tags or group")
        if poll_interval <= 0:
            raise ResourceArgsError(WHO, "poll_interval", poll_interval, "a number of seconds > 0")
        if pickup_timeout.total_seconds() <= 0:
            raise ResourceArgsError(WHO, "pickup_timeout", pickup_timeout, "a positive timedelta")
        self.resource, self.connection_args, self.entry_point, self.env = WHO, {}, None, None
        self.queue_name, self.job, self.image = queue_name, job, image
        self.resource_args, self.template_variables = resource_args, template_variables
        self.priority = normalize_priority(priority)
        self.project, self.entity, self.project_queue = project, entity, project_queue
        self.run_config, self.run_name, self.tags, self.group, self.job_type = run_config, run_name, (), None, None
        self.pickup_timeout = pickup_timeout
        self.wandb_conn_id = wandb_conn_id
        self.deferrable, self.poll_interval = deferrable, poll_interval
        self.cancel_on_kill, self.require_wandb_run = cancel_on_kill, require_wandb_run
        self._active: JobRef | None = None

    # -- execution ------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        creds = self.wandb_hook.credentials
        if not creds.online:
            raise ResourceArgsError(
                WHO, f"connection {self.wandb_conn_id!r}", None, "a W&B API key (password): queues live on W&B"
            )
        ref, trigger = self._push_item(context)
        self._active = ref
        if self.deferrable:
            deadline = trigger.deadline
            self.defer(
                trigger=trigger,
                method_name="execute_complete",
                timeout=(timedelta(seconds=deadline - time.time()) + DEFERRAL_GRACE) if deadline else None,
            )
        try:
            event = self._wait_here(trigger)
        except BaseException:  # killed, timed out or crashed while waiting on the worker
            self._cancel(ref, "the task was interrupted")
            raise
        return self.execute_complete(context, event)

    def _push_item(self, context: Context) -> tuple[JobRef, QueueItemTrigger]:
        check_source(self.queue_name, self.job, self.image)  # again: the values are rendered now
        run = self._identity(context)
        if not run.entity:
            raise ResourceArgsError(WHO, "entity", None, "the W&B entity the queue belongs to")
        resource_args = load_resource_args(self.resource_args, resource=WHO, base_dir=_dag_folder(context))
        template_variables = check_template_variables(self.template_variables)
        spec = build_run_spec(
            entity=run.entity,
            project=run.project,
            run_id=run.run_id,
            job=self.job,
            image=self.image,
            name=run.name,
            resource_args=resource_args,
            run_config=self.run_config,
            template_variables=template_variables,
        )
        queue = QueueRef(run.entity, self.project_queue or LAUNCH_DEFAULT_PROJECT, self.queue_name)
        run_url = run.url(self.wandb_hook.credentials.base_url)
        self._push(context, run_id=run.run_id, run_path=run.run_path, **{RUN_URL_KEY: run_url})
        self.log.info("Pushing W&B run %s onto W&B Launch queue %s", run.run_path, queue.label)
        client = self.wandb_hook.graphql()
        try:
            item_id, stored = wandb_queue.push(client, queue, spec, template_variables, self.priority)
        finally:
            client.close()
        resource = stored.get("resource") or WHO
        self._push(context, **{QUEUE_ITEM_KEY: item_id, "job_id": item_id, JOB_URL_KEY: None})
        self.log.info("Item %s on queue %s (%s): waiting for an agent to pick it up", item_id, queue.label, resource)
        extra = {"run_id": run.run_id, "run_path": run.run_path, "queue": queue.label}
        return JobRef(resource, item_id, extra), self._trigger(context, queue, item_id, run.run_path, resource)

    def _trigger(
        self, context: Context, queue: QueueRef, item_id: str, run_path: str, resource: str
    ) -> QueueItemTrigger:
        timeout = self.pickup_timeout.total_seconds()
        return QueueItemTrigger(
            wandb_conn_id=self.wandb_conn_id,
            entity=queue.entity,
            project_queue=queue.project_queue,
            queue_name=queue.name,
            item_id=item_id,
            run_path=run_path,
            resource=resource,
            poll_interval=self.poll_interval,
            pickup_deadline=time.time() + timeout,
            pickup_timeout=timeout,
            deadline=_deadline(context, self.execution_timeout),
            cancel_on_kill=self.cancel_on_kill,
        )

    def _wait_here(self, trigger: QueueItemTrigger) -> dict[str, Any]:
        """Run the trigger's loop on the worker (``deferrable=False``), with this worker's client."""

        async def first_event() -> dict[str, Any]:
            trigger._client = self.wandb_hook.graphql()
            try:
                return (await anext(trigger.run())).payload
            finally:
                await trigger.cleanup()

        return asyncio.run(first_event())

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: turn its event into the task's result or failure."""
        ref = JobRef.from_dict(event["job"])
        self._push(context, run_id=ref.extra["run_id"], run_path=ref.extra["run_path"])  # as the agent started it
        return self._finish(context, ref, JobStatus.from_dict(event["status"]))

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        if next_method == TRIGGER_FAIL_REPR:  # Airflow timed the deferral out, or the trigger crashed
            ref = self._pushed_ref(context)
            if ref is not None:
                self._cancel(ref, "the deferral failed or timed out")
        return BaseOperator.resume_execution(self, next_method, next_kwargs, context)

    def _pushed_ref(self, context: Context) -> JobRef | None:
        ti = context["ti"]
        item_id = ti.xcom_pull(task_ids=ti.task_id, key=QUEUE_ITEM_KEY, map_indexes=ti.map_index)
        run_path = ti.xcom_pull(task_ids=ti.task_id, key="run_path", map_indexes=ti.map_index)
        if not item_id or not run_path:
            return None
        entity = run_path.split("/")[0]
        queue = QueueRef(entity, self.project_queue or LAUNCH_DEFAULT_PROJECT, self.queue_name)
        return JobRef(WHO, item_id, {"run_id": run_path.rsplit("/", 1)[-1], "run_path": run_path, "queue": queue.label})

    def on_kill(self) -> None:
        if self._active is not None:
            self._cancel(self._active, "the task was killed")

    def _cancel(self, ref: JobRef, why: str) -> None:
        if not self.cancel_on_kill:
            self.log.warning("%s; queue item %s and its run are left alone (cancel_on_kill=False)", why, ref.job_id)
            return
        entity = ref.extra["run_path"].split("/")[0]
        queue = QueueRef(entity, self.project_queue or LAUNCH_DEFAULT_PROJECT, self.queue_name)
        client = self.wandb_hook.graphql()
        try:
            self.log.warning("%s: %s", why, wandb_queue.cancel(client, queue, ref.job_id, ref.extra["run_path"]))
        except Exception:
            self.log.exception("Taking back queue item %s failed", ref.job_id)
        finally:
            client.close()

    # -- the end --------------------------------------------------------------------------------------------

    def _finish(self, context: Context, ref: JobRef, status: JobStatus) -> dict[str, Any]:
        self._active = None
        run_id, run_path = ref.extra["run_id"], ref.extra["run_path"]
        creds = self.wandb_hook.credentials
        entity, project, _ = run_path.split("/")
        run_url = RunIdentity(run_id, project, entity).url(creds.base_url)
        where = f" (queue {ref.extra.get('queue', self.queue_name)}, item {ref.job_id})."
        if ref.extra.get("picked_up", True):
            where += f" W&B run: {run_url}."
        if status.state is not JobState.SUCCEEDED:
            word = FAILURE_WORDS.get(status.state, status.state.value)
            raise LaunchJobFailed(f"W&B Launch queue run {word} ({status.cloud_state}): {status.message}{where}")
        run = self._run_info(ref)
        if self.require_wandb_run and (run is None or run.state != "finished"):
            found = "no such run" if run is None else f"it is {run.state!r}"
            raise LaunchJobFailed(f"W&B run {run_path} ended 'finished' but reading it back found {found}{where}")
        result = launch_result(ref, status, job_url=None, run_id=run_id, run_path=run_path, run=run or RunInfo(None))
        record_artifact_events(self, context, result)  # wandb-artifact outlets, as WandbLaunchOperator does
        self.log.info("W&B run %s %s; summary %s", run_path, result["run_state"], result["summary"])
        return result
