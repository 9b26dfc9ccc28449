"""Train on Azure ML through W&B Launch: a GPU cluster job, then a serverless spot job, each with its W&B run.

The job configs are the YAML files beside this DAG (``azure.ai.ml.command()`` keyword arguments).
Connections: ``azure_default`` (type ``azure``: client id/secret with a ``tenantId`` extra, or managed/workload
identity; extras ``subscriptionId``, ``resource_group``, ``workspace_name``) and ``wandb_default`` (API key as
password).
Both tasks defer while Azure ML runs them: no worker slot is held.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_wandb_launch.operators import WandbLaunchAzureMLOperator

IMAGE = os.environ.get("WANDB_LAUNCH_EXAMPLE_IMAGE", "myregistry.azurecr.io/ml-training:latest")
POLL_INTERVAL = float(os.environ.get("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "60"))


@dag(
    schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["wandb-launch", "azure-ml"]
)
def azure_ml_training():
    train = WandbLaunchAzureMLOperator(
        task_id="train_gpu_cluster",
        image=IMAGE,
        entry_point=["python", "train.py", "--epochs", "30"],
        resource_args="azure_ml_gpu_cluster.yaml",
        project="azure-ml-training",
        run_config={"lr": 0.2, "model_name": "azure-model"},
        poll_interval=POLL_INTERVAL,
        execution_timeout=timedelta(hours=26),  # the job is canceled if it runs past this
    )
    fine_tune = WandbLaunchAzureMLOperator(
        task_id="fine_tune_serverless_spot",
        image=IMAGE,
        entry_point=["python", "train.py", "--epochs", "5", "--resume-from", "model:latest"],
        resource_args="azure_ml_serverless_spot.yaml",
        project="azure-ml-training",
        run_config={"lr": 0.02},
        poll_interval=POLL_INTERVAL,
        retries=2,  # a preempted spot job fails the try; the retry submits a fresh job
    )

    @task
    def report(trained: dict, tuned: dict) -> list[str]:
        """Downstream tasks get each run and its artifacts through XCom."""
        uris = [a["uri"] for result in (trained, tuned) for a in result["artifacts"] if a["type"] == "model"]
        for result in (trained, tuned):
            print(f"{result['job_id']}: run {result['run_path']} ({result['run_state']}) {result['summary']}")
        return uris

    train >> fine_tune
    report(train.output, fine_tune.output)


azure_ml_training()
