"""One status poller per backend connection per triggerer process: N waiting jobs cost one client and a few
calls a round.

Every ``LaunchJobTrigger`` of one connection (resource + connection arguments) registers its job with the same
``StatusPoller`` and awaits the next round, which reads every registered job at once with the backend's
``astatus_many`` (SageMaker: a few ``ListTrainingJobs`` pages; Vertex AI: ``ListCustomJobs``; Azure ML: the
jobs listing; per job only where a cloud cannot list). The backend, and so its SDK client, is the poller's
shared client (see ``batch_poller``). The log reads its round sets off are coalesced too (``log_batch``).
"""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.backends import Backend, make_backend
from airflow_wandb_launch.launch.job import JobRef, JobStatus
from airflow_wandb_launch.launch.logs import LogChunk, LogRead
from airflow_wandb_launch.triggers.batch_poller import BatchPoller, close_pollers, shared_poller
from airflow_wandb_launch.triggers.log_batch import LogBatch

__all__ = ["StatusPoller", "close_pollers", "poller_for"]


class StatusPoller(BatchPoller[Backend, JobRef, JobStatus]):
    """Reads the statuses of every registered job of one backend connection, one round per interval.

    :param resource: the backend's resource.
    :param connection_args: its connection arguments.
    """

    def __init__(self, resource: str, connection_args: dict[str, Any]) -> None:
        super().__init__(f"{resource} jobs")
        self.resource, self.connection_args = resource, connection_args
        self.log_batch = LogBatch(self.backend)

    def build_client(self) -> Backend:
        backend = make_backend(self.resource, self.connection_args)
        backend.prepare_client()  # credentials and the SDK client, here in the thread
        return backend

    async def close_client(self, client: Backend) -> None:
        client.close()

    async def read(self, client: Backend, items: list[JobRef]) -> dict[str, JobStatus | BaseException]:
        return await client.astatus_many(items)

    async def backend(self) -> Backend:
        """The connection's backend (built off the event loop, rebuilt after the TTL)."""
        return await self.client()

    async def status(self, ref: JobRef, poll_interval: float) -> JobStatus:
        """The job's status from the next round; raises the round's error if that round failed for it."""
        return await self.get(ref.job_id, ref, poll_interval)

    async def log_chunk(self, one: LogRead) -> LogChunk:
        """The job's new log lines, read together with the other triggers' of the connection (``log_batch``)."""
        return await self.log_batch.read(one)

    def forget_job(self, ref: JobRef) -> None:
        """The trigger is done with its job (cleanup)."""
        self.forget(ref.job_id)


def poller_for(resource: str, connection_args: dict[str, Any]) -> StatusPoller:
    """The poller of one backend connection in the running event loop (created on first use)."""
    return shared_poller(StatusPoller, resource, connection_args)
