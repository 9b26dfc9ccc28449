"""A retry reattaches to the job its earlier try submitted (task state store) instead of submitting another."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from airflow_wandb_launch.operators import WandbLaunchSageMakerOperator
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.airflow import run_dag, task_states
from tests.integration.test_sagemaker_operator import IMAGE, SEED_CONFIG

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_retry_reattaches_to_the_running_job(sagemaker, container, monkeypatch, capfd):
    # One attempt per API call, so the faults below are counted exactly.
    conn = json.loads(sagemaker.airflow_conn_env())
    conn["extra"]["config_kwargs"] = {"retries": {"total_max_attempts": 1, "mode": "standard"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    sagemaker.script(Lifecycle(("InProgress", 3), "Completed"))
    # Try 1: its status reads all fail (1 Describe on the worker, 5 listings in the trigger), so it gives up.
    sagemaker.faults.inject(500, times=1, method="DescribeTrainingJob")
    sagemaker.faults.inject(500, times=5, method="ListTrainingJobs")

    dag_run, xcom = run_dag(
        lambda: WandbLaunchSageMakerOperator(
            task_id="train",
            image=IMAGE,
            resource_args=SEED_CONFIG,
            project="sm-tests",
            poll_interval=0.01,
            retries=1,
            retry_delay=timedelta(0),
        )
    )

    assert task_states(dag_run) == {"train": "success"}
    [job] = sagemaker.job_names()  # one job, not two
    result = xcom["train"]["return_value"]
    assert result["job_id"] == job and result["job_state"] == "succeeded"
    # the run id is the first try's, the one the job was given
    assert result["run_id"] == sagemaker.create_request(job)["Environment"]["WANDB_RUN_ID"]
    out = capfd.readouterr().out
    assert "could not read the job's status: reading it failed 5 times in a row" in out
    assert f"Reattaching to sagemaker job {job} from an earlier try (running)" in out
