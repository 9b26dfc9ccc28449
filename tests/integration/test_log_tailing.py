"""A deferred SageMaker job's CloudWatch lines in the trigger's log (which Airflow shows in the task's log),
against the SageMaker emulator (moto serves CloudWatch Logs at the same endpoint).

Each ``check()`` is one poll: a status read from the shared poller's next round, then the job's new lines.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_wandb_launch.backends.base import Backend
from airflow_wandb_launch.backends.sagemaker.backend import SageMakerBackend
from airflow_wandb_launch.launch.job import JobState, JobStatus
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.triggers.launch import LOG_CURSOR_KEY, LaunchJobTrigger
from airflow_wandb_launch.triggers.status_poller import StatusPoller, close_pollers
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.log_tailing import TI, warnings
from tests.integration.test_launch_trigger import BODY

CONNECTION = {"aws_conn_id": "aws_default", "region_name": None}
LOG_OPERATIONS = ("DescribeLogStreams", "FilterLogEvents")
pytestmark = pytest.mark.usefixtures("trigger_log", "patient_polls")


@pytest.fixture
def one_attempt(sagemaker, monkeypatch):
    """botocore makes one attempt per call, so an injected fault reaches our code."""
    conn = json.loads(sagemaker.airflow_conn_env())
    conn["extra"]["config_kwargs"] = {"retries": {"total_max_attempts": 1, "mode": "standard"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))


@pytest.fixture
async def job(sagemaker):
    """``make(instances=1, **trigger_kwargs)``: a running job (until the test ends it) and a streaming trigger."""

    def make(instances: int = 1, **kwargs) -> LaunchJobTrigger:
        sagemaker.script(Lifecycle("InProgress"))
        body = {**BODY, "TrainingJobName": f"logs-{time.monotonic_ns()}"}
        body["ResourceConfig"] = {**body["ResourceConfig"], "InstanceCount": instances}
        ref = SageMakerBackend().submit(body, RunIdentity("r", "p", "e"))
        options = {"poll_interval": 0.05, "stream_logs": True, **kwargs}
        return LaunchJobTrigger(job_ref=ref.to_dict(), connection_args=CONNECTION, **options)

    yield make
    await close_pollers()


async def test_lines_appear_prefixed_and_once_across_polls(job, sagemaker, shown):
    trigger = job()
    name = trigger.ref.job_id
    sagemaker.write_logs(name, [f"epoch {i}" for i in range(3)])
    assert await trigger.check() is None
    assert shown() == ["[algo-1] epoch 0", "[algo-1] epoch 1", "[algo-1] epoch 2"]

    assert await trigger.check() is None  # nothing new: nothing shown
    assert len(shown()) == 3
    sagemaker.write_logs(name, ["epoch 3", "multi\nline"])
    await trigger.check()
    assert shown()[3:] == ["[algo-1] epoch 3", "[algo-1] multi", "[algo-1] line"]
    assert json.loads(json.dumps(trigger.log_cursor)) == trigger.log_cursor  # JSON-able, as kwargs must be


async def test_every_instance_is_prefixed_and_interleaved_in_time(job, sagemaker, shown):
    trigger = job(instances=2)
    name, t = trigger.ref.job_id, int(time.time() * 1000)
    sagemaker.write_logs(name, ["a0", "a1"], instance="algo-1", timestamps=[t, t + 2])
    await trigger.check()  # algo-2 has no stream yet: the job's streams are listed again at the next poll
    sagemaker.write_logs(name, ["b0"], instance="algo-2", timestamps=[t + 1])
    sagemaker.write_logs(name, ["a2"], instance="algo-1", timestamps=[t + 3])
    await trigger.check()
    assert shown() == ["[algo-1] a0", "[algo-1] a1", "[algo-2] b0", "[algo-1] a2"]
    described = sagemaker.meter.requests()["DescribeLogStreams"]
    await trigger.check()  # both instances have their stream: no more listing
    assert sagemaker.meter.requests()["DescribeLogStreams"] == described


async def test_a_poll_shows_at_most_its_budget_newest_first_after_a_skip_marker(job, sagemaker, shown):
    trigger = job(max_log_lines_per_poll=5)
    name = trigger.ref.job_id
    sagemaker.write_logs(name, [f"line {i}" for i in range(12)])
    await trigger.check()
    assert shown() == [
        "… 7 lines skipped (max_log_lines_per_poll=5)",
        *(f"[algo-1] line {i}" for i in range(7, 12)),
    ]
    sagemaker.write_logs(name, ["line 12", "line 13"])
    await trigger.check()
    assert shown()[6:] == ["[algo-1] line 12", "[algo-1] line 13"]  # within the budget: all, no marker


async def test_the_final_event_brings_the_last_lines(job, sagemaker, shown):
    trigger = job()
    name = trigger.ref.job_id
    task = asyncio.create_task(anext(trigger.run()))
    sagemaker.write_logs(name, ["starting"])
    while "[algo-1] starting" not in shown():
        await asyncio.sleep(0.02)
    sagemaker.write_logs(name, ["Traceback: loss is NaN"])
    sagemaker.set_status(name, "Failed", FailureReason="AlgorithmError: loss is NaN")
    event = await asyncio.wait_for(task, timeout=5)
    assert event.payload["status"]["state"] == "failed"
    assert shown() == ["[algo-1] starting", "[algo-1] Traceback: loss is NaN"]


async def test_no_log_read_without_stream_logs(job, sagemaker):
    quiet = job(stream_logs=False)
    sagemaker.write_logs(quiet.ref.job_id, ["x"])
    await quiet.check()
    sagemaker.set_status(quiet.ref.job_id, "Completed")
    assert (await quiet.check())["status"]["state"] == "succeeded"
    assert [sagemaker.meter.requests().get(op, 0) for op in LOG_OPERATIONS] == [0, 0]


async def test_no_log_read_while_the_job_is_pending(job, sagemaker, monkeypatch):
    """SageMaker says "pending" in a Describe's SecondaryStatus (Starting, LaunchingMLInstances, ...)."""
    pending = job()

    async def starting(self, ref, poll_interval):
        return JobStatus(JobState.PENDING, "InProgress", None, {"SecondaryStatus": "Starting"})

    monkeypatch.setattr(StatusPoller, "status", starting)
    assert await pending.check() is None and pending.pending
    assert [sagemaker.meter.requests().get(op, 0) for op in LOG_OPERATIONS] == [0, 0]


