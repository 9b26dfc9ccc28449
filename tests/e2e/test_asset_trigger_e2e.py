"""A launch run's model Asset event starts ``deploy_model`` through a real scheduler (scheduled_retraining).

``scheduled_retraining`` trains on SageMaker (moto; the container is ``TrainingContainer``, logging the run and a
new ``model`` version to the W&B fake). Its ``train`` task has the outlet ``wandb-artifact://.../model``: the
asset event it emits, with the version and run in its extra, must make the scheduler create a ``deploy_model``
run, whose task reads them from ``triggering_asset_events``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import ENTITY
from tests.e2e.conftest import RETRAINING_PROJECT
from tests.e2e.stack import AirflowStack, StackError
from tests.emulators.lifecycle import Lifecycle

pytestmark = pytest.mark.e2e

PROJECT = RETRAINING_PROJECT
RETRAIN, DEPLOY = "scheduled_retraining", "deploy_model"
SLOW = 6  # InProgress reads before Completed: see test_sagemaker_e2e.py (apache/airflow#67287)


@pytest.fixture(scope="module")
def stack(airflow_stack: AirflowStack) -> Iterator[AirflowStack]:
    """The session's stack, with the retraining example set to train on SageMaker (see tests/e2e/conftest.py)."""
    airflow_stack.wait_for_dag(RETRAIN)
    airflow_stack.wait_for_dag(DEPLOY)
    yield airflow_stack


def wait_for_first_run(stack: AirflowStack, dag_id: str, timeout: float = 120) -> dict:
    """The first dag run of ``dag_id`` the scheduler creates."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = stack.api("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"]
        if runs:
            return runs[0]
        time.sleep(0.5)
    raise StackError(f"no run of {dag_id} within {timeout:.0f} s\n{stack.log_tails()}")


def test_the_model_asset_event_starts_deploy_model_with_the_version_in_its_extra(stack, sagemaker, container):
    fake = container.server
    fake.versions.add(ENTITY, PROJECT, "dataset")
    fake.versions.add(ENTITY, PROJECT, "model", type="model", metadata={"loss": 0.5})
    fake.versions.set_alias(ENTITY, PROJECT, "model", "v0", "production")
    container.artifacts = [{"name": "model", "type": "model", "metadata": {"loss": 0.1}}]
    sagemaker.script(Lifecycle(("InProgress", SLOW), "Completed"))

    stack.unpause(DEPLOY)
    stack.unpause(RETRAIN)  # catchup=False: the scheduler runs the latest interval at once
    retrain_id = wait_for_first_run(stack, RETRAIN)["dag_run_id"]
    retrain = stack.wait_for_dag_run(RETRAIN, retrain_id, timeout=240)
    tis = {t: ti["state"] for t, ti in stack.task_instances(RETRAIN, retrain_id).items()}
    assert retrain["state"] == "success", tis
    assert tis == dict.fromkeys(("wait_for_dataset", "train", "evaluate", "promote"), "success")
    train_run_id = stack.xcom(RETRAIN, retrain_id, "train", "run_id")

    deploy = wait_for_first_run(stack, DEPLOY)
    assert deploy["run_type"] == "asset_triggered"
    deploy = stack.wait_for_dag_run(DEPLOY, deploy["dag_run_id"], timeout=120)
    assert deploy["state"] == "success"
    assert stack.xcom(DEPLOY, deploy["dag_run_id"], "deploy") == [
        {
            "version": "v1",
            "uri": f"wandb-artifact://{ENTITY}/{PROJECT}/model:v1",
            "run_id": train_run_id,
            "run_path": f"{ENTITY}/{PROJECT}/{train_run_id}",
        }
    ]
    assert fake.versions.alias_version(ENTITY, PROJECT, "model", "production") == "v1"
