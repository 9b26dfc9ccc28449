"""Real clouds: one small job per cloud through the launch operator. Skipped unless its credentials are set.

Each test needs a W&B API key in ``SYSTEM_WANDB_API_KEY`` (the suite clears ``WANDB_API_KEY`` for isolation;
runs go to ``WANDB_ENTITY``/``wandb-launch-system-tests``) and:

- SageMaker: AWS credentials in the environment, ``SYSTEM_SAGEMAKER_ROLE_ARN``, ``SYSTEM_SAGEMAKER_IMAGE``
  (an image whose entry point runs ``wandb.init()``), ``SYSTEM_SAGEMAKER_OUTPUT`` (s3://...).
- Vertex AI: application default credentials, ``SYSTEM_VERTEX_PROJECT``, ``SYSTEM_VERTEX_REGION``,
  ``SYSTEM_VERTEX_STAGING_BUCKET`` (gs://...), ``SYSTEM_VERTEX_IMAGE``.
- Azure ML: ``AZURE_CLIENT_ID``/``AZURE_CLIENT_SECRET``/``AZURE_TENANT_ID``, ``SYSTEM_AZURE_SUBSCRIPTION``,
  ``SYSTEM_AZURE_RESOURCE_GROUP``, ``SYSTEM_AZURE_WORKSPACE``, ``SYSTEM_AZURE_IMAGE``.

They cost money (a few cents each, CPU instances): run them on purpose, ``pytest tests/system -m system``.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers.airflow import run_dag, task_states

pytestmark = [pytest.mark.system, pytest.mark.usefixtures("airflow_db")]
PROJECT = "wandb-launch-system-tests"


def needs(*names: str):
    missing = [n for n in ("SYSTEM_WANDB_API_KEY", *names) if not os.environ.get(n)]
    return pytest.mark.skipif(bool(missing), reason=f"real-cloud test: set {', '.join(missing)}")


@pytest.fixture
def real_wandb(monkeypatch):
    conn = {
        "conn_type": "wandb",
        "password": os.environ["SYSTEM_WANDB_API_KEY"],
        "extra": {"entity": os.environ.get("WANDB_ENTITY", "")},
    }
    monkeypatch.setenv("AIRFLOW_CONN_WANDB_DEFAULT", json.dumps(conn))


def assert_succeeded(dag_run, xcom, task_id: str = "train") -> None:
    assert task_states(dag_run) == {task_id: "success"}
    result = xcom[task_id]["return_value"]
    assert result["job_state"] == "succeeded" and result["run_state"] == "finished" and result["run_url"]


@needs("SYSTEM_SAGEMAKER_ROLE_ARN", "SYSTEM_SAGEMAKER_IMAGE", "SYSTEM_SAGEMAKER_OUTPUT")
def test_sagemaker(real_wandb):
    from airflow_wandb_launch.operators import WandbLaunchSageMakerOperator

    config = {
        "RoleArn": os.environ["SYSTEM_SAGEMAKER_ROLE_ARN"],
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "OutputDataConfig": {"S3OutputPath": os.environ["SYSTEM_SAGEMAKER_OUTPUT"]},
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
    }
    dag_run, xcom = run_dag(
        lambda: WandbLaunchSageMakerOperator(
            task_id="train",
            image=os.environ["SYSTEM_SAGEMAKER_IMAGE"],
            resource_args=config,
            project=PROJECT,
            poll_interval=30,
        )
    )
    assert_succeeded(dag_run, xcom)


@needs("SYSTEM_VERTEX_PROJECT", "SYSTEM_VERTEX_REGION", "SYSTEM_VERTEX_STAGING_BUCKET", "SYSTEM_VERTEX_IMAGE")
def test_vertex(real_wandb, monkeypatch):
    from airflow_wandb_launch.operators import WandbLaunchVertexAIOperator

    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "google_cloud_platform"}))
    config = {
        "spec": {
            "worker_pool_specs": [
                {
                    "machine_spec": {"machine_type": "n1-standard-4"},
                    "replica_count": 1,
                    "container_spec": {"image_uri": "${image_uri}"},
                }
            ],
            "staging_bucket": os.environ["SYSTEM_VERTEX_STAGING_BUCKET"],
        },
        "run": {"restart_job_on_worker_restart": False},
    }
    dag_run, xcom = run_dag(
        lambda: WandbLaunchVertexAIOperator(
            task_id="train",
            image=os.environ["SYSTEM_VERTEX_IMAGE"],
            resource_args=config,
            project=PROJECT,
            project_id=os.environ["SYSTEM_VERTEX_PROJECT"],
            region=os.environ["SYSTEM_VERTEX_REGION"],
            poll_interval=30,
        )
    )
    assert_succeeded(dag_run, xcom)


@needs(
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "SYSTEM_AZURE_SUBSCRIPTION",
    "SYSTEM_AZURE_RESOURCE_GROUP",
    "SYSTEM_AZURE_WORKSPACE",
    "SYSTEM_AZURE_IMAGE",
)
def test_azure_ml(real_wandb, monkeypatch):
    from airflow_wandb_launch.operators import WandbLaunchAzureMLOperator

    conn = {
        "conn_type": "azure",
        "login": os.environ["AZURE_CLIENT_ID"],
        "password": os.environ["AZURE_CLIENT_SECRET"],
        "extra": {"tenantId": os.environ["AZURE_TENANT_ID"]},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_DEFAULT", json.dumps(conn))
    dag_run, xcom = run_dag(
        lambda: WandbLaunchAzureMLOperator(
            task_id="train",
            image=os.environ["SYSTEM_AZURE_IMAGE"],
            entry_point="python train.py",
            resource_args={"instance_type": "Standard_D2s_v3", "instance_count": 1},
            project=PROJECT,
            subscription_id=os.environ["SYSTEM_AZURE_SUBSCRIPTION"],
            resource_group=os.environ["SYSTEM_AZURE_RESOURCE_GROUP"],
            workspace_name=os.environ["SYSTEM_AZURE_WORKSPACE"],
            poll_interval=30,
        )
    )
    assert_succeeded(dag_run, xcom)
