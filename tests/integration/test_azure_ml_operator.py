"""WandbLaunchAzureMLOperator through dag.test(): the real MLClient and ClientSecretCredential -> the Azure ML
emulator (https on loopback, which also serves Entra's token endpoint), W&B -> the GraphQL fake.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from airflow_wandb_launch.backends.azure_ml.backend import AzureMLBackend
from airflow_wandb_launch.backends.azure_ml.client import credential_from_connection
from airflow_wandb_launch.backends.azure_ml.request import build_command_job
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.job import JobRef, JobState
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials
from airflow_wandb_launch.triggers.launch import LaunchJobTrigger
from tests.conftest import ENTITY, ROOT
from tests.emulators.azure_ml import AzureMLEmulator
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.airflow import run_dag, task_states, write_to_db, xcoms
from tests.helpers.clouds import azure_conn

IMAGE = "myregistry.azurecr.io/train:1"
CLUSTER = {"compute": "gpu-cluster", "instance_count": 2, "queue_settings": {"job_tier": "Spot"}}


@pytest.fixture
def container(aml, wandb_conn):
    """The training container Azure ML 'runs': it logs a W&B run as the job's env tells it to."""
    from tests.helpers.container import TrainingContainer

    stand_in = TrainingContainer(wandb_conn)
    aml.on_create.append(stand_in)
    return stand_in


def train(**overrides):
    from airflow_wandb_launch.operators.azure_ml import WandbLaunchAzureMLOperator

    kwargs = {
        "task_id": "train",
        "image": IMAGE,
        "entry_point": "python train.py --epochs 3",
        "resource_args": CLUSTER,
        "project": "aml-tests",
        "run_config": {"lr": 0.1},
        "poll_interval": 0.2,
    }
    return lambda: WandbLaunchAzureMLOperator(**{**kwargs, **overrides})


# -- through dag.test() ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("airflow_db")
def test_success_returns_the_runs_result(aml, container, triggers, capfd):
    aml.script(Lifecycle(("Queued", 1), ("Running", 2), "Completed"))
    dag_run, xcom = run_dag(train())
    assert task_states(dag_run) == {"train": "success"}

    [job] = aml.job_names()
    result, run_id = xcom["train"]["return_value"], xcom["train"]["run_id"]
    assert result["resource"] == "azure-ml" and result["job_id"] == job == xcom["train"]["job_id"]
    assert result["job_state"] == "succeeded" and result["run_state"] == "finished"
    assert result["run_path"] == f"{ENTITY}/aml-tests/{run_id}"
    assert result["summary"] == {"loss": 0.12, "accuracy": 0.91}
    assert result["artifacts"][0]["uri"] == f"wandb-artifact://{ENTITY}/aml-tests/model:v0"
    assert result["job_url"] == (
        f"https://ml.azure.com/runs/{job}?wsid=/subscriptions/{aml.subscription_id}"
        f"/resourcegroups/{aml.resource_group}/workspaces/{aml.workspace}&tid=tenant-1"
    )
    body = aml.create_request(job)["properties"]
    env = body["environmentVariables"]
    assert env["WANDB_RUN_ID"] == run_id and env["WANDB_PROJECT"] == "aml-tests" and env["WANDB_ENTITY"] == ENTITY
    assert body["command"] == "python train.py --epochs 3" and body["experimentName"] == "aml-tests"
    assert body["queueSettings"] == {"jobTier": "Spot"} and body["resources"]["instanceCount"] == 2
    assert body["tags"]["wandb-run-id"] == run_id and body["tags"]["airflow-task-id"] == "train"
    assert [e["properties"]["image"] for e in aml.environment_requests()] == [IMAGE]
    assert len(triggers) == 1  # it deferred
    # the real credential path: a client-secret token from the emulator's token endpoint on every call
    assert aml.tokens_issued and aml.tokens_issued[0]["client_id"] == "emulator-client"
    assert {a for a in aml.authorizations if a} == {a for a in aml.authorizations if a.startswith("Bearer emulator-")}
    # the W&B API key went to the job, and nowhere else
    key = container.server.api_key
    assert env["WANDB_API_KEY"] == key
    assert key not in json.dumps(triggers) and key not in json.dumps(xcom)
    assert key not in capfd.readouterr().out


