"""``wandb-queue``: push onto an existing W&B Launch queue; the queue's agent runs the job where the queue points."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, ClassVar

from airflow_wandb_launch.backends.base import MAX_CONCURRENT_READS, Backend
from airflow_wandb_launch.backends.wandb_queue.spec import (
    WHO,
    build_run_spec,
    check_source,
    check_template_variables,
    normalize_priority,
)
from airflow_wandb_launch.backends.wandb_queue.states import PREEMPTED_STATES, job_status, needs_run
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.job import JobRef, JobStatus
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.wandb_api import queue as ops
from airflow_wandb_launch.wandb_api.graphql import GraphQLClient
from airflow_wandb_launch.wandb_api.runs import (
    RUN_STATE_QUERY,
    aread_run_states,
    group_by_project,
    read_run_state,
    run_variables,
)

log = logging.getLogger(__name__)
RESOURCE = "wandb-queue"


def duration_words(seconds: float) -> str:
    """``30 min`` or ``0.5 s``."""
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


class _InThreads:
    """A sync GraphQL client's ``execute`` as ``aexecute``, each call in a thread: the batched run reads go through
    the backend's one client (and its connection pool), like its item reads, and leave nothing open in the loop."""

    def __init__(self, client: GraphQLClient) -> None:
        self.client = client

    async def aexecute(self, query: str, variables: dict[str, Any], operation: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.client.execute, query, variables, operation)


