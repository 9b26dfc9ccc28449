"""The fault matrix's DAGs (tests/e2e/test_fault_matrix_e2e.py): one SageMaker launch task, one retry.

Test-only: served to the e2e stack as a second DAG bundle beside example_dags/ (see tests/e2e/conftest.py).
Every run is the same; what makes a scenario is what the test does to the run (kill its worker, mark it, clear
it, fault the clouds under it). Job names and W&B run ids come from the run id, so a retry finds its job.

``fault_matrix_quiet`` streams no logs: its triggers never call the triggerer's supervisor (no log cursor XCom),
so a triggerer running only them has not built its in-process execution API when on_kill first needs it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_wandb_launch.operators import WandbLaunchSageMakerOperator

#: a retry waits this long: enough for an interrupted CreateTrainingJob to land before the retry submits again
RETRY_DELAY = timedelta(seconds=5)

QUEUE_CONFIG = {
    "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "OutputDataConfig": {"S3OutputPath": "s3://wandb-launch-tests/fault-matrix"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
}

for dag_id, stream_logs in (("fault_matrix", None), ("fault_matrix_quiet", False)):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=32,
        tags=["e2e"],
    ):
        WandbLaunchSageMakerOperator(
            task_id="train",
            image="123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-training:latest",
            entry_point=["python", "train.py"],
            resource_args=QUEUE_CONFIG,
            project="fault-matrix",
            run_config={"lr": 0.1},
            poll_interval=1,
            stream_logs=stream_logs,  # None: the backend's default (SageMaker streams CloudWatch lines)
            retries=1,
            retry_delay=RETRY_DELAY,
            execution_timeout=timedelta(hours=1),
        )