async def test_a_rebuilt_trigger_resumes_from_its_serialized_cursor(job, sagemaker, shown):
    trigger = job()
    name = trigger.ref.job_id
    sagemaker.write_logs(name, ["one", "two"])
    await trigger.check()
    _, kwargs = trigger.serialize()
    assert kwargs["log_cursor"] == trigger.log_cursor and kwargs["stream_logs"] is True
    await close_pollers()  # the triggerer, its poller and its clients are gone

    sagemaker.write_logs(name, ["three"])
    revived = LaunchJobTrigger(**kwargs)
    await revived.check()
    assert shown() == ["[algo-1] one", "[algo-1] two", "[algo-1] three"]


async def test_a_trigger_recreated_after_a_triggerer_restart_resumes_from_the_xcom_cursor(job, sagemaker, shown, xcom):
    """The triggerer re-creates a trigger from the kwargs serialized at deferral (no cursor): it resumes from the
    cursor the first one persisted after each chunk it showed."""
    trigger = job()
    _, deferred_kwargs = trigger.serialize()  # what the operator stored when it deferred
    trigger.task_instance = TI
    name = trigger.ref.job_id
    sagemaker.write_logs(name, ["one", "two"])
    await trigger.check()
    saved = xcom[(LOG_CURSOR_KEY, "d", "train", "manual__1", -1)]
    assert saved == {"job_id": name, "cursor": trigger.log_cursor}
    await close_pollers()

    sagemaker.write_logs(name, ["three"])
    revived = LaunchJobTrigger(**deferred_kwargs)
    assert revived.log_cursor is None
    revived.task_instance = TI
    await revived.check()
    sagemaker.write_logs(name, ["four"])
    await revived.check()
    assert shown() == ["[algo-1] one", "[algo-1] two", "[algo-1] three", "[algo-1] four"]


