"""WandbLaunchVertexAIOperator through dag.test(): the real aiplatform_v1 REST clients -> the Vertex emulator,
W&B -> the GraphQL fake. Credentials come from an anonymous ``google_cloud_default`` connection."""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta

import pytest

from airflow_wandb_launch.backends.vertex.backend import VertexBackend
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.operators.vertex import WandbLaunchVertexAIOperator
from airflow_wandb_launch.triggers.launch import LaunchJobTrigger
from tests.conftest import ENTITY, ROOT
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.airflow import run_dag, task_states, write_to_db, xcoms
from tests.helpers.clouds import VERTEX_PROJECT as PROJECT
from tests.helpers.clouds import VERTEX_REGION as REGION

SEED_CONFIG = str(ROOT / "example_dags" / "vertex_queue_config.yaml")
IMAGE = "us-docker.pkg.dev/my-project/ml-images/train:1"

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def container(vertex, wandb_conn):
    """The training container Vertex 'runs': it logs the W&B run its env names."""
    from tests.helpers.container import TrainingContainer

    stand_in = TrainingContainer(wandb_conn)
    vertex.on_create.append(stand_in)
    return stand_in


def train(**overrides):
    kwargs = {
        "task_id": "train",
        "image": IMAGE,
        "resource_args": SEED_CONFIG,
        "project": "vx-tests",
        "run_config": {"lr": 0.1},
        "poll_interval": 0.2,
    }
    return lambda: WandbLaunchVertexAIOperator(**{**kwargs, **overrides})


def test_success_returns_the_runs_result(vertex, container, triggers, capfd):
    vertex.script(Lifecycle(("JOB_STATE_QUEUED", 1), ("JOB_STATE_RUNNING", 2), "JOB_STATE_SUCCEEDED"))
    dag_run, xcom = run_dag(train())
    assert task_states(dag_run) == {"train": "success"}

    [job] = vertex.job_names()
    result, run_id = xcom["train"]["return_value"], xcom["train"]["run_id"]
    assert job.startswith(f"projects/{PROJECT}/locations/{REGION}/customJobs/")
    assert result["resource"] == "vertex" and result["job_id"] == job == xcom["train"]["job_id"]
    assert result["job_state"] == "succeeded" and result["run_state"] == "finished"
    assert result["run_path"] == f"{ENTITY}/vx-tests/{run_id}"
    assert result["summary"] == {"loss": 0.12, "accuracy": 0.91}
    assert result["artifacts"][0]["uri"] == f"wandb-artifact://{ENTITY}/vx-tests/model:v0"
    number = job.rsplit("/", 1)[1]
    assert result["job_url"] == (
        f"https://console.cloud.google.com/agent-platform/locations/{REGION}/training/{number}?project={PROJECT}"
    )
    # the request Vertex got: the seed config, the image, the W&B env and labels
    body = vertex.create_request(job)
    pool = body["jobSpec"]["workerPoolSpecs"][0]
    assert pool["containerSpec"]["imageUri"] == IMAGE
    assert "command" not in pool["containerSpec"]  # no entry_point: the image's own
    env = {e["name"]: e["value"] for e in pool["containerSpec"]["env"]}
    assert env["WANDB_RUN_ID"] == run_id and json.loads(env["WANDB_CONFIG"]) == {"lr": 0.1}
    assert body["labels"]["wandb-run-id"] == run_id and body["labels"]["airflow-task-id"] == "train"
    assert body["jobSpec"]["baseOutputDirectory"]["outputUriPrefix"].startswith("gs://my-company-ml-staging/")
    # it deferred, and the W&B key went to the job only
    assert len(triggers) == 1 and vertex.get_count(job) >= 4
    key = container.server.api_key
    assert env["WANDB_API_KEY"] == key and key not in json.dumps(triggers) and key not in json.dumps(xcom)
    assert key not in capfd.readouterr().out


