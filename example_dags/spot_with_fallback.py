"""Train on SageMaker managed spot; if spot capacity does not come, on demand; if SageMaker has no capacity at
all, on Vertex AI — always as the same W&B run.

The seed's advice for long runs is spot with checkpoints. ``fallbacks`` are tried in order when the job fails for
capacity or quota, a spot job waited past ``MaxWaitTimeInSeconds`` (here an hour beyond its run time), or the job
stayed pending past ``pending_timeout``:

1. ``{"hardware": "8x A100", "spot": False}``: the same config on demand (``spot`` off drops the spot wait too);
2. Vertex AI: ``vertex_queue_config.yaml`` with the same hardware written in (``a2-highgpu-8g``), on demand.

``"8x A100"`` names no memory: each cloud's 8x A100 machine is taken (the 40 GB one where there are both).

Every attempt gets the same ``WANDB_RUN_ID`` with ``WANDB_RESUME=allow``, so a training script that checkpoints
resumes the run where the last attempt stopped. The job's own failures (an ``AlgorithmError``, a bad image) never
fall back. ``report`` prints the attempts and their summed cost from the LaunchResult.

Connections: ``aws_default``, ``google_cloud_default`` (extras ``project``, ``region``) and ``wandb_default``.
The training output shows in the task log while the job runs (``stream_logs``, on by default for the clouds).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_wandb_launch.operators import WandbLaunchSageMakerOperator

IMAGE = os.environ.get("WANDB_LAUNCH_EXAMPLE_IMAGE", "123456789012.dkr.ecr.us-west-2.amazonaws.com/ml-training:latest")
POLL_INTERVAL = float(os.environ.get("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "60"))

#: the SageMaker queue config, spot on: 8 A100s (SageMaker's A100 types have 8), checkpoints for a resume
SPOT_CONFIG = {
    "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
    "ResourceConfig": {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 1, "VolumeSizeInGB": 200},
    "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/sagemaker-outputs"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 90000},
    "EnableManagedSpotTraining": True,
    "CheckpointConfig": {"S3Uri": "s3://my-bucket/checkpoints", "LocalPath": "/opt/ml/checkpoints"},
}
FALLBACKS = [
    {"hardware": "8x A100", "spot": False},  # the same A100s on demand
    {"resource": "vertex", "resource_args": "vertex_queue_config.yaml", "hardware": "8x A100"},
]


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["wandb-launch", "sagemaker", "vertex", "spot"],
)
def spot_with_fallback():
    train = WandbLaunchSageMakerOperator(
        task_id="train",
        image=IMAGE,
        entry_point=["python", "train.py", "--epochs", "30", "--resume-from", "/opt/ml/checkpoints"],
        resource_args=SPOT_CONFIG,
        fallbacks=FALLBACKS,
        pending_timeout=timedelta(hours=2),  # no machines within two hours: the next fallback
        project="spot-with-fallback",
        run_config={"lr": 0.1},
        poll_interval=POLL_INTERVAL,
        execution_timeout=timedelta(hours=30),
    )

    @task
    def report(result: dict) -> dict:
        """Where the run trained, and what every attempt cost."""
        for attempt in result["attempts"]:
            print(
                f"attempt {attempt['attempt']}: {attempt['resource']} {attempt['job_id']} {attempt['job_state']}"
                f" ({attempt['reason'] or 'ran'}), ${attempt['cost_usd'] or 0:.2f}"
            )
        print(f"run {result['run_path']} finished on {result['resource']}; total ${result['cost_usd'] or 0:.2f}")
        return {"resource": result["resource"], "attempts": len(result["attempts"]), "cost_usd": result["cost_usd"]}

    report(train.output)


spot_with_fallback()