async def test_the_cursor_is_saved_only_after_lines_were_shown(job, sagemaker, xcom):
    trigger = job()
    trigger.task_instance = TI
    await trigger.check()  # no stream yet
    assert xcom["writes"] == []
    sagemaker.write_logs(trigger.ref.job_id, ["one"])
    await trigger.check()
    await trigger.check()  # nothing new
    assert len(xcom["writes"]) == 1


async def test_a_cursor_that_cannot_be_saved_is_reported_once_and_streaming_goes_on(
    job, sagemaker, xcom, caplog, shown
):
    trigger = job()
    trigger.task_instance = TI
    xcom["broken"] = True
    for line in ("one", "two"):
        sagemaker.write_logs(trigger.ref.job_id, [line])
        await trigger.check()
    assert shown() == ["[algo-1] one", "[algo-1] two"]
    assert len(warnings(caplog, "Could not save")) == 1


async def test_another_jobs_xcom_cursor_is_ignored(job, sagemaker, shown, xcom):
    trigger = job()
    trigger.task_instance = TI
    xcom[(LOG_CURSOR_KEY, "d", "train", "manual__1", -1)] = {"job_id": "another-job", "cursor": {"streams": {}}}
    sagemaker.write_logs(trigger.ref.job_id, ["one"])
    await trigger.check()
    assert shown() == ["[algo-1] one"]


async def test_a_cursor_of_the_earlier_per_stream_reads_resumes_without_duplicates(job, sagemaker, shown):
    """A trigger deferred by the previous release kept a GetLogEvents token: its time and count still resume."""
    trigger = job()
    name, t = trigger.ref.job_id, int(time.time() * 1000)
    sagemaker.write_logs(name, ["a", "b", "c"], timestamps=[t, t + 1, t + 1])
    await trigger.check()
    _, kwargs = trigger.serialize()
    [stream] = kwargs["log_cursor"]["streams"]
    kwargs["log_cursor"]["streams"][stream] = {"token": "f/0123", "start": 0, "ts": t + 1, "skip": 2}  # as it was
    sagemaker.write_logs(name, ["d", "e"], timestamps=[t + 1, t + 2])  # one more in the same millisecond
    revived = LaunchJobTrigger(**kwargs)
    await revived.check()
    assert shown() == [f"[algo-1] {c}" for c in "abcde"]


async def test_the_jobs_a_status_round_wakes_read_their_logs_in_one_call(job, sagemaker, shown):
    """CloudWatch Logs rations reads per account and region: the triggers of one connection read together."""
    triggers = [job() for _ in range(5)]
    for i, trigger in enumerate(triggers):
        sagemaker.write_logs(trigger.ref.job_id, [f"job {i}"])
    await asyncio.gather(*(trigger.check() for trigger in triggers))  # each job's streams listed once
    assert sorted(shown()) == [f"[algo-1] job {i}" for i in range(5)]
    before = sagemaker.meter.requests()
    for i, trigger in enumerate(triggers):
        sagemaker.write_logs(trigger.ref.job_id, [f"job {i} again"])
    await asyncio.gather(*(trigger.check() for trigger in triggers))
    after = sagemaker.meter.requests()
    assert after["FilterLogEvents"] - before.get("FilterLogEvents", 0) == 1  # one call for the five jobs' streams
    assert after.get("DescribeLogStreams", 0) == before.get("DescribeLogStreams", 0)
    assert sorted(shown()[5:]) == [f"[algo-1] job {i} again" for i in range(5)]


async def test_many_jobs_starting_together_have_their_streams_listed_a_few_per_read(job, sagemaker, shown, monkeypatch):
    """DescribeLogStreams is rationed too: a read lists what the connection's allowance grants (at most
    MAX_LISTINGS_PER_READ), the rest come next."""
    from airflow_wandb_launch.backends.sagemaker import logs

    monkeypatch.setattr(logs, "MAX_LISTINGS_PER_READ", 2)
    monkeypatch.setattr(logs, "LISTINGS_PER_SECOND", 1e6)  # refilled by every read
    triggers = [job() for _ in range(5)]
    for i, trigger in enumerate(triggers):
        sagemaker.write_logs(trigger.ref.job_id, [f"job {i}"])
    listed = []
    for _ in range(3):
        before = sagemaker.meter.requests().get("DescribeLogStreams", 0)
        await asyncio.gather(*(trigger.check() for trigger in triggers))
        listed.append(sagemaker.meter.requests().get("DescribeLogStreams", 0) - before)
    assert listed == [2, 2, 1]
    assert sorted(shown()) == [f"[algo-1] job {i}" for i in range(5)]  # every job's lines, a little later


