"""Many LaunchJobTriggers of one connection in one event loop (one triggerer), against the SageMaker emulator:
one shared client, one listing per round, only the changed job's trigger woken, faults absorbed per connection."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_wandb_launch.backends.sagemaker.backend import SageMakerBackend
from airflow_wandb_launch.launch.job import JobStatus
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.triggers.launch import LaunchJobTrigger
from airflow_wandb_launch.triggers.status_poller import close_pollers, poller_for
from tests.emulators.lifecycle import Lifecycle
from tests.integration.test_launch_trigger import BODY

CONNECTION = {"aws_conn_id": "aws_default", "region_name": None}
INTERVAL = 0.2


@pytest.fixture
def one_attempt(sagemaker, monkeypatch):
    """botocore makes one attempt per call, so an injected fault reaches our code."""
    conn = json.loads(sagemaker.airflow_conn_env())
    conn["extra"]["config_kwargs"] = {"retries": {"total_max_attempts": 1, "mode": "standard"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))


@pytest.fixture
async def jobs(sagemaker):
    """``make(n)``: n running jobs submitted through the real backend, and a trigger for each."""
    backend = SageMakerBackend()

    def make(n: int, **kwargs) -> list[LaunchJobTrigger]:
        triggers = []
        for i in range(n):
            sagemaker.script(Lifecycle("InProgress"))
            name = f"poller-{i}-{time.monotonic_ns()}"
            ref = backend.submit({**BODY, "TrainingJobName": name}, RunIdentity(f"r{i}", "p", "e"))
            triggers.append(LaunchJobTrigger(job_ref=ref.to_dict(), connection_args=CONNECTION, **kwargs))
        return triggers

    yield make
    await close_pollers()


async def _start(triggers: list[LaunchJobTrigger]) -> list[asyncio.Task]:
    return [asyncio.create_task(anext(t.run())) for t in triggers]


async def _rounds(n: int, poller) -> None:
    target = poller.rounds + n
    while poller.rounds < target:
        await asyncio.sleep(0.02)


async def test_triggers_of_one_connection_share_one_client_and_one_listing_per_round(jobs, sagemaker):
    triggers = jobs(20, poll_interval=INTERVAL)
    tasks = await _start(triggers)
    poller = poller_for("sagemaker", CONNECTION)
    await _rounds(2, poller)
    before = sagemaker.meter.requests()
    await _rounds(3, poller)
    served = {op: n - before.get(op, 0) for op, n in sagemaker.meter.requests().items()}
    assert served.get("ListTrainingJobs") == 3  # 20 jobs, 1 page, once a round
    assert served.get("DescribeTrainingJob", 0) == 0  # nothing ended: no describe
    assert not any(task.done() for task in tasks)
    clients = {id((await t.backend()).hook.conn) for t in triggers}
    assert len(clients) == 1

    sagemaker.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}
    assert sagemaker.meter.requests().get("DescribeTrainingJob", 0) == 0  # the workers read the details, once each
    backend, ref, status = (
        await triggers[0].backend(),
        triggers[0].ref,
        JobStatus.from_dict(events[0].payload["status"]),
    )
    assert backend.final_status(ref, status).details["BillableTimeInSeconds"] > 0
    for trigger in triggers:
        await trigger.cleanup()


async def test_a_job_failing_mid_batch_wakes_only_its_trigger(jobs, sagemaker):
    triggers = jobs(5, poll_interval=INTERVAL)
    tasks = await _start(triggers)
    await _rounds(1, poller_for("sagemaker", CONNECTION))
    sagemaker.set_status(triggers[2].ref.job_id, "Failed", FailureReason="AlgorithmError: loss is NaN")
    event = await asyncio.wait_for(tasks[2], timeout=5)
    await _rounds(2, poller_for("sagemaker", CONNECTION))
    assert [task.done() for task in tasks] == [False, False, True, False, False]
    status = JobStatus.from_dict(event.payload["status"])
    assert status.state.value == "failed"
    final = (await triggers[2].backend()).final_status(triggers[2].ref, status)  # what the worker's finish reads
    assert final.message == "AlgorithmError: loss is NaN"
    for task in tasks:
        task.cancel()


async def test_the_poller_survives_throttled_rounds(jobs, sagemaker, one_attempt):
    triggers = jobs(4, poll_interval=0.05)
    sagemaker.faults.inject(400, times=3, method="ListTrainingJobs")  # ThrottlingException, three rounds
    tasks = await _start(triggers)
    poller = poller_for("sagemaker", CONNECTION)
    await _rounds(5, poller)
    assert not any(task.done() for task in tasks)  # 3 failed reads in a row are within each trigger's budget
    sagemaker.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}


async def test_listing_denied_falls_back_to_describe(jobs, sagemaker, one_attempt, caplog):
    triggers = jobs(3, poll_interval=INTERVAL)
    sagemaker.faults.inject(403, times=1, method="ListTrainingJobs")  # AccessDeniedException
    tasks = await _start(triggers)
    poller = poller_for("sagemaker", CONNECTION)
    await _rounds(3, poller)
    requests = sagemaker.meter.requests()
    assert requests.get("ListTrainingJobs") == 1  # asked once, then never again
    assert all(sagemaker.meter.reads(t.ref.job_id) >= 2 for t in triggers)  # read job by job instead
    assert caplog.text.count("ListTrainingJobs is denied") == 1
    sagemaker.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}


async def test_a_trigger_resumes_after_its_poller_is_gone(jobs, sagemaker):
    """A triggerer restart (or a move to another triggerer): the trigger rebuilt from its kwargs registers anew."""
    [trigger] = jobs(1, poll_interval=INTERVAL)
    task = asyncio.create_task(anext(trigger.run()))
    await _rounds(1, poller_for("sagemaker", CONNECTION))
    task.cancel()
    await close_pollers()  # the process, its poller and its client are gone

    _, kwargs = trigger.serialize()
    revived = LaunchJobTrigger(**kwargs)
    sagemaker.finish_all()
    event = await asyncio.wait_for(anext(revived.run()), timeout=5)
    assert event.payload["status"]["state"] == "succeeded"
