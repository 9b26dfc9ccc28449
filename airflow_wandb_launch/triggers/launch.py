"""LaunchJobTrigger: polls any backend's job from the triggerer until it ends, its deadline passes, or it is killed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_wandb_launch.backends import Backend, make_backend
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.triggers.deferral import task_still_deferred

#: consecutive failed status reads tolerated before the trigger gives up (transient API faults).
MAX_READ_ERRORS = 5


class LaunchJobTrigger(BaseTrigger):
    """Wait for a launched job to reach a terminal state.

    Its kwargs hold connection ids, never credentials: the backend rebuilds its client from them
    once per trigger and reuses it for every poll.

    :param job_ref: the job (``JobRef.to_dict()``).
    :param connection_args: the backend's connection arguments.
    :param poll_interval: seconds between status reads.
    :param deadline: epoch seconds after which the job is stopped and the event says ``timed_out``.
    :param cancel_on_kill: stop the job when a user kills the deferred task.
    """

    def __init__(
        self,
        *,
        job_ref: dict[str, Any],
        connection_args: dict[str, Any] | None = None,
        poll_interval: float = 30,
        deadline: float | None = None,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.job_ref = job_ref
        self.connection_args = connection_args or {}
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.cancel_on_kill = cancel_on_kill
        self._backend: Backend | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_ref": self.job_ref,
                "connection_args": self.connection_args,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    @property
    def ref(self) -> JobRef:
        return JobRef.from_dict(self.job_ref)

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = make_backend(self.ref.resource, self.connection_args)
        return self._backend

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ref, errors, last_state = self.ref, 0, None
        while True:
            try:
                status = await self.backend.astatus(ref)
                errors = 0
            except Exception as err:
                errors += 1
                self.log.warning(
                    "Reading %s job %s failed (%d/%d): %s", ref.resource, ref.job_id, errors, MAX_READ_ERRORS, err
                )
                if errors >= MAX_READ_ERRORS:
                    yield self._event(
                        JobStatus(JobState.FAILED, "unknown", f"could not read the job's status {errors} times: {err}")
                    )
                    return
                status = None
            if status is not None:
                if status.state is not last_state:
                    self.log.info(
                        "%s job %s is %s (%s)", ref.resource, ref.job_id, status.state.value, status.cloud_state
                    )
                    last_state = status.state
                if status.state.terminal:
                    yield self._event(status)
                    return
            if self.deadline is not None and time.time() >= self.deadline:
                yield self._event(await self._stop_for_timeout())
                return
            await asyncio.sleep(self._sleep_seconds(errors))

    def _sleep_seconds(self, errors: int) -> float:
        delay = self.poll_interval * (2 ** min(errors, 4) if errors else 1)
        if self.deadline is not None:
            delay = min(delay, max(self.deadline - time.time(), 0.0))
        return delay

    async def _stop_for_timeout(self) -> JobStatus:
        ref = self.ref
        self.log.warning("%s job %s passed its deadline: stopping it.", ref.resource, ref.job_id)
        try:
            await self.backend.acancel(ref)
            message = "the task's execution_timeout passed; the job was stopped"
        except Exception as err:
            message = f"the task's execution_timeout passed; stopping the job failed: {err}"
        return JobStatus(JobState.TIMED_OUT, "deadline", message)

    def _event(self, status: JobStatus) -> TriggerEvent:
        return TriggerEvent({"job": self.job_ref, "status": status.to_dict()})

    async def on_kill(self) -> None:
        """Stop the job when a user marks the task failed/success or clears it (Airflow 3.3)."""
        if not self.cancel_on_kill:
            return
        if await self._task_still_deferred():
            # apache/airflow#73454: on_kill can fire when the trigger only moves to another triggerer.
            self.log.info("Task is still deferred: the trigger is moving, not killed; the job keeps running.")
            return
        ref = self.ref
        self.log.info("Stopping %s job %s (task killed).", ref.resource, ref.job_id)
        await self.backend.acancel(ref)

    async def _task_still_deferred(self) -> bool:
        return await task_still_deferred(self)

    async def cleanup(self) -> None:
        if self._backend is not None:
            self._backend.close()
