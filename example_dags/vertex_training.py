"""Train on Vertex AI through W&B Launch, then hand the model artifact to the next task.

The queue config is the YAML file beside this DAG, as you would copy it from a W&B Launch queue
(``vertex_queue_configs/`` holds a T4, a 4xA100 and an 8-node 8xA100 variant).
Connections: ``google_cloud_default`` (credentials; extras ``project`` and ``region``) and
``wandb_default`` (API key as password). The task defers while Vertex trains: no worker slot is held.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_wandb_launch.operators import WandbLaunchVertexAIOperator

IMAGE = os.environ.get("WANDB_LAUNCH_EXAMPLE_IMAGE", "us-west1-docker.pkg.dev/my-project/ml-images/train:latest")
POLL_INTERVAL = float(os.environ.get("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "60"))
QUEUE_CONFIG = os.environ.get("WANDB_LAUNCH_EXAMPLE_VERTEX_CONFIG", "vertex_queue_config.yaml")


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["wandb-launch", "vertex"])
def vertex_training():
    train = WandbLaunchVertexAIOperator(
        task_id="train",
        image=IMAGE,
        entry_point=["python", "train.py", "--epochs", "30"],
        resource_args=QUEUE_CONFIG,
        project="vertex-training",
        run_config={"lr": 0.2, "model_name": "vertex-model"},
        poll_interval=POLL_INTERVAL,
        execution_timeout=timedelta(hours=26),  # the CustomJob is cancelled if it runs past this
    )

    @task
    def register(result: dict) -> list[str]:
        """Downstream tasks get the run and its artifacts through XCom."""
        uris = [artifact["uri"] for artifact in result["artifacts"] if artifact["type"] == "model"]
        print(f"run {result['run_path']} ({result['run_state']}) logged {uris}; loss {result['summary'].get('loss')}")
        return uris

    register(train.output)


vertex_training()
