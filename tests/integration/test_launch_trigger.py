"""LaunchJobTrigger against the SageMaker emulator: polling, deadline, kill, and what its kwargs hold."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_wandb_launch.backends.sagemaker.backend import SageMakerBackend
from airflow_wandb_launch.launch.job import JobState
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.triggers.launch import LaunchJobTrigger
from tests.emulators.lifecycle import Lifecycle

RUN = RunIdentity("r", "p", "e")
BODY = {
    "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
    "AlgorithmSpecification": {
        "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1",
        "TrainingInputMode": "File",
    },
    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "OutputDataConfig": {"S3OutputPath": "s3://wandb-launch-tests/out"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
}


@pytest.fixture
def submitted(sagemaker):
    """A job submitted through the real backend; returns a function making triggers for it."""

    def make(lifecycle: Lifecycle, **kwargs) -> LaunchJobTrigger:
        sagemaker.script(lifecycle)
        ref = SageMakerBackend().submit({**BODY, "TrainingJobName": f"trigger-test-{time.monotonic_ns()}"}, RUN)
        return LaunchJobTrigger(
            job_ref=ref.to_dict(),
            connection_args={"aws_conn_id": "aws_default", "region_name": None},
            **{"poll_interval": 0.05, **kwargs},
        )

    return make


async def first_event(trigger: LaunchJobTrigger) -> dict:
    return (await anext(trigger.run())).payload


async def test_polls_until_terminal_with_one_client(submitted, sagemaker):
    trigger = submitted(Lifecycle(("InProgress", 4), "Completed"))
    event = await first_event(trigger)
    assert event["status"]["state"] == "succeeded" and event["status"]["cloud_state"] == "Completed"
    # four listings read it running, the fifth saw it end; no Describe (the worker reads the details once)
    assert sagemaker.meter.requests()["ListTrainingJobs"] == 5 and sagemaker.describe_count(trigger.ref.job_id) == 0
    assert (await trigger.backend()).hook.conn is (await trigger.backend()).hook.conn  # one client across polls


async def test_deadline_stops_the_job(submitted, sagemaker):
    trigger = submitted(Lifecycle("InProgress"), deadline=time.time() + 0.5)
    event = await first_event(trigger)
    assert event["status"]["state"] == JobState.TIMED_OUT
    assert sagemaker.stop_calls() == [trigger.ref.job_id]


async def test_on_kill_stops_the_job(submitted, sagemaker, task_deferred):
    trigger = submitted(Lifecycle("InProgress"))
    await trigger.on_kill()
    assert sagemaker.stop_calls() == [trigger.ref.job_id]


async def test_on_kill_stops_the_job_even_when_cancelled_again_while_reading_the_tasks_state(
    submitted, sagemaker, monkeypatch
):
    """Airflow 3.3.2 re-sends the cancel with every state sync while on_kill runs, and a cold triggerer's first read
    of a task's state takes seconds: the stop must not be aborted half-way (two marked tasks lost one job so)."""
    from airflow_wandb_launch.triggers import polling

    async def slow_read(task_instance, log) -> bool:  # the supervisor building its API on the first request
        await asyncio.sleep(0.5)
        return False

    monkeypatch.setattr(polling, "task_still_deferred", slow_read)
    trigger = submitted(Lifecycle("InProgress"))
    killing = asyncio.ensure_future(trigger.on_kill())
    for _ in range(3):  # the triggerer's repeated cancels
        await asyncio.sleep(0.05)
        killing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await killing
    for _ in range(100):
        if sagemaker.stop_calls():
            break
        await asyncio.sleep(0.05)
    assert sagemaker.stop_calls() == [trigger.ref.job_id]


async def test_on_kill_leaves_the_job_when_the_task_is_still_deferred(submitted, sagemaker, task_deferred):
    """apache/airflow#73454: on_kill also fires when a trigger only moves to another triggerer."""
    trigger = submitted(Lifecycle("InProgress"))
    task_deferred["deferred"] = True
    await trigger.on_kill()
    assert sagemaker.stop_calls() == []


async def test_on_kill_sends_no_stop_to_a_job_the_trigger_saw_end(submitted, sagemaker, task_deferred):
    """A trigger that fired can be cancelled (or run again by a second triggerer) as its task resumes: the task is
    no longer deferred, yet nothing was killed. The job it saw end gets no stop."""
    trigger = submitted(Lifecycle("Completed"))
    assert (await trigger.check())["status"]["state"] == "succeeded"
    await trigger.on_kill()
    assert sagemaker.stop_calls() == []


async def test_on_kill_leaves_the_job_without_cancel_on_kill(submitted, sagemaker):
    trigger = submitted(Lifecycle("InProgress"), cancel_on_kill=False)
    await trigger.on_kill()
    assert sagemaker.stop_calls() == []


async def test_persistent_read_errors_end_in_a_failed_event(submitted, sagemaker):
    trigger = submitted(Lifecycle("InProgress"), poll_interval=0.001)
    sagemaker.faults.inject(500, times=1000, method="ListTrainingJobs")
    event = await first_event(trigger)
    assert event["status"]["state"] == "failed"
    assert "could not read the job's status: reading it failed 5 times in a row" in event["status"]["message"]


def test_serialize_round_trips_and_holds_no_secret(submitted, wandb_conn):
    trigger = submitted(Lifecycle("InProgress"), deadline=123.0)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_wandb_launch.triggers.launch.LaunchJobTrigger"
    assert LaunchJobTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert wandb_conn.api_key not in json.dumps(kwargs) and "testing" not in json.dumps(kwargs)


class _Store(dict):
    """Airflow's task state store, as far as the operator uses it (get/set/delete)."""

    def set(self, key, value, **_):
        self[key] = value

    def delete(self, key):
        self.pop(key, None)


def test_airflow_deferral_timeout_backstop_stops_the_job(submitted, sagemaker):
    """When Airflow itself times the deferral out (triggerer down past the deadline), the resumed task stops the job."""
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
    from airflow.sdk.exceptions import TaskDeferralTimeout

    from airflow_wandb_launch.launch.memory import JOB_STATE_KEY
    from airflow_wandb_launch.operators import WandbLaunchSageMakerOperator

    trigger = submitted(Lifecycle("InProgress"))
    operator = WandbLaunchSageMakerOperator(task_id="train", image="i", project="p")
    context = {"task_state_store": _Store({JOB_STATE_KEY: trigger.job_ref})}
    with pytest.raises(TaskDeferralTimeout):
        operator.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context)
    assert sagemaker.stop_calls() == [trigger.ref.job_id]
