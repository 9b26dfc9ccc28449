"""One status poller per connection per triggerer process: N waiting jobs cost one client and a few calls a round.

Every ``LaunchJobTrigger`` of one backend connection (resource + connection arguments) registers its job with
the same ``StatusPoller`` and awaits the next round. A round reads every registered job at once with the
backend's ``astatus_many`` (SageMaker: a few ``ListTrainingJobs`` pages and ``DescribeTrainingJob`` only for jobs
that ended), hands each trigger its job's status (or the round's error), then sleeps the shortest poll interval
of its triggers; after a failed round it backs off for the whole connection, not per job.

The backend (and so the SDK client) is built once per connection, in a thread, never on the event loop, and
rebuilt after ``CLIENT_TTL_SECONDS`` so that a connection edited in the UI is picked up. Nothing here is
serialized: a trigger that lands on another triggerer (or after a restart) simply registers there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from airflow_wandb_launch.backends import Backend, make_backend
from airflow_wandb_launch.launch.job import JobRef, JobStatus
from airflow_wandb_launch.triggers.polling import MAX_BACKOFF_EXPONENT

log = logging.getLogger(__name__)

#: how long one backend (and its SDK client) serves a connection before it is rebuilt from the connection.
CLIENT_TTL_SECONDS = 600.0


class StatusPoller:
    """Reads the statuses of every registered job of one connection, one round per interval.

    :param resource: the backend's resource.
    :param connection_args: its connection arguments.
    """

    def __init__(self, resource: str, connection_args: dict[str, Any]) -> None:
        self.resource, self.connection_args = resource, connection_args
        self._jobs: dict[str, JobRef] = {}
        self._intervals: dict[str, float] = {}
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._task: asyncio.Task | None = None
        self._backend: Backend | None = None
        self._built_at = 0.0
        self._errors = 0
        self.rounds = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    async def backend(self) -> Backend:
        """The connection's backend, built in a thread (never on the event loop) and rebuilt after the TTL."""
        if self._backend is None or time.monotonic() - self._built_at > CLIENT_TTL_SECONDS:
            old, self._backend = self._backend, await asyncio.to_thread(self._build)
            self._built_at = time.monotonic()
            if old is not None:
                old.close()
        return self._backend

    def _build(self) -> Backend:
        backend = make_backend(self.resource, self.connection_args)
        backend.prepare_client()  # credentials and the SDK client, here in the thread
        return backend

    async def status(self, ref: JobRef, poll_interval: float) -> JobStatus:
        """The job's status from the next round; raises the round's error if that round failed for it."""
        key = ref.job_id
        self._jobs[key], self._intervals[key] = ref, poll_interval
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"status poller {self.resource}")
        return await future

    def forget(self, ref: JobRef) -> None:
        """The trigger is done with its job (cleanup)."""
        self._jobs.pop(ref.job_id, None)
        self._intervals.pop(ref.job_id, None)
        for future in self._waiters.pop(ref.job_id, []):
            future.cancel()

    async def _run(self) -> None:
        """Rounds while any trigger waits; the pause after a failed round grows for the whole connection."""
        while any(self._waiters.values()):  # ends when no trigger waits; the next one to ask starts it again
            started = time.monotonic()
            await self._round()
            interval = min(self._intervals.values(), default=0.0) * 2 ** min(self._errors, MAX_BACKOFF_EXPONENT)
            await asyncio.sleep(max(interval - (time.monotonic() - started), 0.0))  # rounds start on the interval

    async def _round(self) -> None:
        waiting = {key: futures for key, futures in self._waiters.items() if futures}
        if not waiting:
            return
        self._waiters = {key: [] for key in self._jobs}
        refs = [self._jobs[key] for key in waiting if key in self._jobs]
        try:
            backend = await self.backend()
            results: dict[str, JobStatus | BaseException] = await backend.astatus_many(refs)
            self._errors = 0
        except Exception as err:  # the whole round failed (throttled, unreachable): back off, tell every waiter
            self._errors += 1
            log.warning("Reading %d %s jobs failed (round %d): %s", len(refs), self.resource, self.rounds + 1, err)
            results = {ref.job_id: err for ref in refs}
        self.rounds += 1  # rounds completed
        for key, futures in waiting.items():
            result = results.get(key, LookupError(f"{self.resource} job {key} was not read"))
            for future in futures:
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


_POLLERS: dict[tuple[int, str], StatusPoller] = {}


def poller_for(resource: str, connection_args: dict[str, Any]) -> StatusPoller:
    """The poller of one connection in the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    for stale in [key for key, poller in _POLLERS.items() if poller.loop is None or poller.loop.is_closed()]:
        if (backend := _POLLERS.pop(stale)._backend) is not None:
            backend.close()
    key = (id(loop), json.dumps([resource, connection_args], sort_keys=True, default=str))
    poller = _POLLERS.get(key)
    if poller is None or poller.loop is not loop:
        poller = _POLLERS[key] = StatusPoller(resource, connection_args)
        poller.loop = loop
    return poller


async def close_pollers() -> None:
    """Stop this event loop's pollers and release their clients (tests, shutdown)."""
    loop = asyncio.get_running_loop()
    for key, poller in list(_POLLERS.items()):
        if poller.loop is not loop:
            continue
        if poller._task is not None:
            poller._task.cancel()
            with contextlib.suppress(BaseException):
                await poller._task
        if poller._backend is not None:
            poller._backend.close()
        del _POLLERS[key]