class WandbQueueBackend(Backend):
    """W&B Launch run queues: push = submit, the item then its run = status, take back or stop = cancel.

    In the triggerer (``astatus_many``) the items of a round are read one by one, and the runs of those picked up
    together, one ``AirflowRunsState`` query per W&B project; ``status`` (the worker) reads one job the same way
    and both read the answers with ``states.job_status``.

    ``request.options`` carries ``queue_name``, ``project_queue``, ``template_variables`` and ``priority``.
    The job id is the run queue item id; the run is the one the spec names (an agent honours its run id).

    :param wandb_conn_id: the ``wandb`` connection (it must have an API key: queues live on a W&B server).
    """

    resource = RESOURCE
    aliases = ("queue",)
    connection_params: ClassVar = {"wandb_conn_id": "wandb_default"}
    resolves_job_image = False  # the agent resolves the W&B job
    fills_macros = False  # the agent fills the queue config's macros

    def __init__(self, **connection_args: Any) -> None:
        super().__init__(**connection_args)
        self._client: GraphQLClient | None = None

    @property
    def client(self) -> GraphQLClient:
        if self._client is None:
            from airflow_wandb_launch.hooks.wandb import WandbHook

            self._client = WandbHook(self.connection_args["wandb_conn_id"]).graphql()
        return self._client

    def prepare_client(self) -> None:
        """The triggerer's client, built now in the poller's thread: its reads are tried once (the poller's rounds
        and the triggers' error budgets answer transient failures, per connection)."""
        self.client.attempts = 1

    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        options = request.options
        check_source(options.get("queue_name"), request.job, request.image)
        if not request.run.entity:
            raise ResourceArgsError(WHO, "entity", None, "the W&B entity the queue belongs to")
        template_variables = check_template_variables(options.get("template_variables"))
        spec = build_run_spec(
            entity=request.run.entity,
            project=request.run.project,
            run_id=request.run.run_id,
            job=request.job,
            image=request.image,
            name=request.run.name,
            resource_args=resource_args,
            run_config=request.run_config,
            template_variables=template_variables,
        )
        queue = ops.QueueRef(
            request.run.entity, options.get("project_queue") or ops.LAUNCH_DEFAULT_PROJECT, options["queue_name"]
        )
        priority = normalize_priority(options.get("priority"))
        return {"queue": queue.to_dict(), "spec": spec, "template_variables": template_variables, "priority": priority}

    def submit(self, payload: dict[str, Any], run: RunIdentity) -> JobRef:
        queue = ops.QueueRef.from_dict(payload["queue"])
        log.info("Pushing W&B run %s onto W&B Launch queue %s", run.run_path, queue.label)
        item_id, stored = ops.push(
            self.client, queue, payload["spec"], payload["template_variables"], payload["priority"]
        )
        log.info("Item %s on queue %s: waiting for an agent to pick it up", item_id, queue.label)
        return JobRef(RESOURCE, item_id, run, {**queue.to_dict(), "queue_resource": stored.get("resource")})

    def find_submitted(self, payload: dict[str, Any], run: RunIdentity) -> JobRef | None:
        """W&B assigns item ids: an interrupted push's item is found by the run id its spec carries."""
        queue = ops.QueueRef.from_dict(payload["queue"])
        item_id = ops.find_item(self.client, queue, run.run_id)
        if item_id is None:
            return None
        return JobRef(RESOURCE, item_id, run, {**queue.to_dict(), "queue_resource": payload["spec"].get("resource")})

    def find_launched(self, run: RunIdentity, job_id: str | None) -> JobRef | None:
        return None  # the queue is named by the task's options, not by the record: stopping falls to the trigger

    def status(self, ref: JobRef) -> JobStatus:
        item, error = self._item(ref)
        run_path = self._run_of(ref, item).run_path
        run = None
        if needs_run(item):
            run = read_run_state(self.client.execute(RUN_STATE_QUERY, run_variables(run_path), "AirflowRunState"))
        return job_status(item, self.describe_item(ref), error, run_path, run)

    def _item(self, ref: JobRef) -> tuple[dict[str, Any] | None, str | None]:
        """The job's queue item (None: gone), and why the agent failed it (read only for a FAILED item). Blocking."""
        queue = self._queue(ref)
        item = ops.item_state(self.client, queue, ref.job_id)
        error = ops.item_error(self.client, queue, ref.job_id) if item and item.get("state") == "FAILED" else None
        return item, error

    async def astatus_many(self, refs: list[JobRef]) -> dict[str, JobStatus | BaseException]:
        """Each item read on its own (``GetRunQueueItem``, ``MAX_CONCURRENT_READS`` at once), then the runs of the
        items picked up read together: one ``AirflowRunsState`` query per W&B project and page of 100 runs.

        A failed item read fails that job's read only; a failed project read, the jobs whose runs are in it. When no
        item could be read at all (W&B down, the key revoked) the round fails as a whole, and the connection's
        poller backs off.
        """
        if self._client is None:
            await asyncio.to_thread(self.prepare_client)  # once, before the threads below share it
        limit = asyncio.Semaphore(MAX_CONCURRENT_READS)

        async def read_item(ref: JobRef) -> tuple[dict[str, Any] | None, str | None]:
            async with limit:
                return await asyncio.to_thread(self._item, ref)

        reads = await asyncio.gather(*(read_item(ref) for ref in refs), return_exceptions=True)
        failed = [read for read in reads if isinstance(read, BaseException)]
        if failed and len(failed) == len(refs):
            raise failed[0]
        results: dict[str, JobStatus | BaseException] = {}
        picked_up: list[tuple[JobRef, dict[str, Any] | None, str | None, str]] = []
        for ref, read in zip(refs, reads, strict=True):
            if isinstance(read, BaseException):
                results[ref.job_id] = read
                continue
            item, error = read
            run_path = self._run_of(ref, item).run_path
            if needs_run(item):
                picked_up.append((ref, item, error, run_path))
            else:
                results[ref.job_id] = job_status(item, self.describe_item(ref), error, run_path, None)
        runs = await self._run_states({run_path for *_, run_path in picked_up})
        for ref, item, error, run_path in picked_up:
            run = runs[run_path]
            if isinstance(run, BaseException):
                results[ref.job_id] = run
            else:
                results[ref.job_id] = job_status(item, self.describe_item(ref), error, run_path, run)
        return results

    async def _run_states(self, run_paths: set[str]) -> dict[str, dict[str, Any] | BaseException | None]:
        """``{"state", "summary"}`` of each run (None: no such run yet), one query per project (concurrently);
        the runs of a project whose read failed get its error."""
        projects = [
            [f"{entity}/{project}/{run_id}" for run_id in run_ids]
            for (entity, project), run_ids in group_by_project(sorted(run_paths)).items()
        ]
        client = _InThreads(self.client)
        reads = await asyncio.gather(*(aread_run_states(client, paths) for paths in projects), return_exceptions=True)
        found: dict[str, dict[str, Any] | BaseException | None] = {}
        for paths, read in zip(projects, reads, strict=True):
            found.update(dict.fromkeys(paths, read) if isinstance(read, BaseException) else read)
        return found

    def _run_of(self, ref: JobRef, item: dict[str, Any] | None) -> RunIdentity:
        """The run the agent started: the spec's run id, unless the agent reported another."""
        agent_run = (item or {}).get("associatedRunId")
        if agent_run and agent_run != ref.run.run_id:
            log.warning("The agent started run %s, not %s as the spec asked; following it.", agent_run, ref.run.run_id)
            return replace(ref.run, run_id=agent_run)
        return ref.run

    def resolve_run(self, ref: JobRef, status: JobStatus) -> JobRef:
        run_id = status.details.get("run_id")
        if not run_id or run_id == ref.run.run_id:
            return ref
        return replace(ref, run=replace(ref.run, run_id=run_id), run_url=None)

    def cancel(self, ref: JobRef) -> str:
        return ops.cancel(self.client, self._queue(ref), ref.job_id, ref.run.run_path)

    def ran_on(self, ref: JobRef) -> str:
        return ref.cloud.get("queue_resource") or "queue"

    def describe(self, ref: JobRef) -> str:
        return "W&B Launch queue run"

    def describe_item(self, ref: JobRef) -> str:
        return f"item {ref.job_id} of queue {self._queue(ref).label}"

    def pending_timeout_message(self, ref: JobRef, status: JobStatus | None, seconds: float) -> str:
        if status is not None and status.cloud_state in PREEMPTED_STATES:
            return f"W&B run {ref.run.run_path} was preempted and not resumed within {duration_words(seconds)}"
        label = self._queue(ref).label
        return f"no W&B Launch agent picked up the item from queue {label} within {duration_words(seconds)}"

    @staticmethod
    def _queue(ref: JobRef) -> ops.QueueRef:
        return ops.QueueRef.from_dict(ref.cloud)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
