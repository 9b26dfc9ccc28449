"""WandbRunSensor and WandbArtifactSensor through dag.test(), against the W&B fake.

Changes on the W&B side are scripted to happen after a number of reads of the sensor's query
(``server.versions.after_reads``), so "it waits, then it sees the change" is deterministic.
"""

from __future__ import annotations

import itertools
import json

import pendulum
import pytest

from airflow_wandb_launch.sensors import WandbArtifactSensor, WandbRunSensor
from airflow_wandb_launch.triggers.wandb import WandbArtifactTrigger, WandbRunTrigger
from tests.conftest import ENTITY
from tests.helpers.airflow import run_dag, task_states, write_to_db, xcoms

pytestmark = pytest.mark.usefixtures("airflow_db")

_projects = itertools.count()


@pytest.fixture
def fake(wandb_conn):
    """The W&B fake behind ``wandb_default``; scripted changes are dropped after the test."""
    yield wandb_conn
    wandb_conn.versions.reset()


@pytest.fixture
def project() -> str:
    """A project of its own per test (the fake lives for the session)."""
    return f"sensors-{next(_projects)}-{pendulum.now().int_timestamp}"


@pytest.fixture
def triggers(monkeypatch):
    """The kwargs of every W&B trigger a sensor deferred to, as they would be stored in the metadata DB."""
    seen: list[dict] = []
    for cls in (WandbRunTrigger, WandbArtifactTrigger):
        original = cls.serialize

        def recording(self, _original=original):
            classpath, kwargs = _original(self)
            seen.append({"classpath": classpath, **kwargs})
            return classpath, kwargs

        monkeypatch.setattr(cls, "serialize", recording)
    return seen


def run_sensor(**kwargs):
    return lambda: WandbRunSensor(task_id="wait", poll_interval=0.1, **kwargs)


def artifact_sensor(**kwargs):
    return lambda: WandbArtifactSensor(task_id="wait", poll_interval=0.1, **kwargs)


# --- WandbRunSensor ----------------------------------------------------------------------------------------------


def test_run_sensor_defers_until_the_run_finishes_and_returns_the_launch_result_shape(fake, project, triggers):
    fake.add_run(
        ENTITY,
        project,
        "run1",
        state="running",
        summary={"loss": 0.2},
        logged_artifacts=[{"name": "model", "type": "model"}],
    )
    fake.versions.after_reads("AirflowRunsState", 3, lambda: fake.set_run_state(ENTITY, project, "run1", "finished"))
    dag_run, xcom = run_dag(run_sensor(run_path=f"{project}/run1"))  # entity from the connection

    assert task_states(dag_run) == {"wait": "success"}
    result = xcom["wait"]["return_value"]
    assert {k: result[k] for k in ("resource", "job_id", "job_url", "job_state")} == dict.fromkeys(
        ("resource", "job_id", "job_url", "job_state")
    )
    assert result["run_id"] == "run1" and result["run_path"] == f"{ENTITY}/{project}/run1"
    assert result["run_state"] == "finished" and result["summary"] == {"loss": 0.2}
    assert result["run_url"].endswith(f"/{ENTITY}/{project}/runs/run1")
    assert [a["uri"] for a in result["artifacts"]] == [f"wandb-artifact://{ENTITY}/{project}/model:v0"]
    [trigger] = triggers  # it really deferred
    assert trigger == {
        "classpath": "airflow_wandb_launch.triggers.wandb.WandbRunTrigger",
        "run_path": f"{ENTITY}/{project}/run1",
        "wandb_conn_id": "wandb_default",
        "poll_interval": 0.1,
    }
    assert fake.api_key not in json.dumps(triggers)


def test_run_sensor_fails_the_task_when_the_run_crashed(fake, project, capfd):
    fake.add_run(ENTITY, project, "run2", state="running")
    fake.versions.after_reads("AirflowRunsState", 2, lambda: fake.set_run_state(ENTITY, project, "run2", "crashed"))
    dag_run, _ = run_dag(run_sensor(run_path=f"{ENTITY}/{project}/run2", retries=2))

    assert task_states(dag_run) == {"wait": "failed"}
    assert f"W&B run {ENTITY}/{project}/run2 ended 'crashed', not 'finished'" in capfd.readouterr().out


