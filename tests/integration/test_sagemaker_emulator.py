"""The SageMaker emulator, driven through Airflow's ``SageMakerHook`` and plain boto3."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulators.lifecycle import Lifecycle
from tests.emulators.sagemaker import SageMakerEmulator

BUCKET = "wandb-launch-test"


@pytest.fixture
def _server(_sagemaker_server: SageMakerEmulator) -> Iterator[SageMakerEmulator]:
    """The session's emulator (one per process: its patches are class-wide)."""
    yield _sagemaker_server


@pytest.fixture
def sm(_server: SageMakerEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path) -> SageMakerEmulator:
    """The module's emulator, reset, with AWS env pointing nowhere but at it."""
    _server.reset()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": _server.region,
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AIRFLOW_CONN_AWS_EMU": _server.airflow_conn_env(),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    _server.create_bucket(BUCKET)
    return _server


def client(sm: SageMakerEmulator, service: str = "sagemaker", **kwargs: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=sm.endpoint_url,
        region_name=sm.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        **kwargs,
    )


def hook() -> Any:
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    return SageMakerHook(aws_conn_id="aws_emu")


def config(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest",
            "TrainingInputMode": "File",
        },
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        **extra,
    }


def test_scripted_job_through_the_hook(sm: SageMakerEmulator) -> None:
    client(sm, "s3").put_object(Bucket=BUCKET, Key="data/train.csv", Body=b"x,y\n")
    sm.script(Lifecycle(("InProgress", 2), ("Completed", None, {"BillableTimeInSeconds": 42})), "job-a")
    extra = {
        "Environment": {"WANDB_RUN_ID": "r1", "WANDB_LAUNCH": "True"},
        "Tags": [{"Key": "WandbRunId", "Value": "r1"}],
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data"}},
            }
        ],
    }
    sagemaker = hook()
    job = config("job-a", **extra)
    response = sagemaker.create_training_job(job, wait_for_completion=False, print_log=False)
    assert response["TrainingJobArn"] == f"arn:aws:sagemaker:us-east-1:{sm.account_id}:training-job/job-a"

    described = [sagemaker.describe_training_job("job-a") for _ in range(4)]
    assert [d["TrainingJobStatus"] for d in described] == ["InProgress"] * 2 + ["Completed"] * 2
    assert [d["SecondaryStatus"] for d in described] == ["Training", "Training", "Completed", "Completed"]
    assert "TrainingEndTime" not in described[0]
    assert described[2]["TrainingEndTime"] == described[3]["TrainingEndTime"]
    assert described[2]["BillableTimeInSeconds"] == 42
    assert described[2]["Environment"] == extra["Environment"]
    assert "FailureReason" not in described[2]
    assert sm.describe_count("job-a") == 4

    body = sm.create_request("job-a")
    assert body == config("job-a", **extra)  # as sent: moto's own additions are not in it
    assert sm.job_names() == ["job-a"]


def test_hook_waits_for_completion(sm: SageMakerEmulator) -> None:
    sm.script(Lifecycle(("InProgress", 2), "Completed"))
    hook().create_training_job(config("job-wait"), print_log=False, check_interval=0)
    assert sm.describe_count("job-wait") == 3  # InProgress, InProgress, Completed
    assert sm.lifecycle("job-wait").current.state == "Completed"


def test_failed_job_reports_its_reason(sm: SageMakerEmulator) -> None:
    sm.script(Lifecycle(("InProgress", 1), ("Failed", None, {"FailureReason": "AlgorithmError: OOM"})))
    sagemaker = client(sm)
    sagemaker.create_training_job(**config("job-f"))
    assert sagemaker.describe_training_job(TrainingJobName="job-f")["TrainingJobStatus"] == "InProgress"
    failed = sagemaker.describe_training_job(TrainingJobName="job-f")
    assert (failed["TrainingJobStatus"], failed["SecondaryStatus"]) == ("Failed", "Failed")
    assert failed["FailureReason"] == "AlgorithmError: OOM"
    assert "TrainingEndTime" in failed


def test_stop_turns_job_stopping_then_stopped(sm: SageMakerEmulator) -> None:
    sm.script(Lifecycle("InProgress"), "job-s")
    sagemaker = hook().get_conn()
    sagemaker.create_training_job(**config("job-s"))
    assert sagemaker.describe_training_job(TrainingJobName="job-s")["TrainingJobStatus"] == "InProgress"
    started = time.perf_counter()
    sagemaker.stop_training_job(TrainingJobName="job-s")
    assert time.perf_counter() - started < 2  # no botocore retries: moto itself lacks StopTrainingJob
    states = [sagemaker.describe_training_job(TrainingJobName="job-s") for _ in range(3)]
    assert [s["TrainingJobStatus"] for s in states] == ["Stopping", "Stopped", "Stopped"]
    assert states[1]["SecondaryStatus"] == "Stopped" and "TrainingEndTime" in states[1]
    assert sm.stop_calls() == ["job-s"]


