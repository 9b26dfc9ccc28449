"""WandbLaunchSageMakerOperator through dag.test(): SageMakerHook -> moto on loopback, W&B -> the GraphQL fake."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from airflow_wandb_launch.operators import WandbLaunchSageMakerOperator
from tests.conftest import ENTITY, ROOT
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.airflow import run_dag, task_states

SEED_CONFIG = str(ROOT / "example_dags" / "sagemaker_queue_config.yaml")
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest"

pytestmark = pytest.mark.usefixtures("airflow_db")


def train(**overrides):
    kwargs = {
        "task_id": "train",
        "image": IMAGE,
        "resource_args": SEED_CONFIG,
        "project": "sm-tests",
        "run_config": {"lr": 0.1},
        "poll_interval": 0.2,
    }
    return lambda: WandbLaunchSageMakerOperator(**{**kwargs, **overrides})


def test_success_returns_the_runs_summary_and_artifacts(sagemaker, container, triggers, capfd):
    sagemaker.script(Lifecycle(("InProgress", 3), "Completed"))
    dag_run, xcom = run_dag(train(project="sm-success"))
    assert task_states(dag_run) == {"train": "success"}

    [job] = sagemaker.job_names()
    result = xcom["train"]["return_value"]
    run_id = xcom["train"]["run_id"]
    assert result["job_id"] == job == xcom["train"]["job_id"]
    assert result["job_state"] == "succeeded" and result["run_state"] == "finished"
    assert result["run_path"] == f"{ENTITY}/sm-success/{run_id}" == xcom["train"]["run_path"]
    assert result["summary"] == {"loss": 0.12, "accuracy": 0.91}
    assert result["artifacts"] == [
        {
            "name": "model",
            "type": "model",
            "version": "v0",
            "aliases": ["latest"],
            "uri": f"wandb-artifact://{ENTITY}/sm-success/model:v0",
        }
    ]
    assert result["run_url"] == f"{container.server.base_url}/{ENTITY}/sm-success/runs/{run_id}"
    assert result["job_url"].endswith(f"#/jobs/{job}") and "sagemaker" in result["job_url"]
    # the job was given its run identity, and it deferred (polls came from the trigger)
    env = sagemaker.create_request(job)["Environment"]
    assert env["WANDB_RUN_ID"] == run_id and env["WANDB_PROJECT"] == "sm-success" and env["WANDB_ENTITY"] == ENTITY
    assert json.loads(env["WANDB_CONFIG"]) == {"lr": 0.1}
    # one Describe on the worker before deferring; the trigger's reads are listings, then one Describe at the end
    assert len(triggers) == 1 and sagemaker.describe_count(job) == 2
    assert sagemaker.meter.requests()["ListTrainingJobs"] == sagemaker.meter.reads(job) - 2
    # the W&B API key went to the job, and nowhere else
    key = container.server.api_key
    assert env["WANDB_API_KEY"] == key
    assert key not in json.dumps(triggers) and key not in json.dumps(xcom)
    assert key not in capfd.readouterr().out


def test_seed_queue_config_reaches_sagemaker_as_createtrainingjob(sagemaker, container):
    run_dag(train())
    body = sagemaker.create_request(sagemaker.job_names()[0])
    assert body["RoleArn"] == "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
    assert body["ResourceConfig"]["VolumeKmsKeyId"].startswith("arn:aws:kms:")
    assert body["EnableManagedSpotTraining"] is True
    assert body["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 172800}
    assert "MaxWaitTimeInSeconds" not in body
    assert body["AlgorithmSpecification"] == {"TrainingImage": IMAGE, "TrainingInputMode": "File"}
    tags = {t["Key"]: t["Value"] for t in body["Tags"]}
    assert tags["WandbRunId"] == body["Environment"]["WANDB_RUN_ID"]
    assert tags["AirflowTaskId"] == "train" and tags["AirflowTryNumber"] == "1"
    assert len(body["TrainingJobName"]) <= 63


def test_failed_job_fails_the_task_with_sagemakers_reason(sagemaker, container, capfd):
    sagemaker.script(Lifecycle(("InProgress", 1), ("Failed", None, {"FailureReason": "AlgorithmError: CUDA OOM"})))
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "failed"}
    out = capfd.readouterr().out
    assert "failed (Failed): AlgorithmError: CUDA OOM" in out


def test_stopped_job_fails_the_task_as_stopped(sagemaker, container, capfd):
    sagemaker.script(Lifecycle(("InProgress", 1), "Stopped"))
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "failed"}
    assert "was stopped (Stopped)" in capfd.readouterr().out


def test_timeout_stops_the_training_job(sagemaker, container, capfd):
    sagemaker.script(Lifecycle("InProgress"))
    dag_run, _ = run_dag(train(execution_timeout=timedelta(seconds=3)))
    assert task_states(dag_run) == {"train": "failed"}
    assert sagemaker.stop_calls() == sagemaker.job_names()
    assert "timed out (deadline): the task's execution_timeout passed; the job was stopped" in capfd.readouterr().out


def test_job_already_finished_never_defers(sagemaker, container, triggers):
    sagemaker.script(Lifecycle("Completed"))
    dag_run, xcom = run_dag(train())
    assert task_states(dag_run) == {"train": "success"}
    assert triggers == [] and sagemaker.describe_count(sagemaker.job_names()[0]) == 1
    assert xcom["train"]["return_value"]["job_state"] == "succeeded"


def test_job_without_its_wandb_run_fails_when_required(sagemaker, container, capfd):
    container.logs_run = False
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "failed"}
    assert "succeeded but W&B has no run" in capfd.readouterr().out


def test_job_without_its_wandb_run_passes_when_not_required(sagemaker, container):
    container.logs_run = False
    dag_run, xcom = run_dag(train(require_wandb_run=False))
    assert task_states(dag_run) == {"train": "success"}
    assert xcom["train"]["return_value"]["run_state"] is None


def test_crashed_wandb_run_fails_the_task(sagemaker, container, capfd):
    container.run_state = "crashed"
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "failed"}
    assert "is 'crashed', not 'finished'" in capfd.readouterr().out


def test_transient_sagemaker_faults_do_not_fail_the_task(sagemaker, container):
    sagemaker.script(Lifecycle(("InProgress", 2), "Completed"))
    sagemaker.faults.inject(500, times=2, method="DescribeTrainingJob")
    sagemaker.faults.inject(429, times=1, method="DescribeTrainingJob")
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "success"}
    assert sagemaker.faults.served == [500, 500, 429]


def test_non_deferrable_waits_on_the_worker(sagemaker, container, triggers):
    sagemaker.script(Lifecycle(("InProgress", 2), "Completed"))
    dag_run, xcom = run_dag(train(deferrable=False))
    assert task_states(dag_run) == {"train": "success"}
    assert triggers == [] and xcom["train"]["return_value"]["summary"]["loss"] == 0.12
