"""The one interface every resource implements: build, submit, status, cancel."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus, elapsed_seconds
from airflow_wandb_launch.launch.logs import LogChunk, LogRead
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity

if TYPE_CHECKING:
    from airflow_wandb_launch.lineage.datasets import Lineage

#: status reads of one connection in flight at once when a backend reads jobs one by one.
MAX_CONCURRENT_READS = 8

#: why a job may be tried again elsewhere (an operator's ``fallbacks``): the cloud had no machines for it,
CAPACITY = "capacity"
#: the account's or project's quota for the machines is spent,
QUOTA = "quota"
#: a spot job waited past its limit for spot capacity,
SPOT_WAIT = "spot-wait"
#: or it stayed pending past the operator's ``pending_timeout`` (any cloud: see :func:`is_pending_timeout`).
PENDING_TIMEOUT = "pending-timeout"
#: how :meth:`Backend.pending_timeout_message` marks the failure it describes.
PENDING_TIMEOUT_MARK = "(pending_timeout)"


def is_pending_timeout(status: JobStatus) -> bool:
    """Whether the status is the trigger's "stayed pending past ``pending_timeout``" (the job was stopped)."""
    return status.state is JobState.FAILED and PENDING_TIMEOUT_MARK in (status.message or "")


class NoBillableTime(ValueError):
    """The job's status carries no timing to bill (it never ran, or the cloud did not say)."""


