"""OpenLineage: the datasets of a submitted request and of a LaunchResult, and the facets a launch task returns.

The builders are pure (table-tested here, per resource, on hand-written requests and on requests the backends
build); the operator tests call ``get_openlineage_facets_on_complete`` as the OpenLineage listener does. The last
test runs a ``local-process`` launch through ``dag.test()`` with the OpenLineage listener and its ``file``
transport, offline, and reads the events it wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, ClassVar

import pytest

from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.lineage import (
    LINEAGE_XCOM_KEY,
    DatasetRef,
    Lineage,
    artifact_dataset,
    command_line_datasets,
    dataset_for_uri,
    request_datasets,
    result_datasets,
    wandb_host,
)
from airflow_wandb_launch.operators import WandbLaunchOperator

D = DatasetRef
WANDB = "wandb://wandb.ai"
RUN = RunIdentity("k3j2h1g0", "proj", "acme", "dag.train")
SAS = "sv=2024-01-01&sig=SECRETSIG"


# --- URIs -> datasets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://data/train/part-0.csv", D("s3://data", "train/part-0.csv")),
        ("s3://data/train/", D("s3://data", "train/")),  # as the Amazon provider's path_to_s3_dataset keeps it
        ("s3://data", D("s3://data", "/")),
        ("s3a://data/x", D("s3://data", "x")),
        ("s3://AKIA:secret@data/x", D("s3://data", "x")),  # user info never kept
        ("gs://bucket/jobs/123", D("gs://bucket", "jobs/123")),
        ("gs://bucket/", D("gs://bucket", "/")),
        ("gs://bucket/data/*.csv", D("gs://bucket", "data/*.csv")),
        (
            "abfss://raw@acct.dfs.core.windows.net/events/2026",
            D("abfss://raw@acct.dfs.core.windows.net", "events/2026"),
        ),
        ("abfs://raw@acct.dfs.core.windows.net", D("abfss://raw@acct.dfs.core.windows.net", "/")),
        ("wasbs://c@acct.blob.core.windows.net/a/b.csv", D("wasbs://c@acct.blob.core.windows.net", "a/b.csv")),
        ("wasb://c@acct.blob.core.windows.net/a", D("wasbs://c@acct.blob.core.windows.net", "a")),
        (  # a SAS URL: the token is a secret, and no part of the dataset
            f"https://acct.blob.core.windows.net/c/a/b.csv?{SAS}",
            D("wasbs://c@acct.blob.core.windows.net", "a/b.csv"),
        ),
        ("https://acct.dfs.core.windows.net/fs/dir/", D("abfss://fs@acct.dfs.core.windows.net", "dir/")),
        ("https://acct.blob.core.windows.net/c", D("wasbs://c@acct.blob.core.windows.net", "/")),
        (
            "azureml://datastores/workspaceblobstore/paths/train/",
            D("azureml://datastores/workspaceblobstore", "train/"),
        ),
        (
            "azureml://subscriptions/s1/resourcegroups/rg/workspaces/ws/datastores/blob/paths/a/b.parquet",
            D("azureml://subscriptions/s1/resourcegroups/rg/workspaces/ws/datastores/blob", "a/b.parquet"),
        ),
        (
            "azureml://subscriptions/s1/resourcegroups/rg/workspaces/ws/data/train/versions/3",
            D("azureml://subscriptions/s1/resourcegroups/rg/workspaces/ws", "data/train/versions/3"),
        ),
        ("azureml:train:3", D("azureml", "data/train/versions/3")),
        ("azureml:train@latest", D("azureml", "data/train@latest")),
        # not storage: no dataset
        ("https://api.wandb.ai", None),
        ("https://example.com/data.csv", None),
        ("https://acct.blob.core.windows.net/", None),
        ("/opt/ml/input/data", None),
        ("train.py", None),
        ("s3://", None),
        ("wasbs://acct.blob.core.windows.net/a", None),  # no container
        ("", None),
    ],
)
def test_dataset_for_uri(uri, expected):
    assert dataset_for_uri(uri) == expected


@pytest.mark.parametrize(
    ("argv", "inputs", "outputs"),
    [
        (["python", "train.py", "s3://d/train"], [D("s3://d", "train")], []),
        (["train", "--data", "gs://d/x", "--epochs", "3"], [D("gs://d", "x")], []),
        (["train", "--data=gs://d/x", "--output-dir=gs://o/y"], [D("gs://d", "x")], [D("gs://o", "y")]),
        (["t", "--output", "s3://o/a", "--save-to", "s3://o/b"], [], [D("s3://o", c) for c in "ab"]),
        (["t", "--model-dir", "gs://o/m", "--checkpoint-dir", "gs://o/c"], [], [D("gs://o", "m"), D("gs://o", "c")]),
        (["t", "--export", "gs://o/e", "--dest", "gs://o/d"], [], [D("gs://o", "e"), D("gs://o", "d")]),
        (["t", "--out", "s3://o/a"], [], [D("s3://o", "a")]),
        (["train", "--outline", "gs://d/x"], [D("gs://d", "x")], []),  # "outline" is not "out"
        (["train", "--output", "--data", "gs://d/x"], [D("gs://d", "x")], []),  # the flag next to the URI counts
        (["train", "gs://d/x", "gs://d/x"], [D("gs://d", "x")], []),  # each dataset once
        (["train", 3, "s3://d/y"], [D("s3://d", "y")], []),
        ([], [], []),
    ],
)  # fmt: skip
def test_command_line_datasets(argv, inputs, outputs):
    assert command_line_datasets(argv) == Lineage(tuple(inputs), tuple(outputs))


# --- the submitted request -> datasets, per resource -------------------------------------------------------------

SAGEMAKER_BODY = {
    "TrainingJobName": "dag-train-k3j2h1g0",
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {"S3Uri": "s3://data/train/", "S3DataType": "S3Prefix"}},
        },
        {"ChannelName": "eval", "DataSource": {"S3DataSource": {"S3Uri": "s3://data/eval.csv"}}},
        {"ChannelName": "efs", "DataSource": {"FileSystemDataSource": {"FileSystemId": "fs-1", "DirectoryPath": "/x"}}},
    ],
    "OutputDataConfig": {"S3OutputPath": "s3://out/models/"},
    "AlgorithmSpecification": {
        "TrainingImage": "img",
        "ContainerEntrypoint": ["python", "train.py"],
        "ContainerArguments": ["--vocab", "s3://data/vocab.txt", "--export-dir", "s3://out/export"],
    },
    "HyperParameters": {"pretrained": "s3://data/base.pt", "epochs": "3"},
    "Environment": {
        "WANDB_API_KEY": "secret-key",
        "WANDB_BASE_URL": "https://api.wandb.ai",
        "OUTPUT_PATH": "s3://out/o",
    },
}
VERTEX_JOB = {
    "display_name": "dag-train",
    "job_spec": {
        "worker_pool_specs": [
            {
                "container_spec": {
                    "image_uri": "img",
                    "command": ["python", "train.py"],
                    "args": ["--data=gs://data/train/*.csv", "--model-dir", "gs://out/model"],
                    "env": [
                        {"name": "WANDB_API_KEY", "value": "secret-key"},
                        {"name": "VOCAB", "value": "gs://data/v"},
                    ],
                }
            },
            {},  # an unused pool, kept for the positions
            {"python_package_spec": {"package_uris": ["gs://code/t.tar.gz"], "args": ["gs://data/extra"]}},
        ],
        "base_output_directory": {"output_uri_prefix": "gs://out/jobs/k3j2h1g0"},
    },
}
AZURE_PAYLOAD = {
    "image": "img",
    "command": {
        "name": "dag-train",
        "command": (
            "python train.py --data ${{inputs.train}} --extra "
            f"'https://acct.blob.core.windows.net/c/extra.csv?{SAS}' --out abfss://c@acct.dfs.core.windows.net/out"
        ),
        "inputs": {
            "train": {"type": "uri_folder", "path": "azureml://datastores/workspaceblobstore/paths/train/"},
            "raw": "wasbs://c@acct.blob.core.windows.net/raw",
            "lr": 0.1,
        },
        "outputs": {"model": {"type": "uri_folder", "path": "azureml://datastores/workspaceblobstore/paths/models/"}},
        "environment_variables": {"WANDB_API_KEY": "secret-key", "SOURCE": "abfss://c@acct.dfs.core.windows.net/src"},
    },
}

WBS = "azureml://datastores/workspaceblobstore"
ABFSS = "abfss://c@acct.dfs.core.windows.net"
REQUESTS = [
    (
        "sagemaker",
        SAGEMAKER_BODY,
        [D("s3://data", "train/"), D("s3://data", "eval.csv"), D("s3://data", "vocab.txt"), D("s3://data", "base.pt")],
        [D("s3://out", "models/dag-train-k3j2h1g0/output/model.tar.gz"), D("s3://out", "export"), D("s3://out", "o")],
    ),
    (
        "sagemaker",  # the seed config: no channels, an output path
        {"TrainingJobName": "j", "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/sagemaker-outputs"}},
        [],
        [D("s3://my-bucket", "sagemaker-outputs/j/output/model.tar.gz")],
    ),
    (
        "vertex",
        VERTEX_JOB,
        [D("gs://data", "train/*.csv"), D("gs://data", "v"), D("gs://data", "extra")],
        [D("gs://out", "jobs/k3j2h1g0"), D("gs://out", "model")],
    ),
    (
        "azure-ml",
        AZURE_PAYLOAD,
        [
            D(WBS, "train/"),
            D("wasbs://c@acct.blob.core.windows.net", "raw"),
            D("wasbs://c@acct.blob.core.windows.net", "extra.csv"),
            D(ABFSS, "src"),
        ],
        [D(WBS, "models/"), D(ABFSS, "out")],
    ),
    (
        "local-process",
        {"argv": ["python", "t.py", "s3://d/k", "--out", "gs://o/y"], "env": {"WANDB_API_KEY": "k"}, "job_id": "x"},
        [D("s3://d", "k")],
        [D("gs://o", "y")],
    ),
    (
        "local-container",
        {"argv": ["docker", "run", "-e", "DATA", "img", "--data", "gs://d/x"], "env": {"DATA": "s3://d/e"}},
        [D("gs://d", "x"), D("s3://d", "e")],
        [],
    ),
    ("wandb-queue", {"queue": "q", "config": {"s3": "s3://d/x"}}, [], []),  # the agent builds the cloud request
    ("sagemaker", None, [], []),
    ("sagemaker", {}, [], []),
]


@pytest.mark.parametrize(("resource", "request_", "inputs", "outputs"), REQUESTS)
def test_request_datasets(resource, request_, inputs, outputs):
    lineage = request_datasets(resource, request_)
    assert lineage == Lineage(tuple(inputs), tuple(outputs))
    assert "SECRET" not in json.dumps(lineage.to_dict()) and "secret-key" not in json.dumps(lineage.to_dict())
    assert Lineage.from_dict(lineage.to_dict()) == lineage


def launch_request(resource: str, **overrides) -> LaunchRequest:
    fields = {
        "resource": resource,
        "run": RUN,
        "image": "registry.example.com/train:1",
        "entry_point": ("python", "train.py", "--data", "s3://data/train", "--output-dir", "s3://out/run"),
        "airflow_ids": {"dag_id": "dag", "task_id": "train", "run_id": "manual__2026", "try_number": "1"},
    }
    return LaunchRequest(**{**fields, **overrides})


def test_datasets_of_a_training_job_the_sagemaker_backend_builds():
    from airflow_wandb_launch.backends.sagemaker.request import build_training_job

    args = {
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/sagemaker-outputs"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "input_data_config": [  # snake_case, as W&B Launch accepts it
            {
                "channel_name": "train",
                "data_source": {"s3_data_source": {"s3_uri": "s3://my-bucket/train", "s3_data_type": "S3Prefix"}},
            }
        ],
    }  # fmt: skip
    body = build_training_job(launch_request("sagemaker"), args, {"WANDB_API_KEY": "secret-key"})
    lineage = request_datasets("sagemaker", body)
    assert lineage.inputs == (D("s3://my-bucket", "train"), D("s3://data", "train"))
    job = body["TrainingJobName"]
    assert lineage.outputs == (
        D("s3://my-bucket", f"sagemaker-outputs/{job}/output/model.tar.gz"),
        D("s3://out", "run"),
    )


def test_datasets_of_a_custom_job_the_vertex_backend_builds():
    from airflow_wandb_launch.backends.vertex.request import build_custom_job

    pool = {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": {}}
    args = {"spec": {"worker_pool_specs": [pool], "base_output_dir": "gs://b/outputs"}, "run": {}}
    custom_job = build_custom_job(launch_request("vertex"), args, {"WANDB_API_KEY": "secret-key"})
    lineage = request_datasets("vertex", custom_job)
    assert lineage == Lineage((D("s3://data", "train"),), (D("gs://b", "outputs"), D("s3://out", "run")))


def test_datasets_of_a_command_job_the_azure_ml_backend_builds():
    pytest.importorskip("azure.ai.ml")
    from airflow_wandb_launch.backends.azure_ml.request import build_command_job

    request = launch_request(
        "azure-ml", entry_point=("python", "train.py", "--data", "azureml://datastores/blob/paths/train")
    )
    args = {"compute": "gpu-cluster", "environment_variables": {"MODEL_DIR": "abfss://m@acct.dfs.core.windows.net/x"}}
    payload = build_command_job(request, args, {"WANDB_API_KEY": "secret-key"})
    lineage = request_datasets("azure-ml", payload)
    assert lineage == Lineage((D("azureml://datastores/blob", "train"),), (D(ABFSS.replace("c@", "m@"), "x"),))


# --- the LaunchResult -> W&B datasets ------------------------------------------------------------------------------


def result(**overrides) -> dict[str, Any]:
    fields = {
        "resource": "sagemaker",
        "job_id": "dag-train-k3j2h1g0",
        "job_url": "https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/jobs/dag-train-k3j2h1g0",
        "job_state": "succeeded",
        "run_id": "k3j2h1g0",
        "run_path": "acme/proj/k3j2h1g0",
        "run_url": "https://wandb.ai/acme/proj/runs/k3j2h1g0",
        "run_state": "finished",
        "summary": {"loss": 0.1},
        "artifacts": [
            {"name": "model", "type": "model", "version": "v3", "aliases": ["latest"], "uri": "wandb-artifact://acme/proj/model:v3"},
            {"name": "preds", "type": "dataset", "version": "v0", "aliases": [], "uri": "wandb-artifact://acme/proj/preds:v0"},
        ],
        "cost_usd": 0.42,
    }  # fmt: skip
    return {**fields, **overrides}


@pytest.mark.parametrize(
    ("run_url", "base_url", "host"),
    [
        ("https://wandb.ai/acme/proj/runs/x", None, "wandb.ai"),
        ("https://acme.wandb.io/acme/proj/runs/x", "https://api.wandb.ai", "acme.wandb.io"),
        ("http://127.0.0.1:8080/acme/proj/runs/x", None, "127.0.0.1:8080"),
        (None, "https://api.wandb.ai", "wandb.ai"),
        (None, "https://api.mycorp.com", "app.mycorp.com"),
        (None, "http://localhost:8080/", "localhost:8080"),
        (None, None, "wandb.ai"),
    ],
)
def test_wandb_host(run_url, base_url, host):
    assert wandb_host(run_url, base_url) == host


@pytest.mark.parametrize(
    ("artifact", "expected"),
    [
        ({"uri": "wandb-artifact://acme/proj/model:v3"}, D(WANDB, "acme/proj/model:v3")),
        ("wandb-artifact://acme/proj/model:v3", D(WANDB, "acme/proj/model:v3")),
        ("acme/proj/job-train:latest", D(WANDB, "acme/proj/job-train:latest")),
        ({"uri": "wandb-artifact://proj/model:latest"}, D(WANDB, "proj/model:latest")),  # an offline run's
        ({"name": "model"}, None),
        ({"uri": ""}, None),
        (None, None),
    ],
)
def test_artifact_dataset(artifact, expected):
    assert artifact_dataset(artifact, "wandb.ai") == expected


def test_result_datasets_logged_out_used_and_job_in():
    used = [{"uri": "wandb-artifact://acme/proj/train-data:v7"}, "wandb-artifact://acme/proj/train-data:v7"]
    lineage = result_datasets(result(used_artifacts=used), "wandb.ai", job="acme/proj/job-train:latest")
    assert lineage.inputs == (D(WANDB, "acme/proj/job-train:latest"), D(WANDB, "acme/proj/train-data:v7"))
    assert lineage.outputs == (D(WANDB, "acme/proj/model:v3"), D(WANDB, "acme/proj/preds:v0"))
    assert result_datasets(None, "wandb.ai") == Lineage()
    assert result_datasets(result(artifacts=[]), "wandb.ai") == Lineage()


# --- the operator: what the OpenLineage listener gets -----------------------------------------------------------


class Op(WandbLaunchOperator):
    """The launch operator (it carries ``OpenLineageMixin``)."""


class FakeTI:
    """What the facets read of a task instance: its XCom."""

    task_id, map_index = "train", -1

    def __init__(self, xcom: dict[str, Any] | None = None) -> None:
        self.xcom = dict(xcom or {})
        self.pulls: list[tuple] = []

    def xcom_pull(self, *, task_ids, key, map_indexes=None):
        self.pulls.append((task_ids, key, map_indexes))
        return self.xcom.get(key)

    def xcom_push(self, *, key, value):
        self.xcom[key] = json.loads(json.dumps(value))  # XCom keeps JSON


def op(**kwargs) -> Op:
    kwargs = {"task_id": "train", "resource": "sagemaker", "image": "img:1", **kwargs}
    return Op(**kwargs)


def names(datasets) -> list[str]:
    return [f"{d.namespace}/{d.name}" for d in datasets]


def test_facets_on_complete_from_the_request_and_the_result():
    pytest.importorskip("airflow.providers.openlineage")
    from airflow.providers.common.compat.openlineage.facet import Dataset, ExternalQueryRunFacet
    from airflow.providers.openlineage.extractors import OperatorLineage

    task = op()
    task._lineage_request = SAGEMAKER_BODY
    task._lineage_result = result(used_artifacts=[{"uri": "wandb-artifact://acme/proj/train-data:v7"}])
    lineage = task.get_openlineage_facets_on_complete(None)

    assert isinstance(lineage, OperatorLineage)
    assert all(type(d) is Dataset for d in [*lineage.inputs, *lineage.outputs])
    assert names(lineage.inputs) == [
        "s3://data/train/",
        "s3://data/eval.csv",
        "s3://data/vocab.txt",
        "s3://data/base.pt",
        "wandb://wandb.ai/acme/proj/train-data:v7",
    ]
    assert names(lineage.outputs) == [
        "s3://out/models/dag-train-k3j2h1g0/output/model.tar.gz",
        "s3://out/export",
        "s3://out/o",
        "wandb://wandb.ai/acme/proj/model:v3",
        "wandb://wandb.ai/acme/proj/preds:v0",
    ]
    query = lineage.run_facets["externalQuery"]
    assert isinstance(query, ExternalQueryRunFacet)
    assert (query.externalQueryId, query.source) == ("acme/proj/k3j2h1g0", "wandb")
    launch = lineage.run_facets["wandbLaunch"]
    assert (launch.runPath, launch.runUrl, launch.runState) == (
        "acme/proj/k3j2h1g0",
        "https://wandb.ai/acme/proj/runs/k3j2h1g0",
        "finished",
    )
    assert (launch.resource, launch.jobId, launch.jobState, launch.costUsd) == (
        "sagemaker",
        "dag-train-k3j2h1g0",
        "succeeded",
        0.42,
    )
    assert launch.jobUrl.endswith("#/jobs/dag-train-k3j2h1g0")
    assert lineage.job_facets == {}


def test_the_job_artifact_the_operator_ran_is_an_input():
    pytest.importorskip("airflow.providers.openlineage")
    task = op(image=None, job="acme/proj/job-train:v2", resource="vertex")
    task._lineage_request = VERTEX_JOB
    task._lineage_result = result(resource="vertex", run_url="https://acme.wandb.io/acme/proj/runs/k3j2h1g0")
    lineage = task.get_openlineage_facets_on_complete(None)
    assert names(lineage.inputs)[-1] == "wandb://acme.wandb.io/acme/proj/job-train:v2"
    host = "wandb://acme.wandb.io"
    assert names(lineage.outputs)[-2:] == [f"{host}/acme/proj/model:v3", f"{host}/acme/proj/preds:v0"]


def test_the_serialized_event_facets_hold_no_secret():
    pytest.importorskip("airflow.providers.openlineage")
    from openlineage.client.serde import Serde

    task = op()
    task._lineage_request = {
        **SAGEMAKER_BODY,
        "InputDataConfig": [{"DataSource": {"S3DataSource": {"S3Uri": "s3://d/x"}}}],
    }
    sas_url = f"https://a.blob.core.windows.net/c/x?{SAS}"
    task._lineage_request["Environment"] = {**SAGEMAKER_BODY["Environment"], "EXTRA": sas_url}
    task._lineage_result = result()
    lineage = task.get_openlineage_facets_on_complete(None)
    text = json.dumps([Serde.to_dict(d) for d in [*lineage.inputs, *lineage.outputs]])
    text += Serde.to_json(lineage.run_facets["wandbLaunch"])
    assert "wasbs://c@a.blob.core.windows.net" in text
    assert "secret-key" not in text and "SECRETSIG" not in text


@pytest.fixture
def openlineage_on(monkeypatch):
    """OpenLineage configured (a transport): the provider would emit."""
    pytest.importorskip("airflow.providers.openlineage")
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps({"type": "console"}))
    monkeypatch.delenv("AIRFLOW__OPENLINEAGE__DISABLED", raising=False)


@pytest.mark.usefixtures("openlineage_on")
def test_after_deferral_the_request_datasets_come_from_xcom():
    """A deferred task resumes in another process: the request is gone, its datasets are in XCom."""
    submitting = op()
    ti = FakeTI()
    submitting.remember_lineage_request({"ti": ti}, SAGEMAKER_BODY)
    assert submitting._lineage_request is SAGEMAKER_BODY
    assert set(ti.xcom) == {LINEAGE_XCOM_KEY}
    assert "secret-key" not in json.dumps(ti.xcom)

    resumed = op()  # a fresh copy of the task, as after deferral; the operator set the result in execute_complete
    resumed._lineage_result = result()
    lineage = resumed.get_openlineage_facets_on_complete(ti)
    assert names(lineage.inputs)[:2] == ["s3://data/train/", "s3://data/eval.csv"]
    assert names(lineage.outputs)[0] == "s3://out/models/dag-train-k3j2h1g0/output/model.tar.gz"
    assert ti.pulls == [("train", LINEAGE_XCOM_KEY, -1)]


@pytest.mark.parametrize("transport", [True, False])
def test_nothing_is_pushed_when_openlineage_would_not_emit(monkeypatch, transport):
    """Disabled, or no transport configured: the provider emits nothing, so the task pushes nothing."""
    pytest.importorskip("airflow.providers.openlineage")
    for name in ("AIRFLOW__OPENLINEAGE__TRANSPORT", "AIRFLOW__OPENLINEAGE__CONFIG_PATH", "OPENLINEAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    if transport:
        monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps({"type": "console"}))
        monkeypatch.setenv("AIRFLOW__OPENLINEAGE__DISABLED", "true")
    task, ti = op(), FakeTI()
    task.remember_lineage_request({"ti": ti}, SAGEMAKER_BODY)
    assert task._lineage_request is SAGEMAKER_BODY and ti.xcom == {}


def test_the_result_falls_back_to_the_return_value_xcom():
    pytest.importorskip("airflow.providers.openlineage")
    ti = FakeTI({"return_value": result(), LINEAGE_XCOM_KEY: {"inputs": [{"namespace": "s3://d", "name": "x"}]}})
    lineage = op().get_openlineage_facets_on_complete(ti)
    assert names(lineage.inputs) == ["s3://d/x"]
    assert names(lineage.outputs) == ["wandb://wandb.ai/acme/proj/model:v3", "wandb://wandb.ai/acme/proj/preds:v0"]
    assert lineage.run_facets["externalQuery"].externalQueryId == "acme/proj/k3j2h1g0"


def test_on_failure_no_outputs_and_the_run_from_what_was_pushed_at_submit():
    pytest.importorskip("airflow.providers.openlineage")
    pushed = {
        "run_id": "k3j2h1g0",
        "run_path": "acme/proj/k3j2h1g0",
        "run_url": "https://wandb.ai/acme/proj/runs/k3j2h1g0",
        "job_id": "j-1",
    }
    task = op()
    task._lineage_request = SAGEMAKER_BODY
    lineage = task.get_openlineage_facets_on_failure(FakeTI(pushed))
    assert names(lineage.inputs)[0] == "s3://data/train/" and lineage.outputs == []
    assert lineage.run_facets["externalQuery"].externalQueryId == "acme/proj/k3j2h1g0"
    launch = lineage.run_facets["wandbLaunch"]
    assert (launch.jobId, launch.runUrl, launch.jobState) == ("j-1", pushed["run_url"], None)


def test_nothing_known_gives_empty_lineage():
    pytest.importorskip("airflow.providers.openlineage")
    lineage = op(resource="local-process", image=None, entry_point="python t.py").get_openlineage_facets_on_complete(
        None
    )
    assert (lineage.inputs, lineage.outputs, lineage.run_facets) == ([], [], {})


def test_xcom_that_cannot_be_read_is_no_lineage_not_an_error():
    pytest.importorskip("airflow.providers.openlineage")

    class Broken(FakeTI):
        def xcom_pull(self, **kwargs):
            raise RuntimeError("no supervisor")

    assert op().get_openlineage_facets_on_complete(Broken()).inputs == []


@pytest.mark.usefixtures("openlineage_on")
def test_a_failed_lineage_push_never_fails_the_launch():
    class NoPush(FakeTI):
        def xcom_push(self, **kwargs):
            raise RuntimeError("API down")

    task = op()
    task.remember_lineage_request({"ti": NoPush()}, SAGEMAKER_BODY)
    assert task._lineage_request is SAGEMAKER_BODY


def test_the_lineage_module_imports_no_openlineage_until_asked():
    """The operator imports the mixin at DAG parse; the OpenLineage client (~0.5 s to import) waits for the
    listener."""
    heavy = (
        "openlineage",
        "airflow.providers.openlineage.extractors",
        "airflow.providers.openlineage.plugins",
        "airflow.providers.common.compat.openlineage",
    )
    code = (
        "import sys; import airflow_wandb_launch.operators, airflow_wandb_launch.lineage.facets as m; "
        "m.openlineage_installed(); "
        f"loaded = [n for n in sys.modules if n.startswith({heavy!r})]; assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# --- the events the OpenLineage listener emits, through dag.test() -----------------------------------------------


@pytest.fixture
def openlineage_events(tmp_path, monkeypatch):
    """One OpenLineage listener registered with the task SDK (any other set aside), its ``file`` transport
    writing to a file: the events a run emits, offline. Emission runs in a thread (not a fork of the tests)."""
    pytest.importorskip("airflow.providers.openlineage")
    from airflow.providers.openlineage.plugins.listener import OpenLineageListener
    from airflow.sdk.listener import get_listener_manager

    events = tmp_path / "openlineage.jsonl"
    transport = {"type": "file", "log_file_path": str(events), "append": True}
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True")
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "airflow-tests")
    manager = get_listener_manager()  # made on first use, with the OpenLineage plugin's listener if it is enabled
    others = [p for p in manager.pm.get_plugins() if isinstance(p, OpenLineageListener)]
    for other in others:
        manager.pm.unregister(other)
    listener = OpenLineageListener()
    manager.add_listener(listener)
    try:
        yield lambda: [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
    finally:
        manager.pm.unregister(listener)
        for other in others:
            manager.add_listener(other)


@pytest.mark.usefixtures("airflow_db")
def test_dag_test_emits_the_launch_lineage_through_the_listener(openlineage_events):
    from tests.helpers.airflow import run_dag, task_states

    code = (
        "import json, os, sys, wandb; r = wandb.init(); d = os.path.join(os.environ['WANDB_DIR'], 'm.json'); "
        "open(d, 'w').write('{}'); a = wandb.Artifact('ol-model', 'model'); a.add_file(d); r.log_artifact(a); "
        "r.finish()"
    )
    entry_point = [sys.executable, "-c", code, "--data", "s3://data/train", "--output-dir", "gs://out/model"]
    dag_run, xcom = run_dag(
        lambda: Op(task_id="train", resource="local-process", project="ol-tests", entry_point=entry_point)
    )
    assert task_states(dag_run) == {"train": "success"}
    trained = xcom["train"]["return_value"]
    [artifact] = trained["artifacts"]

    events = [e for e in openlineage_events() if e["job"]["name"] == f"{dag_run.dag_id}.train"]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    complete = events[-1]
    assert complete["job"]["namespace"] == "airflow-tests"
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [("s3://data", "train")]
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [
        ("gs://out", "model"),
        ("wandb://wandb.ai", artifact["uri"].removeprefix("wandb-artifact://")),
    ]
    facets = complete["run"]["facets"]
    assert facets["externalQuery"]["externalQueryId"] == trained["run_path"]
    assert facets["externalQuery"]["source"] == "wandb"
    assert facets["wandbLaunch"]["resource"] == "local-process"
    assert facets["wandbLaunch"]["runPath"] == trained["run_path"]
    assert facets["wandbLaunch"]["jobState"] == "succeeded"
    assert facets["wandbLaunch"]["_schemaURL"].endswith("#/$defs/RunFacet")
    assert xcom["train"][LINEAGE_XCOM_KEY]["outputs"] == [{"namespace": "gs://out", "name": "model"}]


@pytest.mark.usefixtures("airflow_db")
def test_a_deferred_sagemaker_job_reports_its_s3_channels_after_resuming(openlineage_events, sagemaker, container):
    """The task defers while the job runs and resumes as a fresh copy of the operator, without the request it
    built: the S3 channels come from XCom. (SageMaker: moto on loopback; W&B: the GraphQL fake.)"""
    from airflow_wandb_launch.operators import WandbLaunchSageMakerOperator
    from tests.conftest import ENTITY
    from tests.emulators.lifecycle import Lifecycle
    from tests.helpers.airflow import run_dag, task_states

    class Deferring(WandbLaunchSageMakerOperator):
        requests_at_completion: ClassVar[list] = []

        def get_openlineage_facets_on_complete(self, task_instance):
            self.requests_at_completion.append(self._lineage_request)
            return super().get_openlineage_facets_on_complete(task_instance)

    import boto3

    bucket = "wandb-launch-tests"  # the emulator's: SageMakerHook checks that an input prefix exists
    s3 = boto3.client("s3", endpoint_url=sagemaker.endpoint_url, region_name=sagemaker.region)
    s3.put_object(Bucket=bucket, Key="train/part-0.csv", Body=b"x,y\n1,2\n")
    source = {"S3Uri": f"s3://{bucket}/train/", "S3DataType": "S3Prefix"}
    channel = {"ChannelName": "train", "DataSource": {"S3DataSource": source}}
    args = {
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/outputs"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "InputDataConfig": [channel],
    }
    sagemaker.script(Lifecycle(("InProgress", 2), "Completed"))
    dag_run, xcom = run_dag(
        lambda: Deferring(
            task_id="train", image="123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1", resource_args=args,
            project="ol-sm", poll_interval=0.2,
        )
    )  # fmt: skip
    assert task_states(dag_run) == {"train": "success"}
    [job] = sagemaker.job_names()
    assert Deferring.requests_at_completion == [None]  # resumed without the request: it deferred

    [complete] = [e for e in openlineage_events() if e["eventType"] == "COMPLETE"]
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [(f"s3://{bucket}", "train/")]
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [
        (f"s3://{bucket}", f"outputs/{job}/output/model.tar.gz"),
        (f"wandb://{container.server.base_url.split('://')[1]}", f"{ENTITY}/ol-sm/model:v0"),
    ]
    facets = complete["run"]["facets"]
    assert facets["externalQuery"]["externalQueryId"] == xcom["train"]["run_path"]
    assert (facets["wandbLaunch"]["jobId"], facets["wandbLaunch"]["resource"]) == (job, "sagemaker")
    assert facets["wandbLaunch"]["jobUrl"] == xcom["train"]["return_value"]["job_url"]
