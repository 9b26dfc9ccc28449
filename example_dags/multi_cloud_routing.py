"""Route each run to a cloud by its workload, as the three-queue setup of W&B's multi-cloud guide does.

- ``production`` -> SageMaker (default hardware ``8x A100-40GB`` x 4 instances: ml.p4d.24xlarge, 32 GPUs)
- ``experiment`` -> Vertex AI (default ``4x A100-40GB``: a2-highgpu-4g)
- ``compliance`` -> Azure ML (default ``1x V100``: Standard_NC6s_v3, in your own subscription and tenant)

Trigger it with params (the UI's form, or ``airflow dags trigger -c``), e.g.
``{"workload": "experiment", "hardware": "1x T4", "count": 1, "spot": true}``; ``hardware`` and ``count`` left
empty take the route's defaults. ``route`` (a branch task) checks the params, writes the chosen cloud's
``resource_args`` (``hardware.resource_args_for``: the route's base config plus the hardware) to XCom
``resource_args`` and picks that cloud's launch task; the other two are skipped. ``report`` runs after whichever
ran. A hardware request the chosen cloud has no equivalent of fails ``route`` with the closest offerings named,
before anything is submitted.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, NamedTuple

import pendulum
from airflow.sdk import Param, XComArg, dag, task

from airflow_wandb_launch.cost.hardware import resource_args_for
from airflow_wandb_launch.operators import (
    WandbLaunchAzureMLOperator,
    WandbLaunchOperator,
    WandbLaunchSageMakerOperator,
    WandbLaunchVertexAIOperator,
)

IMAGE = os.environ.get("WANDB_LAUNCH_EXAMPLE_IMAGE", "ghcr.io/my-company/ml-training:latest")
POLL_INTERVAL = float(os.environ.get("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "60"))


class Route(NamedTuple):
    """Where a workload runs, on what by default, and the queue config without the machines."""

    cloud: str
    operator: type[WandbLaunchOperator]
    hardware: str
    count: int
    base: dict[str, Any]


ROUTES: dict[str, Route] = {
    "production": Route(
        "sagemaker",
        WandbLaunchSageMakerOperator,
        "8x A100-40GB",
        4,
        {
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
            "ResourceConfig": {"VolumeSizeInGB": 500},
            "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/production-llm"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        },
    ),
    "experiment": Route(
        "vertex",
        WandbLaunchVertexAIOperator,
        "4x A100-40GB",
        1,
        {"spec": {"worker_pool_specs": [{}], "staging_bucket": "gs://my-company-ml-staging"}},
    ),
    "compliance": Route("azure-ml", WandbLaunchAzureMLOperator, "1x V100", 1, {"timeout": 86400}),
}


def launch_task_id(workload: str) -> str:
    """The launch task of a workload's route (``train_<workload>_on_<cloud>``).

    :param workload: a key of :data:`ROUTES`.
    """
    return f"train_{workload}_on_{ROUTES[workload].cloud.replace('-', '_')}"


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["wandb-launch", "multi-cloud"],
    params={
        "workload": Param("experiment", enum=list(ROUTES), description="production, experiment or compliance"),
        "hardware": Param(None, type=["null", "string"], description="e.g. '1x T4'; empty: the route's default"),
        "count": Param(None, type=["null", "integer"], minimum=1, description="machines; empty: the route's"),
        "spot": Param(False, type="boolean", description="run on spot capacity"),
    },
)
def multi_cloud_routing():
    @task.branch
    def route(params: dict[str, Any], ti: Any = None) -> str:
        """Pick the launch task for ``params.workload``; write its cloud's resource_args to XCom."""
        workload = params["workload"]
        chosen = ROUTES[workload]
        hardware, count = params.get("hardware") or chosen.hardware, params.get("count") or chosen.count
        args = resource_args_for(chosen.cloud, hardware, chosen.base, count=int(count), spot=bool(params["spot"]))
        ti.xcom_push(key="resource_args", value=args)
        print(f"{workload} -> {chosen.cloud} on {count} x {hardware!r}")
        return launch_task_id(workload)

    routed = route()
    resource_args = XComArg(routed.operator, key="resource_args")
    launches = [
        ROUTES[workload].operator(
            task_id=launch_task_id(workload),
            image=IMAGE,
            entry_point=["python", "train.py", "--epochs", "30"],
            resource_args=resource_args,
            project="multi-cloud-routing",
            tags=[workload],
            run_config={"lr": 0.1, "workload": workload},
            poll_interval=POLL_INTERVAL,
            execution_timeout=timedelta(hours=26),
        )
        for workload in ROUTES
    ]

    @task(trigger_rule="none_failed_min_one_success")
    def report(ti: Any = None) -> dict[str, Any]:
        """The result of whichever launch ran."""
        results = ti.xcom_pull(task_ids=[launch_task_id(w) for w in ROUTES])
        result = next(r for r in (results or []) if r)
        print(f"{result['resource']} job {result['job_id']}: {result['summary']}; cost {result['cost_usd']}")
        return result

    routed >> launches
    launches >> report()


multi_cloud_routing()
