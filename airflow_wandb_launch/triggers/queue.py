"""QueueItemTrigger: waits for a W&B Launch agent to pick a queue item up, then for the run it started to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_wandb_launch.hooks.wandb import WandbHook
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.triggers.deferral import task_still_deferred
from airflow_wandb_launch.triggers.launch import MAX_READ_ERRORS
from airflow_wandb_launch.wandb_api import queue as wandb_queue
from airflow_wandb_launch.wandb_api.graphql import GraphQLClient
from airflow_wandb_launch.wandb_api.queue import QueueRef

#: how each terminal W&B run state ends the task.
RUN_OUTCOMES = {
    "finished": (JobState.SUCCEEDED, None),
    "failed": (JobState.FAILED, "failed"),
    "crashed": (JobState.FAILED, "crashed"),
    "killed": (JobState.STOPPED, "was killed"),
}
PREEMPTED_STATES = frozenset({"preempting", "preempted"})


class QueueItemTrigger(BaseTrigger):
    """Follow one W&B Launch queue item: pick-up by an agent, then its run, until the run ends.

    Unlike W&B's ``QueuedRun.wait_until_finished`` it ends on failed, crashed and killed runs, on an item
    no agent picks up in time (the item is removed), and at the task's deadline (the run is stopped).
    Its kwargs hold the connection id, never the API key: the triggerer rebuilds the credentials and
    makes one GraphQL client, reused for every poll.

    :param wandb_conn_id: the ``wandb`` connection.
    :param entity: the queue's entity. :param project_queue: the project holding the queue.
    :param queue_name: the queue. :param item_id: the run queue item id.
    :param run_path: ``entity/project/run_id`` of the run the item will start (the id we chose).
    :param resource: the queue's resource, for the result (``queue`` when W&B did not say).
    :param poll_interval: seconds between reads.
    :param pickup_deadline: epoch seconds by which an agent must have picked the item up.
    :param pickup_timeout: seconds allowed for pick-up (for messages, and for a preempted run to resume).
    :param deadline: epoch seconds after which the run is stopped (the item removed) and the event says timed_out.
    :param cancel_on_kill: remove the item, or stop its run, when a user kills the deferred task.
    """

    def __init__(
        self,
        *,
        wandb_conn_id: str,
        entity: str,
        project_queue: str,
        queue_name: str,
        item_id: str,
        run_path: str,
        resource: str = "queue",
        poll_interval: float = 30,
        pickup_deadline: float | None = None,
        pickup_timeout: float | None = None,
        deadline: float | None = None,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.wandb_conn_id = wandb_conn_id
        self.entity, self.project_queue, self.queue_name = entity, project_queue, queue_name
        self.item_id, self.run_path, self.resource = item_id, run_path, resource
        self.poll_interval = poll_interval
        self.pickup_deadline, self.pickup_timeout, self.deadline = pickup_deadline, pickup_timeout, deadline
        self.cancel_on_kill = cancel_on_kill
        self._client: GraphQLClient | None = None
        self._picked_up = False
        self._preempted_since: float | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "wandb_conn_id": self.wandb_conn_id,
                "entity": self.entity,
                "project_queue": self.project_queue,
                "queue_name": self.queue_name,
                "item_id": self.item_id,
                "run_path": self.run_path,
                "resource": self.resource,
                "poll_interval": self.poll_interval,
                "pickup_deadline": self.pickup_deadline,
                "pickup_timeout": self.pickup_timeout,
                "deadline": self.deadline,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    @property
    def queue(self) -> QueueRef:
        return QueueRef(self.entity, self.project_queue, self.queue_name)

    @cached_property
    def hook(self) -> WandbHook:
        return WandbHook(self.wandb_conn_id)

    async def client(self) -> GraphQLClient:
        """The trigger's one GraphQL client, built from the connection (read off the event loop)."""
        if self._client is None:
            from asgiref.sync import sync_to_async

            credentials = await sync_to_async(lambda: self.hook.credentials)()
            self._client = GraphQLClient(credentials)
        return self._client

    # -- polling ------------------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        errors = 0
        while True:
            try:
                status = await self._poll()
                errors = 0
            except Exception as err:
                errors += 1
                self.log.warning("Reading queue item %s failed (%d/%d): %s", self.item_id, errors, MAX_READ_ERRORS, err)
                if errors >= MAX_READ_ERRORS:
                    message = f"could not read the queue item or its run {errors} times: {err}"
                    yield self._event(JobStatus(JobState.FAILED, "unknown", message))
                    return
                status = None
            status = status or await self._past_a_deadline()
            if status is not None:
                yield self._event(status)
                return
            await asyncio.sleep(self._sleep_seconds(errors))

    async def _poll(self) -> JobStatus | None:
        """One read: the item until an agent picks it up, then the run (and the item while the run is missing)."""
        client = await self.client()
        if not self._picked_up:
            item = await wandb_queue.aitem_state(client, self.queue, self.item_id)
            status = await self._item_status(item)
            if status is not None or not self._picked_up:
                return status
        entity, project, run_id = self.run_path.split("/")
        run = await self.hook.aget_run_state(entity, project, run_id, client=client)
        if run is None:  # acked, but the job has not called wandb.init() yet; or it failed before it could
            return await self._item_status(await wandb_queue.aitem_state(client, self.queue, self.item_id))
        return self._run_status(run["state"])

    async def _item_status(self, item: dict[str, Any] | None) -> JobStatus | None:
        if item is None:
            return JobStatus(JobState.FAILED, "missing", f"item {self.item_id} is no longer on queue {self.label}")
        if item.get("state") == "FAILED":
            error = await wandb_queue.aitem_error(await self.client(), self.queue, self.item_id)
            message = f"the W&B Launch agent failed item {self.item_id} of queue {self.label}"
            return JobStatus(JobState.FAILED, "FAILED", f"{message}: {error}" if error else message)
        run_id = item.get("associatedRunId")
        if run_id and not self._picked_up:
            self._picked_up = True
            entity, project, ours = self.run_path.split("/")
            if run_id != ours:
                self.log.warning("The agent started run %s, not %s as the spec asked; following it.", run_id, ours)
                self.run_path = f"{entity}/{project}/{run_id}"
            self.log.info("A W&B Launch agent picked item %s up: W&B run %s", self.item_id, self.run_path)
        return None

    def _run_status(self, state: str) -> JobStatus | None:
        if state in PREEMPTED_STATES:  # the agent requeues a preempted run with the same run id
            self._preempted_since = self._preempted_since or time.time()
            if self.pickup_timeout is not None and time.time() - self._preempted_since > self.pickup_timeout:
                message = f"W&B run {self.run_path} was preempted and not resumed within {self._minutes}"
                return JobStatus(JobState.FAILED, state, message)
            return None
        self._preempted_since = None
        if state not in RUN_OUTCOMES:
            return None
        job_state, word = RUN_OUTCOMES[state]
        return JobStatus(job_state, state, f"W&B run {self.run_path} {word}" if word else None)

    async def _past_a_deadline(self) -> JobStatus | None:
        now = time.time()
        if self.deadline is not None and now >= self.deadline:
            what = await self._take_back()
            return JobStatus(JobState.TIMED_OUT, "deadline", f"the task's execution_timeout passed; {what}")
        if not self._picked_up and self.pickup_deadline is not None and now >= self.pickup_deadline:
            self.log.warning("No agent picked item %s up from queue %s: removing it.", self.item_id, self.label)
            what = await self._take_back()
            message = f"no W&B Launch agent picked up the item from queue {self.label} within {self._minutes}; {what}"
            return JobStatus(JobState.FAILED, "PENDING", message)
        return None

    async def _take_back(self) -> str:
        """Remove the item, or stop its run if it started; say what happened."""
        try:
            return await wandb_queue.acancel(await self.client(), self.queue, self.item_id, self.run_path)
        except Exception as err:
            return f"taking item {self.item_id} back failed: {err}"

    def _sleep_seconds(self, errors: int) -> float:
        delay = self.poll_interval * (2 ** min(errors, 4) if errors else 1)
        deadlines = [d for d in (self.deadline, None if self._picked_up else self.pickup_deadline) if d is not None]
        if deadlines:
            delay = min(delay, max(min(deadlines) - time.time(), 0.0))
        return delay

    @property
    def label(self) -> str:
        return self.queue.label

    @property
    def _minutes(self) -> str:
        minutes = (self.pickup_timeout or 0) / 60
        return f"{minutes:g} min" if minutes >= 1 else f"{self.pickup_timeout or 0:g} s"

    def _event(self, status: JobStatus) -> TriggerEvent:
        run_id = self.run_path.rsplit("/", 1)[-1]
        extra = {"run_id": run_id, "run_path": self.run_path, "queue": self.label, "picked_up": self._picked_up}
        return TriggerEvent({"job": JobRef(self.resource, self.item_id, extra).to_dict(), "status": status.to_dict()})

    # -- kill -----------------------------------------------------------------------------------------------

    async def on_kill(self) -> None:
        """Remove the item (not picked up yet) or stop its run when the task is killed (Airflow 3.3)."""
        if not self.cancel_on_kill:
            return
        if await self._task_still_deferred():
            self.log.info("Task is still deferred: the trigger is moving, not killed; the item stays.")
            return
        self.log.info("Task killed: %s.", await self._take_back())

    async def _task_still_deferred(self) -> bool:
        return await task_still_deferred(self)

    async def cleanup(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