def test_stop_of_a_finished_or_unknown_job_is_rejected(sm: SageMakerEmulator) -> None:
    sagemaker = client(sm)
    sagemaker.create_training_job(**config("job-done"))  # default: InProgress once, then Completed
    sagemaker.describe_training_job(TrainingJobName="job-done")
    with pytest.raises(ClientError) as rejected:
        sagemaker.stop_training_job(TrainingJobName="job-done")
    assert rejected.value.response["Error"]["Code"] == "ValidationException"
    assert "status Completed" in rejected.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="ValidationException"):
        sagemaker.stop_training_job(TrainingJobName="nope")
    assert sm.stop_calls() == ["job-done", "nope"]
    assert sagemaker.describe_training_job(TrainingJobName="job-done")["TrainingJobStatus"] == "Completed"


def test_scripts_apply_fifo_then_default(sm: SageMakerEmulator) -> None:
    sm.default_lifecycle = Lifecycle(("InProgress", 1), ("Failed", None, {"FailureReason": "default"}))
    sm.script(Lifecycle("Completed"))
    sm.script(Lifecycle("Stopped"))
    named = sm.script(Lifecycle(("InProgress", 3), "Completed"), "job-named")
    sagemaker = client(sm)
    for name in ["job-1", "job-named", "job-2", "job-3", "job-4"]:
        sagemaker.create_training_job(**config(name))
    states = {n: sagemaker.describe_training_job(TrainingJobName=n)["TrainingJobStatus"] for n in sm.job_names()}
    assert states == {
        "job-1": "Completed",
        "job-named": "InProgress",
        "job-2": "Stopped",
        "job-3": "InProgress",
        "job-4": "InProgress",
    }
    assert sm.lifecycle("job-named") is named and named.reads == 1
    assert sagemaker.describe_training_job(TrainingJobName="job-3")["FailureReason"] == "default"
    assert sm.lifecycle("job-4").reads == 1  # each job gets its own copy of the default
    with pytest.raises(ClientError, match="ResourceInUse"):
        sagemaker.create_training_job(**config("job-1"))


def test_injected_faults_are_retried_by_botocore(sm: SageMakerEmulator) -> None:
    sagemaker = client(sm)
    sm.faults.inject(500, method="CreateTrainingJob")
    sagemaker.create_training_job(**config("job-r"))
    sm.faults.inject(429)
    sm.faults.inject(400)
    assert sagemaker.describe_training_job(TrainingJobName="job-r")["TrainingJobStatus"] == "InProgress"
    assert sm.faults.served == [500, 429, 400]
    assert sm.describe_count("job-r") == 1  # faults never reach the job
    sm.faults.inject(500)
    no_retries = Config(retries={"max_attempts": 0})
    with pytest.raises(ClientError) as failed:
        client(sm, config=no_retries).describe_training_job(TrainingJobName="job-r")
    assert failed.value.response["Error"]["Code"] == "InternalFailure"


def test_reset_forgets_jobs(sm: SageMakerEmulator) -> None:
    client(sm).create_training_job(**config("job-old"))
    sm.script(Lifecycle("Failed"))
    sm.reset()
    assert sm.job_names() == [] and sm.stop_calls() == []
    with pytest.raises(ClientError, match="Could not find training job"):
        client(sm).describe_training_job(TrainingJobName="job-old")
    client(sm).create_training_job(**config("job-old"))  # the queued script was forgotten too
    assert client(sm).describe_training_job(TrainingJobName="job-old")["TrainingJobStatus"] == "InProgress"


def test_restart_binds_a_new_loopback_port_and_undoes_patches(sm: SageMakerEmulator) -> None:
    from moto.sagemaker.responses import SageMakerResponse

    assert sm.endpoint_url.startswith("http://127.0.0.1:") and not sm.endpoint_url.endswith(":0")
    old_url = sm.endpoint_url
    with pytest.raises(RuntimeError):
        SageMakerEmulator().start()
    sm.stop()
    assert not hasattr(SageMakerResponse, "stop_training_job")
    assert "call_action" not in SageMakerResponse.__dict__
    started = time.perf_counter()
    sm.start()
    assert time.perf_counter() - started < 2
    assert sm.endpoint_url != old_url
    client(sm).create_training_job(**config("job-after-restart"))
    assert sm.job_names() == ["job-after-restart"]
