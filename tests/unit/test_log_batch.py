"""triggers/log_batch.py: the log reads a status round sets off, coalesced into one ``alog_many`` per window where
the backend batches reads; straight to ``alog_lines`` where it does not."""

from __future__ import annotations

import asyncio

import pytest

from airflow_wandb_launch.backends.base import Backend
from airflow_wandb_launch.launch.job import JobRef
from airflow_wandb_launch.launch.logs import LogChunk, LogRead
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.triggers.log_batch import LogBatch


class Recording(Backend):
    """A backend whose log reads record what they were asked and answer ``[<job>] line <n>``."""

    resource = "recording"
    connection_params = {}  # noqa: RUF012 - the Backend convention

    def __init__(self, *, batches: bool, fail: set[str] = frozenset()) -> None:
        super().__init__()
        self.batches_log_reads = batches
        self.many: list[list[str]] = []
        self.single: list[str] = []
        self.fail = fail

    def build(self, *args):  # pragma: no cover - not used
        raise NotImplementedError

    def submit(self, *args):  # pragma: no cover
        raise NotImplementedError

    def status(self, *args):  # pragma: no cover
        raise NotImplementedError

    def cancel(self, *args):  # pragma: no cover
        raise NotImplementedError

    async def alog_lines(self, ref, cursor, limit, *, final=False):
        self.single.append(ref.job_id)
        return LogChunk([f"[{ref.job_id}] line {(cursor or {}).get('n', 0)}"], {"n": (cursor or {}).get("n", 0) + 1})

    async def alog_many(self, reads):
        self.many.append([one.ref.job_id for one in reads])
        return {
            one.ref.job_id: ValueError(f"{one.ref.job_id} failed")
            if one.ref.job_id in self.fail
            else LogChunk([f"[{one.ref.job_id}] batched"], {"final": one.final})
            for one in reads
        }


def read(job_id: str, **kwargs) -> LogRead:
    return LogRead(JobRef("recording", job_id, RunIdentity(job_id, "p", "e")), None, 10, **kwargs)


def batch_of(backend: Backend) -> LogBatch:
    async def shared() -> Backend:
        return backend

    return LogBatch(shared)


async def test_reads_asked_together_are_one_call_and_each_gets_its_own_chunk():
    backend = Recording(batches=True)
    batch = batch_of(backend)
    chunks = await asyncio.gather(*(batch.read(read(f"job-{i}", final=i == 2)) for i in range(3)))
    assert backend.many == [["job-0", "job-1", "job-2"]] and batch.calls == 1 and backend.single == []
    assert [c.lines for c in chunks] == [["[job-0] batched"], ["[job-1] batched"], ["[job-2] batched"]]
    assert [c.cursor["final"] for c in chunks] == [False, False, True]


async def test_reads_in_different_windows_are_separate_calls():
    backend = Recording(batches=True)
    batch = batch_of(backend)
    await batch.read(read("a"))
    await batch.read(read("b"))
    assert backend.many == [["a"], ["b"]]


async def test_a_read_asked_while_a_window_is_being_read_opens_the_next_window():
    backend = Recording(batches=True)
    gate = asyncio.Event()
    answer = backend.alog_many

    async def slow_many(reads):
        await gate.wait()
        return await answer(reads)

    backend.alog_many = slow_many
    batch = batch_of(backend)
    first = asyncio.create_task(batch.read(read("a")))
    await asyncio.sleep(0.1)  # a's window closed: its call is in flight
    second = asyncio.create_task(batch.read(read("b")))
    await asyncio.sleep(0.1)
    gate.set()
    assert (await first).lines == ["[a] batched"] and (await second).lines == ["[b] batched"]
    assert backend.many == [["a"], ["b"]]


async def test_one_jobs_error_reaches_its_reader_only():
    backend = Recording(batches=True, fail={"bad"})
    batch = batch_of(backend)
    good, bad = await asyncio.gather(batch.read(read("good")), batch.read(read("bad")), return_exceptions=True)
    assert good.lines == ["[good] batched"]
    assert isinstance(bad, ValueError) and "bad failed" in str(bad)


async def test_a_failed_call_fails_every_read_of_its_window():
    backend = Recording(batches=True)

    async def broken(reads):
        raise ConnectionError("logging API unreachable")

    backend.alog_many = broken
    batch = batch_of(backend)
    results = await asyncio.gather(batch.read(read("a")), batch.read(read("b")), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_a_reader_that_gave_up_does_not_break_the_others():
    backend = Recording(batches=True)
    batch = batch_of(backend)
    impatient = asyncio.create_task(batch.read(read("a")))
    patient = asyncio.create_task(batch.read(read("b")))
    await asyncio.sleep(0)
    impatient.cancel()
    assert (await patient).lines == ["[b] batched"]
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_a_backend_that_does_not_batch_reads_each_at_once():
    backend = Recording(batches=False)
    batch = batch_of(backend)
    chunks = await asyncio.gather(batch.read(read("a")), batch.read(read("b")))
    assert backend.many == [] and backend.single == ["a", "b"] and batch.calls == 0
    assert [c.lines for c in chunks] == [["[a] line 0"], ["[b] line 0"]]
