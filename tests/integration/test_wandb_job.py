"""``job=``: WandbHook.get_job_image reads a W&B job's ``wandb-job.json`` through the real SDK from the W&B fake."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.hooks.wandb import WandbHook
from airflow_wandb_launch.operators import WandbLaunchOperator, WandbLaunchSageMakerOperator
from tests.conftest import ENTITY, ROOT
from tests.helpers.airflow import run_dag, task_states

PROJECT = "jobs"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1.4"
ENTRY_POINT = ["python", "-m", "train", "--epochs", "3"]
SEED_CONFIG = str(ROOT / "example_dags" / "sagemaker_queue_config.yaml")
_names = itertools.count()


@pytest.fixture
def job_name() -> str:
    """A fresh job name: the session's W&B fake keeps every job it was given."""
    return f"train-{next(_names)}"


JOB_READS = {"ArtifactMembershipByName", "FetchArtifactManifest", "GET"}


def _job_reads(server, since: int = 0) -> list[dict]:
    """The fake's requests since ``since`` that read an artifact: its lookup, its manifest, and the file GETs."""
    return [r for r in server.requests[since:] if r["operation"] in JOB_READS]


def _set_conn(monkeypatch, server, **extra) -> None:
    conn = {"conn_type": "wandb", "password": server.api_key, "host": server.base_url, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_WANDB_DEFAULT", json.dumps(conn))


@pytest.mark.parametrize("alias", [":latest", ":v0", ""])
def test_image_job_by_entity_project_name_and_alias(wandb_conn, job_name, alias):
    ref = wandb_conn.add_job(ENTITY, PROJECT, job_name, image=IMAGE, entrypoint=ENTRY_POINT)
    assert ref == f"{ENTITY}/{PROJECT}/{job_name}:v0"

    since = len(wandb_conn.requests)

    assert WandbHook().get_job_image(f"{ENTITY}/{PROJECT}/{job_name}{alias}") == (IMAGE, ENTRY_POINT)

    lookup, manifest_url, manifest, file = _job_reads(wandb_conn, since)
    wanted = {":latest": "latest", ":v0": "v0", "": "latest"}[alias]
    assert lookup["operation"] == "ArtifactMembershipByName"
    assert lookup["variables"] == {"entity": ENTITY, "project": PROJECT, "name": f"{job_name}:{wanted}"}
    assert manifest_url["operation"] == "FetchArtifactManifest"
    # the manifest comes from a "presigned" URL; then only wandb-job.json is fetched, with the API key
    assert manifest["operation"] == "GET" and manifest["path"].startswith("/_signed/")
    assert file["path"].startswith(f"/artifactsV2/default/{ENTITY}/{PROJECT}/{job_name}/")
    assert file["path"].endswith("/wandb-job.json") and file["auth_key"] == wandb_conn.api_key


def test_image_job_without_an_entry_point_and_aliases_that_move(wandb_conn, job_name):
    wandb_conn.add_job(ENTITY, PROJECT, job_name, image="busybox:1", aliases=["prod"])
    wandb_conn.add_job(ENTITY, PROJECT, job_name, image="busybox:2")
    hook = WandbHook()

    assert hook.get_job_image(f"{ENTITY}/{PROJECT}/{job_name}:latest") == ("busybox:2", None)
    assert hook.get_job_image(f"{ENTITY}/{PROJECT}/{job_name}:prod") == ("busybox:1", None)
    assert hook.get_job_image(f"{ENTITY}/{PROJECT}/{job_name}:v0") == ("busybox:1", None)


def test_job_without_entity_uses_the_connections_entity(wandb_server, monkeypatch, job_name):
    _set_conn(monkeypatch, wandb_server, entity="other-team", project=PROJECT)
    wandb_server.add_job("other-team", PROJECT, job_name, image=IMAGE)
    hook = WandbHook()

    assert hook.get_job_image(f"{PROJECT}/{job_name}:latest") == (IMAGE, None)
    assert hook.get_job_image(job_name) == (IMAGE, None)  # and the project too


def test_job_without_entity_falls_back_to_the_api_keys_entity(wandb_server, monkeypatch, job_name):
    _set_conn(monkeypatch, wandb_server)  # no entity extra
    wandb_server.add_job(wandb_server.default_entity, PROJECT, job_name, image=IMAGE)

    assert WandbHook().get_job_image(f"{PROJECT}/{job_name}") == (IMAGE, None)
    assert "GetDefaultEntity" in wandb_server.operations()


@pytest.mark.parametrize(("source_type", "kind"), [("repo", "git repo"), ("artifact", "code-artifact")])
def test_job_whose_source_is_not_an_image_is_a_clear_error(wandb_conn, job_name, source_type, kind):
    wandb_conn.add_job(ENTITY, PROJECT, job_name, source_type=source_type)

    with pytest.raises(ResourceArgsError) as err:
        WandbHook().get_job_image(f"{ENTITY}/{PROJECT}/{job_name}:latest")

    assert str(err.value) == (
        f"operator: job = '{ENTITY}/{PROJECT}/{job_name}:latest': expected a W&B job whose source is a container "
        f"image (this one is a {kind} job; build an image job, or use WandbLaunchQueueOperator to let a W&B agent "
        "build it)"
    )


@pytest.mark.parametrize(
    ("job", "why"),
    [
        (f"{ENTITY}/{PROJECT}/no-such-job:latest", "artifact membership 'no-such-job:latest' not found"),
        (f"{ENTITY}/no-such-project/train-0:latest", "project 'no-such-project' not found"),
        ("JOB_V99", "artifact membership '{name}:v99' not found"),
    ],
)
def test_missing_job_is_a_not_found_error(wandb_conn, job_name, job, why):
    wandb_conn.add_job(ENTITY, PROJECT, job_name)
    job = f"{ENTITY}/{PROJECT}/{job_name}:v99" if job == "JOB_V99" else job

    with pytest.raises(ResourceArgsError, match="was not found") as err:
        WandbHook().get_job_image(job)

    assert err.value.key_path == "job" and err.value.value == job
    assert why.format(name=job_name) in str(err.value)


def test_artifact_that_is_not_a_job_is_rejected(wandb_conn):
    wandb_conn.add_run(ENTITY, PROJECT, "trained", logged_artifacts=[{"name": "weights", "type": "model"}])

    with pytest.raises(ResourceArgsError, match=r"a W&B artifact of type 'job' \(.* is of type 'model'\)"):
        WandbHook().get_job_image(f"{ENTITY}/{PROJECT}/weights:latest")


def test_no_api_key_is_the_hooks_connection_error(wandb_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WANDB_DEFAULT", json.dumps({"conn_type": "wandb", "host": wandb_server.base_url}))

    with pytest.raises(AirflowNotFoundException, match="no W&B API key: set the password of connection"):
        WandbHook().get_job_image(f"{ENTITY}/{PROJECT}/train-0:latest")


def test_fake_serves_job_files_only_with_the_api_key(wandb_conn, job_name):
    wandb_conn.add_job(ENTITY, PROJECT, job_name, image=IMAGE)
    WandbHook().get_job_image(f"{ENTITY}/{PROJECT}/{job_name}")
    url = wandb_conn.base_url + _job_reads(wandb_conn)[-1]["path"]

    assert httpx.get(url).status_code == 401
    answer = httpx.get(url, auth=("api", wandb_conn.api_key))
    assert answer.status_code == 200 and answer.json()["source"] == {"image": IMAGE}
    assert httpx.get(f"{wandb_conn.base_url}/not/a/download").status_code == 404


# --- through the operator, with dag.test() -------------------------------------------------------------------


@pytest.mark.usefixtures("airflow_db")
def test_sagemaker_job_gets_the_image_and_entry_point_of_the_w_and_b_job(sagemaker, container, job_name):
    job = container.server.add_job(ENTITY, PROJECT, job_name, image=IMAGE, entrypoint=ENTRY_POINT)

    dag_run, xcom = run_dag(
        lambda: WandbLaunchSageMakerOperator(
            task_id="train", job=job, resource_args=SEED_CONFIG, project="sm-jobs", poll_interval=0.2
        )
    )

    assert task_states(dag_run) == {"train": "success"}
    body = sagemaker.create_request(xcom["train"]["job_id"])
    assert body["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert body["AlgorithmSpecification"]["ContainerEntrypoint"] == ENTRY_POINT
    assert json.loads(body["Environment"]["WANDB_ARTIFACTS"]) == {"_wandb_job": job}
    assert xcom["train"]["return_value"]["run_state"] == "finished"


@pytest.mark.usefixtures("airflow_db")
def test_local_process_reads_the_job_then_refuses_an_image_without_entry_point(wandb_conn, job_name, capfd):
    job = wandb_conn.add_job(ENTITY, PROJECT, job_name, image=IMAGE)
    since = len(wandb_conn.requests)

    dag_run, xcom = run_dag(
        lambda: WandbLaunchOperator(
            task_id="train", resource="local-process", job=job, project=PROJECT, poll_interval=0.2
        )
    )

    assert task_states(dag_run) == {"train": "failed"}
    assert "job_id" not in xcom.get("train", {})  # failed before anything was submitted
    # the job resolved through the fake, and its image is what local-process (which runs no image) refused
    lookup, *reads = _job_reads(wandb_conn, since)
    assert lookup["variables"] == {"entity": ENTITY, "project": PROJECT, "name": f"{job_name}:v0"}
    assert [r["operation"] for r in reads] == ["FetchArtifactManifest", "GET", "GET"]
    assert reads[-1]["path"].startswith(f"/artifactsV2/default/{ENTITY}/{PROJECT}/{job_name}/")
    assert reads[-1]["path"].endswith("/wandb-job.json")
    out = capfd.readouterr().out
    assert f"local-process: entry_point = '{IMAGE}': expected an entry point command" in out