def test_run_sensor_without_require_finished_returns_a_failed_run(fake, project):
    fake.add_run(ENTITY, project, "run3", state="failed", summary={"loss": 9.0})
    dag_run, xcom = run_dag(run_sensor(run_path=f"{ENTITY}/{project}/run3", require_finished=False))
    assert task_states(dag_run) == {"wait": "success"}
    assert xcom["wait"]["return_value"]["run_state"] == "failed"


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_run_sensor_in_poke_and_reschedule_modes(fake, project, triggers, mode):
    fake.add_run(ENTITY, project, "run4", state="running", summary={"acc": 0.9})
    fake.versions.after_reads("AirflowRunState", 3, lambda: fake.set_run_state(ENTITY, project, "run4", "finished"))
    sensor = run_sensor(run_path=f"{ENTITY}/{project}/run4", deferrable=False, mode=mode, poke_interval=0.2)
    dag_run, xcom = run_dag(sensor)

    assert task_states(dag_run) == {"wait": "success"}
    assert xcom["wait"]["return_value"]["summary"] == {"acc": 0.9}
    assert triggers == [] and fake.versions.reads["AirflowRunState"] >= 3


# --- WandbArtifactSensor -----------------------------------------------------------------------------------------


def build_dag(dag_id: str, make):
    from airflow.sdk import DAG

    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
        make()
    write_to_db(dag)
    return dag


def test_artifact_sensor_returns_the_latest_first_then_waits_for_a_newer_version(fake, project, triggers):
    for rows in (100, 200):
        fake.versions.add(ENTITY, project, "dataset", metadata={"rows": rows})
    dag = build_dag(f"artifact_sensor_{project}", artifact_sensor(artifact=f"{project}/dataset"))

    first = dag.test()
    seen = xcoms(dag.dag_id, first.run_id)["wait"]["return_value"]
    assert task_states(first) == {"wait": "success"}
    assert seen["uri"] == f"wandb-artifact://{ENTITY}/{project}/dataset:v1" and seen["version"] == "v1"
    assert seen["path"] == f"{ENTITY}/{project}/dataset:v1" and seen["aliases"] == ["latest"]
    assert seen["type"] == "dataset" and seen["digest"] and seen["created_at"]
    assert triggers == []  # a version was there already: no deferral

    reads = fake.versions.reads["AirflowArtifactAlias"]
    fake.versions.after_reads("AirflowArtifactAlias", 4, lambda: fake.versions.add(ENTITY, project, "dataset"))
    second = dag.test()
    found = xcoms(dag.dag_id, second.run_id)["wait"]["return_value"]
    assert task_states(second) == {"wait": "success"}
    assert found["version"] == "v2" and found["uri"].endswith("dataset:v2")
    assert fake.versions.reads["AirflowArtifactAlias"] - reads >= 4  # it waited for the new version
    [trigger] = triggers
    assert trigger["newer_than"] == 1 and trigger["name"] == "dataset" and trigger["entity"] == ENTITY
    assert fake.api_key not in json.dumps(triggers)


def test_artifact_sensor_follows_an_alias(fake, project):
    for _ in range(3):
        fake.versions.add(ENTITY, project, "model", type="model")
    fake.versions.set_alias(ENTITY, project, "model", "v0", "production")
    moved = lambda: fake.versions.set_alias(ENTITY, project, "model", "v2", "production")  # noqa: E731
    fake.versions.after_reads("AirflowArtifactAlias", 3, moved)
    sensor = artifact_sensor(artifact=f"{ENTITY}/{project}/model", alias="production", newer_than="v0")
    dag_run, xcom = run_dag(sensor)

    assert task_states(dag_run) == {"wait": "success"}
    result = xcom["wait"]["return_value"]
    assert result["version"] == "v2" and result["aliases"] == ["latest", "production"]


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_artifact_sensor_in_poke_and_reschedule_modes(fake, project, triggers, mode):
    fake.versions.after_reads("AirflowArtifactAlias", 2, lambda: fake.versions.add(ENTITY, project, "dataset"))
    sensor = artifact_sensor(artifact=f"{project}/dataset", deferrable=False, mode=mode, poke_interval=0.2)
    dag_run, xcom = run_dag(sensor)

    assert task_states(dag_run) == {"wait": "success"}
    assert xcom["wait"]["return_value"]["version"] == "v0"
    assert triggers == []


def test_artifact_sensor_rejects_an_alias_in_the_artifact_name(fake, project, capfd):
    dag_run, _ = run_dag(artifact_sensor(artifact=f"{project}/dataset:v1"))
    assert task_states(dag_run) == {"wait": "failed"}
    assert "expected 'entity/project/name' or 'project/name' (pass the alias as alias=...)" in capfd.readouterr().out
