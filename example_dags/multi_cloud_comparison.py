"""One training job on SageMaker, Vertex AI and Azure ML on equivalent hardware; the best run picked.

Three launch tasks come from one helper: a base queue config per cloud (everything but the machines) plus one
hardware request (``"1x T4"``: ml.g4dn.xlarge, n1-standard-8 + 1 T4, Standard_NC4as_T4_v3), written in by
``hardware.resource_args_for``. All three runs share one W&B group (the DAG run), so W&B shows them side by side.
Each LaunchResult carries the run's estimated ``cost_usd`` (also in its W&B summary as ``airflow/cost_usd``).

``compare`` runs when all three are done, whatever their outcome (``trigger_rule="all_done"``): it ranks the runs
by ``loss`` (lower is better), then cost, then duration, logs the table, tags the best run ``best-loss`` in W&B
and returns the table in XCom. A cloud that failed is listed with its reason (and what it cost) instead of
blocking the others.

Connections: ``aws_default``, ``google_cloud_default`` (extras ``project``, ``region``), ``azure_default``
(extras ``subscriptionId``, ``resource_group``, ``workspace_name``) and ``wandb_default``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag

from airflow_wandb_launch.cost.hardware import resource_args_for
from airflow_wandb_launch.operators import (
    WandbCompareRunsOperator,
    WandbLaunchAzureMLOperator,
    WandbLaunchOperator,
    WandbLaunchSageMakerOperator,
    WandbLaunchVertexAIOperator,
)

IMAGE = os.environ.get("WANDB_LAUNCH_EXAMPLE_IMAGE", "ghcr.io/my-company/ml-training:latest")
POLL_INTERVAL = float(os.environ.get("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "60"))
HARDWARE = os.environ.get("WANDB_LAUNCH_EXAMPLE_HARDWARE", "1x T4")
PROJECT = "multi-cloud-comparison"
METRIC = "loss"

#: each cloud's queue config without the machines (resource_args_for writes those in)
BASE_CONFIGS: dict[str, dict[str, Any]] = {
    "sagemaker": {
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
        "ResourceConfig": {"VolumeSizeInGB": 50},
        "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/sagemaker-outputs"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    },
    "vertex": {
        "spec": {
            "worker_pool_specs": [{"container_spec": {"image_uri": "${image_uri}"}}],
            "staging_bucket": "gs://my-company-ml-staging",
        },
        "run": {"restart_job_on_worker_restart": False},
    },
    "azure-ml": {"timeout": 86400},  # serverless compute: the VM size is the hardware's
}
OPERATORS: dict[str, type[WandbLaunchOperator]] = {
    "sagemaker": WandbLaunchSageMakerOperator,
    "vertex": WandbLaunchVertexAIOperator,
    "azure-ml": WandbLaunchAzureMLOperator,
}


def train_on(cloud: str) -> WandbLaunchOperator:
    """The launch task for one cloud: the same job, image, config and W&B group on each.

    :param cloud: ``sagemaker``, ``vertex`` or ``azure-ml``.
    """
    return OPERATORS[cloud](
        task_id=f"train_on_{cloud.replace('-', '_')}",
        image=IMAGE,
        entry_point=["python", "train.py", "--epochs", "30"],
        resource_args=resource_args_for(cloud, HARDWARE, BASE_CONFIGS[cloud]),
        project=PROJECT,
        group="comparison-{{ run_id }}",
        tags=["multi-cloud", HARDWARE.replace(" ", "")],
        run_config={"lr": 0.1, "hardware": HARDWARE, "cloud": cloud},
        poll_interval=POLL_INTERVAL,
        execution_timeout=timedelta(hours=26),
    )


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["wandb-launch", "multi-cloud"],
)
def multi_cloud_comparison():
    trains = [train_on(cloud) for cloud in OPERATORS]
    compare = WandbCompareRunsOperator(
        task_id="compare",
        launch_task_ids=[t.task_id for t in trains],
        metric=METRIC,
        mode="min",
        tie_breakers=("cost_usd", "duration"),
        trigger_rule="all_done",  # a failed cloud does not block the comparison of the others
    )
    trains >> compare


multi_cloud_comparison()
