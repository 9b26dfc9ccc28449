"""A deferred Vertex AI CustomJob's Cloud Logging lines in the trigger's log (which Airflow shows in the task's
log), against the Vertex emulator (which serves Cloud Logging's ``entries.list`` at the same endpoint).

Each ``check()`` is one poll: a status read from the shared poller's next round, then the job's new lines.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest
from google.api_core import exceptions

from airflow_wandb_launch.backends.vertex import logs
from airflow_wandb_launch.backends.vertex.backend import VertexBackend
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.triggers.launch import LOG_CURSOR_KEY, LaunchJobTrigger
from airflow_wandb_launch.triggers.status_poller import close_pollers
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.clouds import VERTEX_PROJECT
from tests.helpers.log_tailing import TI, warnings
from tests.integration.test_vertex_status_poller import CONNECTION, custom_job

LIST = "ListLogEntries"
XCOM_KEY = (LOG_CURSOR_KEY, "d", "train", "manual__1", -1)
_ids = itertools.count()
pytestmark = pytest.mark.usefixtures("trigger_log", "patient_polls")


@pytest.fixture
async def job(vertex):
    """``make(lifecycle=running, **trigger_kwargs)``: a job submitted through the real backend (running until the
    test ends it) and a streaming trigger for it."""
    backend = VertexBackend()

    def make(lifecycle: Lifecycle | None = None, **kwargs) -> LaunchJobTrigger:
        vertex.script(lifecycle or Lifecycle("JOB_STATE_RUNNING"))
        i = next(_ids)
        ref = backend.submit(custom_job(i), RunIdentity(f"r{i}", "p", "e"))
        options = {"poll_interval": 0.05, "stream_logs": True, **kwargs}
        return LaunchJobTrigger(job_ref=ref.to_dict(), connection_args=CONNECTION, **options)

    yield make
    backend.close()
    await close_pollers()


def log_reads(vertex) -> int:
    return vertex.meter.requests().get(LIST, 0)


async def test_lines_appear_prefixed_and_once_across_polls(job, vertex, shown):
    trigger = job()
    name = trigger.ref.job_id
    vertex.write_logs(name, [f"epoch {i}" for i in range(3)])
    assert await trigger.check() is None
    assert shown() == ["[workerpool0-0] epoch 0", "[workerpool0-0] epoch 1", "[workerpool0-0] epoch 2"]

    assert await trigger.check() is None  # nothing new: nothing shown
    assert len(shown()) == 3
    vertex.write_logs(name, ["epoch 3", "multi\nline"])
    await trigger.check()
    assert shown()[3:] == ["[workerpool0-0] epoch 3", "[workerpool0-0] multi", "[workerpool0-0] line"]
    assert json.loads(json.dumps(trigger.log_cursor)) == trigger.log_cursor  # JSON-able, as kwargs must be


async def test_the_query_is_the_jobs_entries_from_its_creation_then_from_the_last_time_read(job, vertex):
    trigger = job()
    name, number = trigger.ref.job_id, trigger.ref.job_id.rpartition("/")[2]
    vertex.write_logs(name, ["one"])
    await trigger.check()
    await trigger.check()
    first, second = vertex.log_queries[:2]
    created = trigger.ref.cloud["created_at"]
    since = logs.rfc3339(int((created - logs.CREATION_MARGIN_SECONDS) * 10**9))
    job_filter = f'resource.type="ml_job" AND resource.labels.job_id="{number}"'
    assert first == {
        "resourceNames": [f"projects/{VERTEX_PROJECT}"],
        "filter": f'{job_filter} AND timestamp>="{since}"',  # from the job's creation (less a margin for clocks)
        "orderBy": "timestamp asc",
        "pageSize": logs.PAGE_SIZE,
    }
    assert second["filter"] == f'{job_filter} AND timestamp>="{trigger.log_cursor["ts"]}"'


async def test_the_jobs_a_status_round_wakes_read_their_logs_in_one_query(job, vertex, shown):
    """Cloud Logging rations entries.list per project per minute: the triggers of one connection read together."""
    triggers = [job() for _ in range(5)]
    for i, trigger in enumerate(triggers):
        vertex.write_logs(trigger.ref.job_id, [f"job {i} line {n}" for n in range(2)])
    before = log_reads(vertex)
    await asyncio.gather(*(trigger.check() for trigger in triggers))
    assert log_reads(vertex) - before == 1
    [query] = vertex.log_queries[-1:]
    assert query["filter"].count("resource.labels.job_id=") == 5 and " OR " in query["filter"]
    assert sorted(shown()) == sorted(f"[workerpool0-0] job {i} line {n}" for i in range(5) for n in range(2))
    vertex.write_logs(triggers[3].ref.job_id, ["job 3 again"])
    await asyncio.gather(*(trigger.check() for trigger in triggers))
    assert log_reads(vertex) - before == 2 and shown()[-1] == "[workerpool0-0] job 3 again"  # once, to its own


async def test_a_quiet_job_does_not_hold_back_where_the_query_starts(job, vertex, monkeypatch):
    """A job that wrote nothing for a while must not make every query list its neighbours' old entries again."""
    quiet, busy = job(), job()
    vertex.write_logs(busy.ref.job_id, ["first"])
    await asyncio.gather(quiet.check(), busy.check())
    later = time.time() + 3600  # an hour on
    monkeypatch.setattr(logs.time, "time", lambda: later)
    vertex.write_logs(busy.ref.job_id, ["second"], at=int(later * 10**9))
    await asyncio.gather(quiet.check(), busy.check())
    await asyncio.gather(quiet.check(), busy.check())
    since = vertex.log_queries[-1]["filter"].rpartition('timestamp>="')[2].rstrip('"')
    assert logs.epoch_nanos(since) >= int((later - logs.LATE_SECONDS) * 10**9) - 10**9  # not the quiet job's past


