"""LaunchJobTrigger: waits in the triggerer for any backend's job to end, pass its deadline, or be killed."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_wandb_launch.backends import Backend
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.triggers.polling import PollingTrigger
from airflow_wandb_launch.triggers.status_poller import StatusPoller, poller_for


class LaunchJobTrigger(PollingTrigger):
    """Wait for a launched job to reach a terminal state; the event carries the job and its last status.

    Its kwargs hold connection ids and the job reference, never credentials. In the triggerer, every trigger of
    one connection shares one backend (one SDK client) and one ``StatusPoller``, which reads all their jobs in one
    batch per round; the trigger keeps its own deadline, pending deadline, error budget and ``on_kill``.

    :param job_ref: the job (``JobRef.to_dict()``).
    :param connection_args: the backend's connection arguments.
    :param poll_interval: seconds between status reads.
    :param deadline: epoch seconds after which the job is stopped and the event says ``timed_out``.
    :param pending_timeout: seconds the job may stay pending before it is stopped and the event says ``failed``.
    :param pending_since: epoch seconds the job was submitted.
    :param cancel_on_kill: stop the job when a user kills the deferred task.
    """

    fields = ("job_ref", "connection_args")
    paced_by_reads = True  # the poller's rounds pace the reads

    def __init__(
        self, *, job_ref: dict[str, Any], connection_args: dict[str, Any] | None = None, **polling: Any
    ) -> None:
        super().__init__(**polling)
        self.job_ref = job_ref
        self.connection_args = connection_args or {}
        self.ref = JobRef.from_dict(job_ref)
        self._last: JobStatus | None = None

    @property
    def poller(self) -> StatusPoller:
        """This connection's poller in this process (shared with every other trigger of the connection)."""
        return poller_for(self.ref.resource, self.connection_args)

    async def backend(self) -> Backend:
        """This connection's shared backend (built off the event loop)."""
        return await self.poller.backend()

    def describe(self) -> str:
        return f"{self.ref.resource} job {self.ref.job_id}"

    async def check(self) -> dict[str, Any] | None:
        left = self._time_left()
        try:
            status = await asyncio.wait_for(
                self.poller.status(self.ref, self.poll_interval), left if left < 1e9 else None
            )
        except TimeoutError:  # a deadline comes before the next round: the loop handles it
            return None
        if self._last is None or status.state is not self._last.state:
            self.log.info("%s is %s (%s)", self.describe(), status.state.value, status.cloud_state)
        self._last = status
        self.pending = status.state is JobState.PENDING
        return self._payload(status) if status.state.terminal else None

    def failure_payload(self, message: str) -> dict[str, Any]:
        return self._payload(JobStatus(JobState.FAILED, "unknown", f"could not read the job's status: {message}"))

    async def on_deadline(self) -> dict[str, Any]:
        self.log.warning("%s passed its deadline: stopping it.", self.describe())
        stopped = await self._stop_saying()
        return self._payload(
            JobStatus(JobState.TIMED_OUT, "deadline", f"the task's execution_timeout passed; {stopped}")
        )

    async def on_pending_timeout(self, seconds: float) -> dict[str, Any]:
        self.log.warning("%s stayed pending for %g s: stopping it.", self.describe(), seconds)
        message = (await self.backend()).pending_timeout_message(self.ref, self._last, seconds)
        stopped = await self._stop_saying()
        cloud_state = self._last.cloud_state if self._last else "pending"
        return self._payload(JobStatus(JobState.FAILED, cloud_state, f"{message}; {stopped}"))

    async def _stop_saying(self) -> str:
        """Stop the job; say what happened."""
        try:
            return await (await self.backend()).acancel(self.ref) or "the job was stopped"
        except Exception as err:
            return f"stopping the job failed: {err}"

    async def stop(self) -> None:
        await (await self.backend()).acancel(self.ref)

    def _payload(self, status: JobStatus) -> dict[str, Any]:
        return {"job": self.job_ref, "status": status.to_dict()}

    async def cleanup(self) -> None:
        self.poller.forget_job(self.ref)