@pytest.mark.parametrize("operation", LOG_OPERATIONS)
async def test_a_denied_log_read_is_reported_once_and_the_job_still_completes(
    job, sagemaker, one_attempt, caplog, shown, operation
):
    trigger = job()
    name = trigger.ref.job_id
    sagemaker.write_logs(name, ["secret"])
    sagemaker.logs_faults.inject(403, times=1, method=operation)  # AccessDeniedException
    task = asyncio.create_task(anext(trigger.run()))
    while not warnings(caplog, "May not read"):
        await asyncio.sleep(0.02)
    before = sagemaker.meter.requests()
    await asyncio.sleep(0.3)  # a few more polls
    after = sagemaker.meter.requests()
    assert after["ListTrainingJobs"] > before["ListTrainingJobs"]  # the wait goes on ...
    assert [after.get(op, 0) - before.get(op, 0) for op in LOG_OPERATIONS] == [0, 0]  # ... without log reads
    sagemaker.set_status(name, "Completed")
    event = await asyncio.wait_for(task, timeout=5)
    assert event.payload["status"]["state"] == "succeeded"
    assert len(warnings(caplog, "May not read")) == 1 and "AccessDeniedException" in warnings(caplog, "May not")[0]
    assert shown() == []


async def test_other_log_read_errors_are_reported_once_and_the_lines_come_later(
    job, sagemaker, one_attempt, caplog, shown
):
    trigger = job()
    name = trigger.ref.job_id
    sagemaker.write_logs(name, ["one", "two"])
    sagemaker.logs_faults.inject(500, times=3, method="FilterLogEvents")
    for _ in range(4):
        assert await trigger.check() is None
    assert len(warnings(caplog, "logs failed")) == 1  # three failed polls in a row, one warning
    assert shown() == ["[algo-1] one", "[algo-1] two"]  # nothing lost, nothing twice
    sagemaker.set_status(name, "Completed")
    assert (await trigger.check())["status"]["state"] == "succeeded"


async def test_a_slow_log_read_delays_neither_its_job_nor_another(job, sagemaker, shown, monkeypatch):
    from airflow_wandb_launch.triggers import launch

    monkeypatch.setattr(launch, "LOG_WAIT_SECONDS", 1.0)
    slow, fast = job(), job()
    backend = await slow.backend()
    await asyncio.to_thread(lambda: backend.logs_client)  # built once per connection, before the race
    sagemaker.write_logs(slow.ref.job_id, ["slow"])
    sagemaker.logs_faults.inject(200, times=1, delay=3.0, method="DescribeLogStreams")
    started = time.monotonic()
    slow_poll = asyncio.create_task(slow.check())
    while not sagemaker.meter.requests().get("DescribeLogStreams"):
        await asyncio.sleep(0.02)  # the slow trigger's log read is in flight
    sagemaker.set_status(fast.ref.job_id, "Completed")
    event = await asyncio.wait_for(anext(fast.run()), timeout=5)
    assert event.payload["status"]["state"] == "succeeded"  # the other trigger's reads went on meanwhile
    assert await asyncio.wait_for(slow_poll, timeout=5) is None
    assert time.monotonic() - started < 2.5  # its poll waited for its log read one second, not three
    while "[algo-1] slow" not in shown():  # the read finishes in the background
        await asyncio.sleep(0.05)
    assert (await fast.backend()).logs_client is backend.logs_client  # one CloudWatch client for the connection


async def test_a_backend_without_logs_says_so_once(job, sagemaker, caplog, monkeypatch):
    monkeypatch.setattr(SageMakerBackend, "log_lines", Backend.log_lines)  # a backend that reads no logs
    monkeypatch.setattr(SageMakerBackend, "batches_log_reads", False)
    trigger = job()
    for _ in range(3):
        await trigger.check()
    said = [r.getMessage() for r in caplog.records if "cannot stream" in r.getMessage()]
    assert len(said) == 1
