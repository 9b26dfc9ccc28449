"""example_dags/scheduled_retraining.py end to end through dag.test(), against the W&B fake and SageMaker (moto).

The DAG is imported with ``WANDB_RETRAINING_RESOURCE=sagemaker``: its one switch from training on the worker to
training on a cloud. That is what lets the suite run it: a local-process trainer with an API key would upload
its run through wandb-core's write protocol, which the W&B fake does not emulate (it answers reads only).
The SageMaker job's container is played by ``TrainingContainer``, which logs the run and its ``model`` version
(with the ``loss`` metadata ``scripts/train.py`` logs) to the fake; the sensor, the evaluation and the promotion
are the DAG's own code talking to the fake.
"""

from __future__ import annotations

import importlib
import itertools

import pendulum
import pytest

from tests.conftest import ENTITY
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.airflow import task_states, write_to_db, xcoms

pytestmark = pytest.mark.usefixtures("airflow_db")
_projects = itertools.count()


@pytest.fixture
def example(monkeypatch, container):
    """The example module, imported for a project of its own, training on SageMaker."""
    project = f"retraining-{next(_projects)}-{pendulum.now().int_timestamp}"
    monkeypatch.setenv("WANDB_RETRAINING_ENTITY", ENTITY)
    monkeypatch.setenv("WANDB_RETRAINING_PROJECT", project)
    monkeypatch.setenv("WANDB_RETRAINING_RESOURCE", "sagemaker")
    monkeypatch.setenv("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "0.2")
    module = importlib.reload(importlib.import_module("example_dags.scheduled_retraining"))
    dags = {d.dag_id: d for d in (module.retraining_dag, module.deploy_dag)}
    for dag in dags.values():
        write_to_db(dag)
    yield module, dags, project
    container.server.versions.reset()


def trains_to(container, loss: float) -> None:
    """The next SageMaker job logs a run whose new ``model`` version has this loss."""
    container.summary = {"loss": loss}
    container.artifacts = [{"name": "model", "type": "model", "metadata": {"loss": loss}}]


def production(fake, project: str) -> str | None:
    return fake.versions.alias_version(ENTITY, project, "model", "production")


def asset_events(uri: str) -> list[dict]:
    """The extra of each asset event of the Asset ``uri``, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.uri == uri)
        ).all()
        return [dict(row.extra or {}) for row in sorted(rows, key=lambda r: r.id)]


def run(dags, sagemaker):
    sagemaker.script(Lifecycle(("InProgress", 2), "Completed"))
    dag = dags["scheduled_retraining"]
    dag_run = dag.test()
    return dag_run, xcoms(dag.dag_id, dag_run.run_id)


def test_a_better_model_is_promoted_and_announced(example, sagemaker, container):
    module, dags, project = example
    fake = container.server
    fake.versions.add(ENTITY, project, "dataset", metadata={"rows": 1000})
    fake.versions.add(ENTITY, project, "model", type="model", metadata={"loss": 0.5})  # v0, in production
    fake.versions.set_alias(ENTITY, project, "model", "v0", "production")
    trains_to(container, 0.1)

    dag_run, xcom = run(dags, sagemaker)

    assert task_states(dag_run) == {
        "wait_for_dataset": "success",
        "train": "success",
        "evaluate": "success",
        "promote": "success",
    }
    assert xcom["wait_for_dataset"]["return_value"]["version"] == "v0"
    assert container.envs[-1]["WANDB_CONFIG"].count(f"{ENTITY}/{project}/dataset:v0") == 1  # trained on it
    evaluation = xcom["evaluate"]["return_value"]
    assert evaluation == {
        "candidate": f"{ENTITY}/{project}/model:v1",
        "candidate_metric": 0.1,
        "production": f"{ENTITY}/{project}/model:v0",
        "production_metric": 0.5,
        "better": True,
    }
    assert production(fake, project) == "v1"  # the alias moved
    run_path = xcom["train"]["run_path"]
    [event] = asset_events(module.MODEL.uri)
    assert event["version"] == "v1" and event["run_id"] == xcom["train"]["run_id"] and event["run_path"] == run_path
    assert event["uri"] == f"wandb-artifact://{ENTITY}/{project}/model:v1"
    assert asset_events(module.PRODUCTION.uri) == [{"version": "v1", "previous": f"{ENTITY}/{project}/model:v0"}]


def test_a_worse_model_is_not_promoted(example, sagemaker, container):
    module, dags, project = example
    fake = container.server
    fake.versions.add(ENTITY, project, "dataset")
    fake.versions.add(ENTITY, project, "model", type="model", metadata={"loss": 0.05})
    fake.versions.set_alias(ENTITY, project, "model", "v0", "production")
    trains_to(container, 0.3)

    dag_run, xcom = run(dags, sagemaker)

    assert task_states(dag_run) == {
        "wait_for_dataset": "success",
        "train": "success",
        "evaluate": "success",
        "promote": "skipped",
    }
    assert xcom["evaluate"]["return_value"]["better"] is False
    assert production(fake, project) == "v0"  # the alias stayed
    assert [e["version"] for e in asset_events(module.MODEL.uri)] == ["v1"]  # a new version all the same
    assert asset_events(module.PRODUCTION.uri) == []


def test_first_model_goes_to_production_and_a_run_without_a_model_emits_no_event(example, sagemaker, container):
    module, dags, project = example
    fake = container.server
    fake.versions.add(ENTITY, project, "dataset")
    trains_to(container, 0.2)
    first, _ = run(dags, sagemaker)
    assert task_states(first)["promote"] == "success" and production(fake, project) == "v0"

    # a new dataset version; this time the job's run logs no model: train succeeds, no asset event
    fake.versions.add(ENTITY, project, "dataset")
    container.artifacts = []
    second, xcom = run(dags, sagemaker)
    assert task_states(second) == {
        "wait_for_dataset": "success",
        "train": "success",
        "evaluate": "failed",
        "promote": "upstream_failed",
    }
    assert xcom["wait_for_dataset"]["return_value"]["version"] == "v1"
    assert [e["version"] for e in asset_events(module.MODEL.uri)] == ["v0"]
