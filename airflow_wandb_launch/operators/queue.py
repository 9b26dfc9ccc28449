"""WandbLaunchQueueOperator: push a run onto an existing W&B Launch queue and wait for the run its agent starts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow_wandb_launch.backends.wandb_queue.spec import WHO, check_source, normalize_priority
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.hooks.wandb import WandbHook
from airflow_wandb_launch.launch.job import JobRef
from airflow_wandb_launch.operators.launch import WandbLaunchOperator

#: the XCom key of the run queue item id (also pushed as ``job_id``).
QUEUE_ITEM_KEY = "queue_item_id"


class WandbLaunchQueueOperator(WandbLaunchOperator):
    """Push a run onto an existing W&B Launch queue; a W&B Launch agent runs it wherever the queue points.

    ``WandbLaunchOperator`` on the ``wandb-queue`` backend: the run spec is the one W&B's ``launch_add`` pushes,
    with the W&B run id chosen here (unique per try), so XCom ``run_id``, ``run_path``, ``queue_item_id`` and
    ``job_id`` (the item id) are pushed at once. The task then defers until an agent picks the item up and its
    run ends: ``finished`` succeeds; ``failed``, ``crashed`` and ``killed`` fail the task saying which; an item no
    agent picks up within ``pickup_timeout`` is removed from the queue and fails the task. A retry reattaches to
    the item its earlier try pushed. It returns a LaunchResult dict.

    :param queue_name: the W&B Launch queue (templated).
    :param job: W&B job ``entity/project/name:alias`` (templated).
    :param image: a container image, instead of a job (templated).
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
    :param pickup_timeout: how long an agent has to pick the item up (or to resume a preempted run) before the
        item is removed and the task fails.
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
        template_variables: dict[str, str | int | float] | None = None,
        priority: int | str | None = None,
        project_queue: str | None = None,
        tags: Sequence[str] | None = None,
        group: str | None = None,
        pickup_timeout: timedelta = timedelta(minutes=30),
        wandb_conn_id: str = WandbHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        check_source(queue_name, job, image)
        if tags or group:
            field, value = ("tags", tags) if tags else ("group", group)
            raise ResourceArgsError(WHO, field, value, "nothing: W&B Launch run specs carry no tags or group")
        if pickup_timeout.total_seconds() <= 0:
            raise ResourceArgsError(WHO, "pickup_timeout", pickup_timeout, "a positive timedelta")
        super().__init__(
            resource="wandb-queue",
            job=job,
            image=image,
            pending_timeout=pickup_timeout,
            wandb_conn_id=wandb_conn_id,
            **kwargs,
        )
        self.queue_name, self.project_queue = queue_name, project_queue
        self.template_variables, self.priority = template_variables, normalize_priority(priority)
        self.pickup_timeout = pickup_timeout

    def _launch_options(self) -> dict[str, Any]:
        return {
            "queue_name": self.queue_name,
            "project_queue": self.project_queue,
            "template_variables": self.template_variables,
            "priority": self.priority,
        }

    def _job_xcom(self, ref: JobRef) -> dict[str, Any]:
        return {QUEUE_ITEM_KEY: ref.job_id}