async def test_another_jobs_lines_are_not_shown(job, vertex, shown):
    mine, other = job(), job()
    vertex.write_logs(other.ref.job_id, ["not mine"])
    vertex.write_logs(mine.ref.job_id, ["mine"])
    await mine.check()
    assert shown() == ["[workerpool0-0] mine"]


async def test_every_replica_is_prefixed_and_interleaved_in_time(job, vertex, shown):
    trigger = job()
    name, t = trigger.ref.job_id, time.time_ns()
    vertex.write_logs(name, ["Job is running."], task="service", at=t)
    vertex.write_logs(name, ["chief 0", "chief 1"], at=[t + 1000, t + 3000])
    vertex.write_logs(name, ["worker 0"], task="workerpool1-0", at=t + 2000)
    await trigger.check()
    vertex.write_logs(name, ["worker 1"], task="workerpool1-0", at=t + 4000)
    await trigger.check()
    assert shown() == [
        "[service] Job is running.",
        "[workerpool0-0] chief 0",
        "[workerpool1-0] worker 0",
        "[workerpool0-0] chief 1",
        "[workerpool1-0] worker 1",
    ]


async def test_a_poll_shows_at_most_its_budget_newest_first_after_a_skip_marker(job, vertex, shown):
    trigger = job(max_log_lines_per_poll=5)
    name = trigger.ref.job_id
    vertex.write_logs(name, [f"line {i}" for i in range(12)])
    await trigger.check()
    assert shown() == [
        "… 7 lines skipped (max_log_lines_per_poll=5)",
        *(f"[workerpool0-0] line {i}" for i in range(7, 12)),
    ]
    vertex.write_logs(name, ["line 12", "line 13"])
    await trigger.check()
    assert shown()[6:] == ["[workerpool0-0] line 12", "[workerpool0-0] line 13"]  # within the budget: no marker


async def test_a_backlog_beyond_one_reads_pages_comes_in_later_polls(job, vertex, shown, monkeypatch):
    monkeypatch.setattr(logs, "PAGE_SIZE", 2)
    monkeypatch.setattr(logs, "MAX_PAGES", 2)
    trigger = job()
    vertex.write_logs(trigger.ref.job_id, [f"line {i}" for i in range(9)])
    await trigger.check()
    assert shown() == [f"[workerpool0-0] line {i}" for i in range(4)]
    assert log_reads(vertex) == 2  # a read is bounded ...
    await trigger.check()
    await trigger.check()
    assert shown() == [f"[workerpool0-0] line {i}" for i in range(9)]  # ... and the next ones read on