@pytest.mark.usefixtures("airflow_db")
def test_failed_job_fails_the_task_with_the_run_history_error(aml, container, capfd):
    aml.script(Lifecycle(("Running", 1), ("Failed", None, {"error": "CUDA out of memory"})))
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "failed"}
    assert "failed (Failed): CUDA out of memory" in capfd.readouterr().out


@pytest.mark.usefixtures("airflow_db")
def test_canceled_job_fails_the_task_as_stopped(aml, container, capfd):
    aml.script(Lifecycle(("Running", 1), ("CancelRequested", 1), "Canceled"))
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "failed"}
    assert "was stopped (Canceled): the job was canceled" in capfd.readouterr().out


@pytest.mark.usefixtures("airflow_db")
def test_execution_timeout_cancels_the_job(aml, container, capfd):
    aml.script(Lifecycle("Running"))
    dag_run, _ = run_dag(train(execution_timeout=timedelta(seconds=3)))
    assert task_states(dag_run) == {"train": "failed"}
    assert aml.cancel_calls() == aml.job_names()
    assert "timed out (deadline): the task's execution_timeout passed; the job was stopped" in capfd.readouterr().out


@pytest.mark.usefixtures("airflow_db")
def test_transient_faults_do_not_fail_the_task(aml, container):
    aml.script(Lifecycle(("Running", 2), "Completed"))
    # once the job exists, more 503s than azure-core retries (3): one status read fails, the next succeeds
    aml.on_create.append(lambda name, env: aml.faults.inject(503, times=5, method="GET"))
    dag_run, xcom = run_dag(train())
    assert task_states(dag_run) == {"train": "success"}
    assert aml.faults.served == [503] * 5
    assert xcom["train"]["return_value"]["job_state"] == "succeeded"


@pytest.mark.usefixtures("airflow_db")
def test_base_url_from_the_connection_extra(aml, container, monkeypatch):
    monkeypatch.delenv("AZUREML_DEV_URL_MFE")
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_DEFAULT", azure_conn(aml, azure_ml_base_url=aml.base_url))
    aml.script(Lifecycle("Completed"))
    dag_run, _ = run_dag(train())
    assert task_states(dag_run) == {"train": "success"}
    assert "AZUREML_DEV_URL_MFE" not in os.environ  # set only while the client was built


@pytest.mark.usefixtures("airflow_db")
def test_example_dag_runs_green(aml, container, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "0.2")
    bag = DagBag(dag_folder=ROOT / "example_dags" / "azure_ml_training.py", bundle_name="dags-folder")
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["azure_ml_training"]
    write_to_db(dag)
    dag_run = dag.test()
    assert task_states(dag_run) == {
        "train_gpu_cluster": "success",
        "fine_tune_serverless_spot": "success",
        "report": "success",
    }
    gpu, spot = (aml.create_request(name)["properties"] for name in aml.job_names())
    assert gpu["distribution"]["distributionType"] == "PyTorch" and "gpu-cluster" in gpu["computeId"]
    assert spot["queueSettings"] == {"jobTier": "Spot"} and spot["resources"]["instanceType"] == "Standard_NC6s_v3"
    assert len(xcoms("azure_ml_training", dag_run.run_id)["report"]["return_value"]) == 2


# -- the backend and trigger directly -------------------------------------------------------------------------


def submit_running_job(aml: AzureMLEmulator) -> tuple[AzureMLBackend, JobRef]:
    aml.script(Lifecycle("Running"))
    run = RunIdentity("onkill01", "aml-tests", ENTITY, "dag.train")
    request = LaunchRequest(
        "azure-ml",
        run,
        image=IMAGE,
        entry_point=("python", "train.py"),
        airflow_ids={"dag_id": "dag", "task_id": "train"},
    )
    env = request.job_env(WandbCredentials(api_key="k", base_url="http://127.0.0.1:1"))
    backend = AzureMLBackend()
    return backend, backend.submit(build_command_job(request, {"compute": "cpu"}, env), request.run)


