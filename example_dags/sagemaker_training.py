"""Train on SageMaker through W&B Launch, then hand the model artifact to the next task.

The queue config is the YAML file beside this DAG, as you would copy it from a W&B Launch queue.
Connections: ``aws_default`` (SageMaker) and ``wandb_default`` (API key as password).
The task defers while SageMaker trains: no worker slot is held.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_wandb_launch.operators import WandbLaunchSageMakerOperator

IMAGE = os.environ.get("WANDB_LAUNCH_EXAMPLE_IMAGE", "123456789012.dkr.ecr.us-west-2.amazonaws.com/ml-training:latest")
POLL_INTERVAL = float(os.environ.get("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "60"))


@dag(
    schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["wandb-launch", "sagemaker"]
)
def sagemaker_training():
    train = WandbLaunchSageMakerOperator(
        task_id="train",
        image=IMAGE,
        entry_point=["python", "train.py", "--epochs", "30"],
        resource_args="sagemaker_queue_config.yaml",
        project="sagemaker-training",
        run_config={"lr": 0.2, "model_name": "sagemaker-model"},
        poll_interval=POLL_INTERVAL,
        execution_timeout=timedelta(hours=26),  # the job is stopped if it runs past this
    )

    @task
    def register(result: dict) -> list[str]:
        """Downstream tasks get the run and its artifacts through XCom."""
        uris = [artifact["uri"] for artifact in result["artifacts"] if artifact["type"] == "model"]
        print(f"run {result['run_path']} ({result['run_state']}) logged {uris}; loss {result['summary'].get('loss')}")
        return uris

    register(train.output)


sagemaker_training()