async def test_the_final_event_brings_the_last_lines(job, vertex, shown):
    trigger = job()
    name = trigger.ref.job_id
    task = asyncio.create_task(anext(trigger.run()))
    vertex.write_logs(name, ["starting"])
    while "[workerpool0-0] starting" not in shown():
        await asyncio.sleep(0.02)
    vertex.write_logs(name, ["Traceback: loss is NaN"])
    vertex.set_state(name, "JOB_STATE_FAILED", error={"code": 3, "message": "exited with a non-zero status of 1"})
    event = await asyncio.wait_for(task, timeout=5)
    assert event.payload["status"]["state"] == "failed"
    assert shown() == ["[workerpool0-0] starting", "[workerpool0-0] Traceback: loss is NaN"]


async def test_no_log_read_without_stream_logs(job, vertex):
    quiet = job(stream_logs=False)
    vertex.write_logs(quiet.ref.job_id, ["x"])
    await quiet.check()
    vertex.set_state(quiet.ref.job_id)
    assert (await quiet.check())["status"]["state"] == "succeeded"
    assert log_reads(vertex) == 0


async def test_no_log_read_while_the_job_is_pending(job, vertex):
    pending = job(Lifecycle("JOB_STATE_PENDING"))
    assert await pending.check() is None and pending.pending
    assert log_reads(vertex) == 0


async def test_a_rebuilt_trigger_resumes_from_its_serialized_cursor(job, vertex, shown):
    trigger = job()
    name = trigger.ref.job_id
    vertex.write_logs(name, ["one", "two"])
    await trigger.check()
    _, kwargs = trigger.serialize()
    assert kwargs["log_cursor"] == trigger.log_cursor and kwargs["stream_logs"] is True
    await close_pollers()  # the triggerer, its poller and its clients are gone

    vertex.write_logs(name, ["three"])
    revived = LaunchJobTrigger(**kwargs)
    await revived.check()
    assert shown() == ["[workerpool0-0] one", "[workerpool0-0] two", "[workerpool0-0] three"]


async def test_a_trigger_recreated_after_a_triggerer_restart_resumes_from_the_xcom_cursor(job, vertex, shown, xcom):
    """The triggerer re-creates a trigger from the kwargs serialized at deferral (no cursor): it resumes from the
    cursor the first one persisted after each chunk it showed."""
    trigger = job()
    _, deferred_kwargs = trigger.serialize()  # what the operator stored when it deferred
    trigger.task_instance = TI
    name = trigger.ref.job_id
    vertex.write_logs(name, ["one", "two"])
    await trigger.check()
    assert xcom[XCOM_KEY] == {"job_id": name, "cursor": trigger.log_cursor}
    await close_pollers()

    vertex.write_logs(name, ["three"])
    revived = LaunchJobTrigger(**deferred_kwargs)
    assert revived.log_cursor is None
    revived.task_instance = TI
    await revived.check()
    vertex.write_logs(name, ["four"])
    await revived.check()
    assert shown() == [f"[workerpool0-0] {word}" for word in ("one", "two", "three", "four")]


async def test_entries_sharing_a_timestamp_across_polls_are_neither_lost_nor_repeated(job, vertex, shown, xcom):
    """Cloud Logging is read again from the last time read: the entries there already shown are dropped by insertId,
    also by a trigger re-created from the saved cursor."""
    trigger = job()
    trigger.task_instance = TI
    name, t = trigger.ref.job_id, time.time_ns()
    vertex.write_logs(name, ["a", "b"], at=t)
    await trigger.check()
    assert trigger.log_cursor["seen"] and len(trigger.log_cursor["seen"]) == 2
    vertex.write_logs(name, ["c"], at=t)  # one more in the same nanosecond
    await trigger.check()
    vertex.write_logs(name, ["d"], at=t)
    vertex.write_logs(name, ["e"], at=t + 1)
    await close_pollers()
    revived = LaunchJobTrigger(**trigger.serialize()[1] | {"log_cursor": None})
    revived.task_instance = TI
    await revived.check()
    await revived.check()
    assert shown() == [f"[workerpool0-0] {c}" for c in "abcde"]


