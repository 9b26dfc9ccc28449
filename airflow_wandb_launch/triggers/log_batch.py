"""The log reads of one connection's triggers, coalesced: the triggers a status round wakes together read their
jobs' lines in one ``Backend.alog_many`` call.

A status round (``status_poller``) answers every trigger of a connection at once; each then asks for its job's
new lines. Where the backend ``batches_log_reads``, the first ask opens a short window (``WINDOW_SECONDS``); every
ask that comes within it joins, and the window's reads go to the backend together, which reads them in as few
calls as its logging service allows (Vertex AI: one Cloud Logging ``entries.list`` for many jobs, where the API
rations reads per project per minute). Other backends' reads go straight to ``alog_lines``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from airflow_wandb_launch.backends.base import Backend
from airflow_wandb_launch.launch.logs import LogChunk, LogRead

#: seconds the first log read of a window waits for the others a status round woke with it.
WINDOW_SECONDS = 0.05


class LogBatch:
    """Coalesces one connection's log reads that come within ``WINDOW_SECONDS`` of each other.

    :param backend: the connection's shared backend (awaited: built off the event loop).
    """

    def __init__(self, backend: Callable[[], Awaitable[Backend]]) -> None:
        self._backend = backend
        self._pending: dict[str, tuple[LogRead, list[asyncio.Future]]] = {}
        self._flushes: set[asyncio.Task] = set()  # windows collecting or reading (held: tasks are weakly kept)
        self.calls = 0  # alog_many calls made (for tests and benchmarks)

    async def read(self, one: LogRead) -> LogChunk:
        """``one``'s chunk, read together with the other reads of its window (where the backend batches reads;
        otherwise at once, on its own: a slow job's read then holds up no other)."""
        backend = await self._backend()
        if not backend.batches_log_reads:
            return await backend.alog_lines(one.ref, one.cursor, one.limit, final=one.final)
        loop = asyncio.get_running_loop()
        if not self._pending:  # the first read of a new window (an earlier window may still be reading)
            flush = loop.create_task(self._flush(), name="log reads")
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        future = loop.create_future()
        self._pending.setdefault(one.ref.job_id, (one, []))[1].append(future)
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(WINDOW_SECONDS)
        pending, self._pending = self._pending, {}
        reads = [one for one, _ in pending.values()]
        try:
            self.calls += 1
            results: dict[str, LogChunk | BaseException] = await (await self._backend()).alog_many(reads)
        except Exception as err:  # the whole call failed: every read of the window says so
            results = dict.fromkeys(pending, err)
        for key, (_, futures) in pending.items():
            result = results.get(key, LookupError(f"the logs of {key} were not read"))
            for future in futures:
                if future.done():  # its trigger gave up waiting (its read timed out, or it was cancelled)
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