def test_failed_job_fails_the_task_with_vertexs_error(vertex, container, capfd):
    error = {"code": 3, "message": "Replica workerpool0-0 exited with a non-zero status of 1."}
    vertex.script(Lifecycle(("JOB_STATE_RUNNING", 1), ("JOB_STATE_FAILED", None, {"error": error})))
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "failed"}
    assert f"failed (JOB_STATE_FAILED): {error['message']}" in capfd.readouterr().out


def test_cancelled_job_fails_the_task(vertex, container, capfd):
    vertex.script(
        Lifecycle(("JOB_STATE_RUNNING", 1), ("JOB_STATE_CANCELLED", None, {"error": {"message": "CANCELED"}}))
    )
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "failed"}
    assert "was stopped (JOB_STATE_CANCELLED): the CustomJob was cancelled: CANCELED" in capfd.readouterr().out


def test_expired_job_fails_the_task_as_timed_out(vertex, container, capfd):
    vertex.script(Lifecycle(("JOB_STATE_RUNNING", 1), "JOB_STATE_EXPIRED"))
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "failed"}
    assert "timed out (JOB_STATE_EXPIRED)" in capfd.readouterr().out


def test_execution_timeout_cancels_the_custom_job(vertex, container, capfd):
    vertex.script(Lifecycle("JOB_STATE_RUNNING"))
    dag_run, _ = run_dag(train(execution_timeout=timedelta(seconds=3)))
    assert task_states(dag_run) == {"train": "failed"}
    assert vertex.cancel_calls() == vertex.job_names()
    assert "timed out (deadline): the task's execution_timeout passed; the job was stopped" in capfd.readouterr().out


def test_transient_vertex_faults_do_not_fail_the_task(vertex, container):
    vertex.script(Lifecycle(("JOB_STATE_RUNNING", 2), "JOB_STATE_SUCCEEDED"))
    vertex.faults.inject(500, times=2, method="GET")
    vertex.faults.inject(429, times=1, method="GET")
    vertex.faults.inject(429, times=1, method="POST")
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "success"}
    assert vertex.faults.served == [429, 500, 500, 429] and len(vertex.job_names()) == 1


def test_transient_faults_while_deferred_do_not_fail_the_task(vertex, container, triggers):
    lifecycle = vertex.script(Lifecycle(("JOB_STATE_RUNNING", 3), "JOB_STATE_SUCCEEDED"))
    original = vertex.get

    def faulty_after_first_read(name):
        if lifecycle.reads == 1 and not vertex.faults.served:
            vertex.faults.inject(503, times=2, method="GET")
            vertex.faults.inject(429, times=1, method="GET")
        return original(name)

    vertex.get = faulty_after_first_read
    try:
        dag_run, _ = run_dag(train())
    finally:
        del vertex.get
    assert task_states(dag_run) == {"train": "success"} and len(triggers) == 1
    assert vertex.faults.served == [503, 503, 429]


def test_queue_config_copied_from_wandb_works_unchanged(vertex, container):
    queue_config = {
        "vertex": {
            "spec": {
                "worker_pool_specs": [
                    {
                        "machine_spec": {
                            "machine_type": "n1-standard-8",
                            "accelerator_type": "NVIDIA_TESLA_T4",
                            "accelerator_count": 1,
                        },
                        "replica_count": 1,
                        "container_spec": {"image_uri": "${image_uri}"},
                    }
                ],
                "staging_bucket": "gs://wandb-staging",
            },
            "run": {"restart_job_on_worker_restart": True, "service_account": "sa@p.iam.gserviceaccount.com"},
        }
    }
    dag_run, xcom = run_dag(train(resource_args=queue_config))
    assert task_states(dag_run) == {"train": "success"}
    spec = vertex.create_request(vertex.job_names()[0])["jobSpec"]
    assert spec["workerPoolSpecs"][0]["containerSpec"]["imageUri"] == IMAGE
    assert spec["workerPoolSpecs"][0]["machineSpec"]["acceleratorType"] == 5  # NVIDIA_TESLA_T4
    assert spec["scheduling"]["restartJobOnWorkerRestart"] is True
    assert spec["serviceAccount"] == "sa@p.iam.gserviceaccount.com"
    assert xcom["train"]["return_value"]["job_state"] == "succeeded"