async def test_the_cursor_is_saved_only_after_lines_were_shown(job, vertex, xcom):
    trigger = job()
    trigger.task_instance = TI
    await trigger.check()  # nothing written yet
    assert xcom["writes"] == []
    vertex.write_logs(trigger.ref.job_id, ["one"])
    await trigger.check()
    await trigger.check()  # nothing new
    assert len(xcom["writes"]) == 1


async def test_a_denied_log_read_is_reported_once_and_the_job_still_completes(job, vertex, caplog, shown):
    trigger = job()
    name = trigger.ref.job_id
    vertex.write_logs(name, ["secret"])
    vertex.denied.add(LIST)  # no logging.logEntries.list (roles/logging.viewer) on the project
    task = asyncio.create_task(anext(trigger.run()))
    while not warnings(caplog, "May not read"):
        await asyncio.sleep(0.02)
    before = vertex.meter.requests()
    await asyncio.sleep(0.3)  # a few more polls
    after = vertex.meter.requests()
    assert after["GetCustomJob"] > before["GetCustomJob"]  # the wait goes on ...
    assert after[LIST] == before[LIST] == 1  # ... without log reads
    vertex.set_state(name)
    event = await asyncio.wait_for(task, timeout=5)
    assert event.payload["status"]["state"] == "succeeded"
    [said] = warnings(caplog, "May not read")
    assert "403" in said and "Permission denied" in said
    assert shown() == []


async def test_other_log_read_errors_are_reported_once_and_the_lines_come_later(job, vertex, caplog, shown):
    trigger = job()
    name = trigger.ref.job_id
    vertex.write_logs(name, ["one", "two"])
    vertex.faults.inject(500, times=3, method=LIST)
    for _ in range(4):
        assert await trigger.check() is None
    assert len(warnings(caplog, "logs failed")) == 1  # three failed polls in a row, one warning
    assert shown() == ["[workerpool0-0] one", "[workerpool0-0] two"]  # nothing lost, nothing twice
    vertex.set_state(name)
    assert (await trigger.check())["status"]["state"] == "succeeded"


async def test_a_slow_log_read_blocks_no_other_trigger_and_the_connection_shares_one_client(
    job, vertex, shown, monkeypatch
):
    from airflow_wandb_launch.triggers import launch

    monkeypatch.setattr(launch, "LOG_WAIT_SECONDS", 0.5)  # a poll waits for its log read half a second at most
    slow, fast = job(), job()
    backend = await slow.backend()
    client = await asyncio.to_thread(lambda: backend.logging_client)  # built once per connection, before the race
    vertex.write_logs(slow.ref.job_id, ["slow"])
    vertex.faults.inject(200, times=1, delay=2.0, method=LIST)
    slow_poll = asyncio.create_task(slow.check())
    while not log_reads(vertex):
        await asyncio.sleep(0.02)  # the slow trigger's log read is in flight
    vertex.write_logs(fast.ref.job_id, ["fast"])
    fast_poll = asyncio.create_task(anext(fast.run()))
    while "[workerpool0-0] fast" not in shown():
        await asyncio.sleep(0.02)
    vertex.set_state(fast.ref.job_id)
    event = await asyncio.wait_for(fast_poll, timeout=5)
    assert event.payload["status"]["state"] == "succeeded"
    await asyncio.wait_for(slow_poll, timeout=5)  # its poll waited for its log read briefly ...
    async with asyncio.timeout(5):
        while "[workerpool0-0] slow" not in shown():  # ... which ended in the background
            await asyncio.sleep(0.05)
    assert shown() == ["[workerpool0-0] fast", "[workerpool0-0] slow"]
    assert (await fast.backend()).logging_client is client  # one Cloud Logging client for the connection


def test_the_emulator_refuses_a_filter_cloud_logging_could_not_parse(vertex):
    client = VertexBackend().logging_client
    body = logs.list_request(VERTEX_PROJECT, 'resource.type="ml_job" AND job_id=123')
    with pytest.raises(exceptions.BadRequest, match="Unparseable"):
        client.logging_api.api_request(method="POST", path="/entries:list", data=body)