@pytest.mark.parametrize("still_deferred", [False, True])
async def test_trigger_on_kill_cancels_unless_the_task_is_still_deferred(aml, task_deferred, still_deferred):
    _, ref = submit_running_job(aml)
    trigger = LaunchJobTrigger(job_ref=ref.to_dict(), connection_args={"azure_conn_id": "azure_default"})
    task_deferred["deferred"] = still_deferred
    await trigger.on_kill()
    await trigger.cleanup()
    assert aml.cancel_calls() == ([] if still_deferred else [ref.job_id])
    if not still_deferred:
        assert aml.lifecycle(ref.job_id).current.state == "CancelRequested"
        assert not [p for _, p in aml.requests if p.startswith("/operationResults/")]  # did not wait on the poller


def test_cancel_of_a_finished_job_is_a_no_op_and_status_reads(aml):
    backend, ref = submit_running_job(aml)
    aml.lifecycle(ref.job_id).stop(None, "Completed")
    backend.cancel(ref)  # Azure answers 400 for a terminal job: not an error
    assert backend.status(ref).state is JobState.SUCCEEDED
    assert aml.cancel_calls() == [ref.job_id]


def test_resubmitting_the_same_try_attaches_to_the_job(aml):
    _, ref = submit_running_job(aml)
    _, ref2 = submit_running_job(aml)
    assert ref2.job_id == ref.job_id and len([m for m, p in aml.requests if m == "PUT" and "/jobs/" in p]) == 1


def test_workspace_must_be_known(aml, monkeypatch):
    conn = {"conn_type": "azure", "extra": {"subscriptionId": "s"}}
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_DEFAULT", json.dumps(conn))
    expected = r"resource_group.*'resource_group' extra on connection 'azure_default'"
    with pytest.raises(ResourceArgsError, match=expected):
        AzureMLBackend().workspace()
    assert AzureMLBackend(resource_group="rg", workspace_name="ws").workspace() == {
        "subscription_id": "s",
        "resource_group": "rg",
        "workspace_name": "ws",
    }


# -- credential selection (pure logic: no token is requested) -------------------------------------------------


@pytest.mark.parametrize(
    ("login", "password", "extra", "expected"),
    [
        ("app", "secret", {"tenantId": "t1"}, "ClientSecretCredential"),
        ("app", "secret", {"extra__azure__tenantId": "t1"}, "ClientSecretCredential"),
        ("app", "secret", {}, "DefaultAzureCredential"),
        (None, None, {"tenantId": "t1"}, "DefaultAzureCredential"),
        (
            None,
            None,
            {"managed_identity_client_id": "mi", "workload_identity_tenant_id": "t1"},
            "DefaultAzureCredential",
        ),
    ],
)
def test_credential_selection_from_the_connection(login, password, extra, expected):
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="azure_default", conn_type="azure", login=login, password=password, extra=json.dumps(extra)
    )
    assert type(credential_from_connection(conn)).__name__ == expected


@pytest.mark.parametrize(
    ("extra", "authority"),
    [
        ({}, "login.microsoftonline.com"),
        ({"cloud_environment": "AzureUSGovernment"}, "login.microsoftonline.us"),
        ({"cloud_environment": "AzureChinaCloud"}, "login.chinacloudapi.cn"),
        ({"authority_host": "https://login.example.test"}, "login.example.test"),
    ],
)
def test_client_secret_authority_follows_the_cloud(extra, authority):
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="azure_default",
        conn_type="azure",
        login="app",
        password="secret",
        extra=json.dumps({"tenantId": "t1", **extra}),
    )
    assert credential_from_connection(conn)._authority.rstrip("/").endswith(authority)