class Backend(ABC):
    """Runs launch requests on one resource.

    ``build`` is pure (no network): it validates the (macro-filled) ``resource_args`` and returns the cloud's
    own request. ``submit``/``status``/``cancel`` talk to the cloud; a backend keeps its client across calls.
    ``astatus``/``acancel`` are their event-loop-safe twins for the triggerer: by default the sync call
    runs in a thread with the same client.

    :param connection_args: connection ids and locations (never secrets): they are stored in trigger
        kwargs so the triggerer can build the same backend.
    """

    resource: ClassVar[str]
    #: other names W&B Launch and its docs use for this resource (accepted as ``resource`` and as a wrapper key).
    aliases: ClassVar[tuple[str, ...]] = ()
    #: the pip extra that brings this resource's SDK.
    extra: ClassVar[str | None] = None
    #: connection arguments and their defaults, accepted by the operator.
    connection_params: ClassVar[Mapping[str, Any]] = {}
    #: runs inside the worker process (no deferral), streaming its output to the task log.
    runs_on_worker: ClassVar[bool] = False
    #: a W&B job is resolved to its image before ``build`` (False: the backend passes the job on as it is).
    resolves_job_image: ClassVar[bool] = True
    #: W&B Launch's ``${...}`` macros are filled in ``resource_args`` before ``build`` (False: someone else does).
    fills_macros: ClassVar[bool] = True
    #: the cloud's limit on one environment variable's length, if any.
    max_env_value_length: ClassVar[int | None] = None
    #: ``alog_lines`` reads the job's own log lines (the operator's ``stream_logs=None`` follows this).
    streams_logs: ClassVar[bool] = False
    #: ``alog_many`` reads many jobs' lines in fewer calls than one per job (the triggerer then coalesces the
    #: log reads of a connection's triggers; otherwise each trigger reads its own, as soon as it asks).
    batches_log_reads: ClassVar[bool] = False

    def __init__(self, **connection_args: Any) -> None:
        unknown = set(connection_args) - set(self.connection_params)
        if unknown:
            raise TypeError(f"{self.resource}: unknown connection arguments {sorted(unknown)}")
        self.connection_args = {**self.connection_params, **connection_args}

    @abstractmethod
    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        """Validate ``resource_args`` and return the cloud request that runs ``request`` with ``env``."""

    @abstractmethod
    def submit(self, payload: dict[str, Any], run: RunIdentity) -> JobRef:
        """Submit a built request for ``run``; return a reference to the job."""

    def planned_job_id(self, payload: dict[str, Any]) -> str | None:
        """The job's id before submit, where the cloud lets the caller name it (None: the cloud assigns it)."""
        return None

    def find_submitted(self, payload: dict[str, Any], run: RunIdentity) -> JobRef | None:
        """The job an interrupted earlier submit of ``payload`` created, if it reached the cloud.

        Only backends whose cloud assigns job ids need it (found by a label carrying the run id); where the job
        is named by the caller, ``submit`` of the same payload attaches to an existing job instead.
        """
        return None

    def find_launched(self, run: RunIdentity, job_id: str | None) -> JobRef | None:
        """The job launched for ``run`` (to stop it), from what was recorded before submit; None if none."""
        return JobRef(self.resource, job_id, run, {}) if job_id else None

    @classmethod
    def request_lineage(cls, payload: dict[str, Any]) -> Lineage:
        """What a built request reads and writes (storage URIs), for OpenLineage; nothing unless the backend says."""
        from airflow_wandb_launch.lineage.datasets import Lineage

        return Lineage()

    @abstractmethod
    def status(self, ref: JobRef) -> JobStatus:
        """Read the job's state once."""

    @abstractmethod
    def cancel(self, ref: JobRef) -> str | None:
        """Ask the cloud to stop the job (a no-op for a job that already ended); may say what it did."""

    def job_url(self, ref: JobRef) -> str | None:
        """The job's page in the cloud console, if it has one."""
        return None

    def ran_on(self, ref: JobRef) -> str:
        """The resource the LaunchResult names (a queue's backend names the queue's resource)."""
        return ref.resource

    def describe(self, ref: JobRef) -> str:
        """How messages name the job."""
        return f"{ref.resource} job {ref.job_id}"

    def pending_timeout_message(self, ref: JobRef, status: JobStatus | None, seconds: float) -> str:
        """Why the job failed when it stayed pending past the operator's ``pending_timeout``.

        :param status: its last status (None if it was never read).
        """
        why = f" ({status.cloud_state})" if status else ""
        return f"{self.describe(ref)} was still pending{why} after {seconds:g} s {PENDING_TIMEOUT_MARK}"

    def fallback_reason(self, status: JobStatus) -> str | None:
        """Why an ended job may be tried again elsewhere (the operator's ``fallbacks``), or None.

        :data:`CAPACITY`, :data:`QUOTA` or :data:`SPOT_WAIT` for a failure that another machine type, region or
        resource may not meet; None for a success and for failures that are the job's own (its code, its image,
        its permissions), which fail the same everywhere. Pure. By default no failure falls back: a backend whose
        cloud words capacity failures overrides it (``backends/<cloud>/capacity.py``).
        """
        return None

    def refusal_reason(self, error: BaseException) -> str | None:
        """Why a submit the cloud refused may be tried elsewhere (a quota checked at create), or None (default)."""
        return None

    def final_status(self, ref: JobRef, status: JobStatus) -> JobStatus:
        """The ended job's status with everything the result needs (the worker calls it once, before finishing):
        a batched read may carry less (SageMaker's listing has no FailureReason or billable time)."""
        return status

    def resolve_run(self, ref: JobRef, status: JobStatus) -> JobRef:
        """The job's reference with the run it actually logged to (a queue's agent may start another run id)."""
        return ref

    @classmethod
    def billable_seconds(cls, details: Mapping[str, Any]) -> float:
        """Seconds each machine is billed for, from a terminal ``JobStatus.details``: end - start by default.

        :raises NoBillableTime: when the status carries no timing.
        """
        start, end = details.get("start_time"), details.get("end_time")
        if not start or not end:
            raise NoBillableTime(f"{cls.resource} reported no start and end time (did the job run at all?)")
        return elapsed_seconds(start, end)

    def prepare_client(self) -> None:  # noqa: B027 - optional: backends without a client have nothing to build
        """Read the connection and build the SDK client now (the triggerer calls this in a thread)."""

    async def astatus(self, ref: JobRef) -> JobStatus:
        return await asyncio.to_thread(self.status, ref)

    async def astatus_many(self, refs: list[JobRef]) -> dict[str, JobStatus | BaseException]:
        """The statuses of many jobs of this connection, by job id (an exception for a job whose read failed).

        By default one ``astatus`` per job, ``MAX_CONCURRENT_READS`` at a time; a backend whose cloud can list
        many jobs in one call overrides it.
        """
        limit = asyncio.Semaphore(MAX_CONCURRENT_READS)

        async def read(ref: JobRef) -> JobStatus:
            async with limit:
                return await self.astatus(ref)

        results = await asyncio.gather(*(read(ref) for ref in refs), return_exceptions=True)
        return {ref.job_id: result for ref, result in zip(refs, results, strict=True)}

    async def acancel(self, ref: JobRef) -> str | None:
        return await asyncio.to_thread(self.cancel, ref)

    def log_lines(self, ref: JobRef, cursor: dict[str, Any] | None, limit: int, *, final: bool = False) -> LogChunk:
        """The job's log lines written since ``cursor`` (None: since it started), at most ``limit`` of them.

        Blocking (``alog_lines`` runs it in a thread); it should reuse the backend's client and must not change
        ``cursor``; a permission error is raised as ``launch.logs.LogsDenied``. ``final``: the job ended, this is
        the last read. By default a backend has no logs to read.
        """
        return LogChunk(cursor=dict(cursor or {}), supported=False)

    async def alog_lines(
        self, ref: JobRef, cursor: dict[str, Any] | None, limit: int, *, final: bool = False
    ) -> LogChunk:
        """``log_lines`` off the event loop (the trigger calls it after each status read, and with ``final`` once
        after the job ended), ``MAX_CONCURRENT_READS`` jobs of this connection at a time."""
        if not self.streams_logs:  # nothing to read: no thread
            return self.log_lines(ref, cursor, limit, final=final)
        async with self.log_read_slots():
            return await asyncio.to_thread(self.log_lines, ref, cursor, limit, final=final)

    def log_read_slots(self) -> asyncio.Semaphore:
        """The connection's ``MAX_CONCURRENT_READS`` log reads in flight (made on first use, in the event loop)."""
        slots = self.__dict__.get("_log_read_slots")
        if slots is None:
            slots = self.__dict__["_log_read_slots"] = asyncio.Semaphore(MAX_CONCURRENT_READS)
        return slots

    async def alog_many(self, reads: list[LogRead]) -> dict[str, LogChunk | BaseException]:
        """Many jobs' new lines at once, by job id (an exception for a job whose read failed).

        A backend whose logging service reads many jobs' lines in one call (and rations such calls) implements it
        and sets ``batches_log_reads``: the triggerer's triggers of one connection then read their logs together
        (``triggers.log_batch``). Other backends' reads go to ``alog_lines`` one by one.
        """
        raise NotImplementedError(f"{self.resource} does not batch log reads (batches_log_reads is False)")

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release clients (called when the trigger or task is done with the backend)."""