def test_invalid_config_fails_before_anything_is_submitted(vertex, container, capfd):
    bad = {
        "spec": {
            "worker_pool_specs": [{"machine_spec": {"machine_type": "n1", "accelerator_count": 2}}],
            "staging_bucket": "gs://b",
        }
    }
    dag_run, _ = run_dag(train(resource_args=bad))
    assert task_states(dag_run) == {"train": "failed"}
    assert vertex.job_names() == []
    assert "spec.worker_pool_specs[0].machine_spec.accelerator_type" in capfd.readouterr().out


def test_example_dag_runs_green(vertex, container, monkeypatch):
    monkeypatch.setenv("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "0.2")
    spec = importlib.util.spec_from_file_location(
        "vertex_training_example", ROOT / "example_dags" / "vertex_training.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.vertex_training()
    dag.fileloc = str(ROOT / "example_dags" / "vertex_training.py")
    write_to_db(dag)
    dag_run = dag.test()
    assert task_states(dag_run) == {"train": "success", "register": "success"}
    result = xcoms(dag.dag_id, dag_run.run_id)
    assert result["register"]["return_value"] == [f"wandb-artifact://{ENTITY}/vertex-training/model:v0"]
    container_spec = vertex.create_request(vertex.job_names()[0])["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
    assert container_spec["command"] == ["python", "train.py", "--epochs", "30"]


# -- the trigger's on_kill, against the emulator -----------------------------------------------------------------


def _running_job(vertex) -> tuple[LaunchJobTrigger, str]:
    vertex.script(Lifecycle("JOB_STATE_RUNNING"))
    backend = VertexBackend()
    job = {
        "display_name": "killed",
        "labels": {"wandb-run-id": "r1"},
        "job_spec": {
            "worker_pool_specs": [
                {"machine_spec": {"machine_type": "n1"}, "replica_count": 1, "container_spec": {"image_uri": IMAGE}}
            ]
        },
    }
    ref = backend.submit(job, RunIdentity("r1", "p", "e"))
    backend.close()
    return LaunchJobTrigger(job_ref=ref.to_dict(), poll_interval=0.1), ref.job_id


async def test_on_kill_cancels_the_custom_job(vertex, task_deferred):
    trigger, name = _running_job(vertex)
    assert (await (await trigger.backend()).astatus(trigger.ref)).state.value == "running"
    await trigger.on_kill()
    assert vertex.cancel_calls() == [name]
    states = [(await (await trigger.backend()).astatus(trigger.ref)).cloud_state for _ in range(2)]
    assert states == ["JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"]
    await (await trigger.backend()).acancel(trigger.ref)  # a finished job: a no-op, not an error
    await trigger.cleanup()


async def test_on_kill_keeps_the_job_when_the_task_is_still_deferred(vertex, task_deferred):
    trigger, _ = _running_job(vertex)
    task_deferred["deferred"] = True
    await trigger.on_kill()
    assert vertex.cancel_calls() == []
    await trigger.cleanup()


def test_cancel_of_a_finished_job_is_a_no_op(vertex):
    vertex.script(Lifecycle("JOB_STATE_SUCCEEDED"))
    backend = VertexBackend(project_id="other-project", region="europe-west4")
    job = {
        "display_name": "done",
        "labels": {"wandb-run-id": "r2"},
        "job_spec": {
            "worker_pool_specs": [
                {"machine_spec": {"machine_type": "n1"}, "replica_count": 1, "container_spec": {"image_uri": IMAGE}}
            ]
        },
    }
    ref = backend.submit(job, RunIdentity("r2", "p", "e"))
    assert ref.job_id.startswith("projects/other-project/locations/europe-west4/customJobs/")
    backend.cancel(ref)
    assert backend.status(ref).state.value == "succeeded" and vertex.cancel_calls() == [ref.job_id]
