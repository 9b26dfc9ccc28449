"""The pure parts of the ``azure-ml`` backend: build_command_job() validation, the state table, the studio link."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from airflow_wandb_launch.backends.azure_ml.backend import AzureMLBackend
from airflow_wandb_launch.backends.azure_ml.links import studio_url
from airflow_wandb_launch.backends.azure_ml.request import build_command_job
from airflow_wandb_launch.backends.azure_ml.states import STATES, job_status
from airflow_wandb_launch.errors import MISSING, ResourceArgsError
from airflow_wandb_launch.launch.job import JobState
from airflow_wandb_launch.launch.prepare import prepare_launch
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import load_resource_args
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials
from tests.conftest import ROOT

IMAGE = "myregistry.azurecr.io/train:1"
EXAMPLES = ROOT / "example_dags"
CLUSTER = {"compute": "gpu-cluster"}


def request(**overrides) -> LaunchRequest:
    run = RunIdentity("k3j2h1g0", "my project", "acme", "dag.train", group="dag/run", tags=("a", "b"))
    fields = {
        "resource": "azure-ml",
        "run": run,
        "image": IMAGE,
        "entry_point": ("python", "train.py", "--name", "two words"),
        "run_config": {"lr": 0.1},
        "airflow_ids": {"dag_id": "dag", "task_id": "train", "run_id": "manual__2026", "try_number": "1"},
    }
    return LaunchRequest(**{**fields, **overrides})


def build(resource_args: dict, **overrides) -> dict:
    req = request(**overrides)
    creds = WandbCredentials(api_key="secret-key", base_url="https://api.wandb.ai", entity="acme")
    prepared = prepare_launch(req, resource_args, creds, resource_names=("azure-ml", "azureml"))  # as the operator
    return build_command_job(req, prepared.resource_args, prepared.env)


@pytest.mark.parametrize("config", ["azure_ml_gpu_cluster.yaml", "azure_ml_serverless_spot.yaml"])
def test_example_configs_build(config):
    resource_args = load_resource_args(config, resource="azure-ml", base_dir=EXAMPLES)
    payload = build(resource_args)
    assert payload["image"] == IMAGE
    assert payload["command"]["command"] == shlex.join(request().entry_point)


def test_gpu_cluster_example_maps_to_command_kwargs():
    resource_args = load_resource_args("azure_ml_gpu_cluster.yaml", resource="azure-ml", base_dir=EXAMPLES)
    job = build(resource_args)["command"]
    assert job["compute"] == "gpu-cluster" and job["instance_count"] == 2 and job["shm_size"] == "16g"
    assert job["distribution"] == {"type": "pytorch", "process_count_per_instance": 4}
    assert job["timeout"] == 86400 and job["experiment_name"] == "wandb-launch-training"
    assert job["environment_variables"]["NCCL_DEBUG"] == "WARN"


def test_serverless_spot_example_has_job_tier_and_no_compute():
    resource_args = load_resource_args("azure_ml_serverless_spot.yaml", resource="azure-ml", base_dir=EXAMPLES)
    job = build(resource_args)["command"]
    assert "compute" not in job
    assert job["instance_type"] == "Standard_NC6s_v3" and job["job_tier"] == "Spot"


def test_wandb_env_tags_and_defaults():
    job = build({**CLUSTER, "environment_variables": {"WANDB_PROJECT": "override", "X": 1}, "tags": {"team": "ml"}})[
        "command"
    ]
    env = job["environment_variables"]
    assert env["WANDB_RUN_ID"] == "k3j2h1g0" and env["WANDB_API_KEY"] == "secret-key"
    assert env["WANDB_ENTITY"] == "acme" and env["WANDB_CONFIG"] == '{"lr": 0.1}'
    assert env["WANDB_PROJECT"] == "override" and env["X"] == "1"  # the user's own win
    assert job["tags"] == {
        "team": "ml",
        "wandb-run-id": "k3j2h1g0",
        "airflow-dag-id": "dag",
        "airflow-task-id": "train",
        "airflow-run-id": "manual__2026",
        "airflow-try-number": "1",
    }
    assert job["name"] == "dag-train-k3j2h1g0"
    assert job["display_name"] == "dag.train"
    assert job["experiment_name"] == "my-project"  # the W&B project, made a valid experiment name
    assert job["command"] == "python train.py --name 'two words'"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"queue_settings": {"job_tier": "spot"}}, {"job_tier": "Spot"}),
        (
            {"queue_settings": {"job_tier": "STANDARD", "priority": "High"}},
            {"job_tier": "Standard", "priority": "high"},
        ),
        ({"job_tier": "basic"}, {"job_tier": "Basic"}),
        ({"job_tier": "Spot", "queue_settings": {"job_tier": "spot"}}, {"job_tier": "Spot"}),
    ],
)
def test_queue_settings(given, expected):
    job = build({**CLUSTER, **given})["command"]
    assert {k: job[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("distribution", "expected"),
    [
        ({"type": "PyTorch", "process_count_per_instance": 8}, {"type": "pytorch", "process_count_per_instance": 8}),
        ({"type": "mpi", "process_count_per_instance": 2}, {"type": "mpi", "process_count_per_instance": 2}),
        (
            {"type": "TensorFlow", "worker_count": 2, "parameter_server_count": 1},
            {"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1},
        ),
    ],
)
def test_distributions(distribution, expected):
    assert build({**CLUSTER, "distribution": distribution})["command"]["distribution"] == expected


def test_command_from_resource_args_when_no_entry_point_and_macros_filled():
    job = build({**CLUSTER, "command": "python train.py --run ${run_id}"}, entry_point=())["command"]
    assert job["command"] == "python train.py --run k3j2h1g0"


def test_entry_point_wins_over_resource_args_command():
    assert build({**CLUSTER, "command": "other"})["command"]["command"].startswith("python train.py")


@pytest.mark.parametrize(
    ("resource_args", "overrides", "key_path", "value"),
    [
        ({}, {}, "compute", None),
        ({"compute": 3}, {}, "compute", 3),
        ({"instance_type": ["x"]}, {}, "instance_type", ["x"]),
        ({**CLUSTER, "instance_count": 0}, {}, "instance_count", 0),
        ({**CLUSTER, "instance_count": "2"}, {}, "instance_count", "2"),
        ({**CLUSTER, "shm_size": "lots"}, {}, "shm_size", "lots"),
        ({**CLUSTER, "timeout": -1}, {}, "timeout", -1),
        ({**CLUSTER, "timeout": True}, {}, "timeout", True),
        ({**CLUSTER, "queue_settings": {"job_tier": "Cheap"}}, {}, "queue_settings.job_tier", "Cheap"),
        ({**CLUSTER, "queue_settings": {"tier": "Spot"}}, {}, "queue_settings.tier", "Spot"),
        ({**CLUSTER, "queue_settings": "Spot"}, {}, "queue_settings", "Spot"),
        ({**CLUSTER, "job_tier": "Basic", "queue_settings": {"job_tier": "Spot"}}, {}, "job_tier", "Basic"),
        ({**CLUSTER, "priority": "urgent"}, {}, "priority", "urgent"),
        ({**CLUSTER, "distribution": {"type": "horovod"}}, {}, "distribution.type", "horovod"),
        ({**CLUSTER, "distribution": {"process_count_per_instance": 2}}, {}, "distribution.type", MISSING),
        ({**CLUSTER, "distribution": {"type": "mpi", "worker_count": 2}}, {}, "distribution.worker_count", 2),
        (
            {**CLUSTER, "distribution": {"type": "pytorch", "process_count_per_instance": 0}},
            {},
            "distribution.process_count_per_instance",
            0,
        ),
        ({**CLUSTER, "distribution": "pytorch"}, {}, "distribution", "pytorch"),
        ({**CLUSTER, "identity": {"type": "root"}}, {}, "identity.type", "root"),
        ({**CLUSTER, "identity": {"type": "managed", "client_id": 5}}, {}, "identity.client_id", 5),
        ({**CLUSTER, "environment_variables": ["A=1"]}, {}, "environment_variables", ["A=1"]),
        ({**CLUSTER, "environment_variables": {"A": {"b": 1}}}, {}, "environment_variables.A", {"b": 1}),
        ({**CLUSTER, "tags": {"t": [1]}}, {}, "tags.t", [1]),
        ({**CLUSTER, "experiment_name": "has space"}, {}, "experiment_name", "has space"),
        ({**CLUSTER, "name": "-bad"}, {}, "name", "-bad"),
        ({**CLUSTER, "display_name": 7}, {}, "display_name", 7),
        ({**CLUSTER, "locations": "westus"}, {}, "locations", "westus"),
        ({**CLUSTER}, {"entry_point": ()}, "entry_point", None),
        ({**CLUSTER, "command": "  "}, {"entry_point": ()}, "entry_point", None),
        ({**CLUSTER}, {"image": None}, "image", None),
    ],
)
def test_invalid_args_name_the_key_path(resource_args, overrides, key_path, value):
    with pytest.raises(ResourceArgsError) as info:
        build(resource_args, **overrides)
    assert info.value.key_path == key_path
    assert info.value.value == value or (value is MISSING and info.value.value is MISSING)
    assert str(info.value).startswith(f"azure-ml: {key_path} = ")


def test_unknown_key_is_rejected_with_a_close_match():
    with pytest.raises(ResourceArgsError, match="did you mean 'instance_count'"):
        build({**CLUSTER, "instance_cont": 2})
    with pytest.raises(ResourceArgsError, match="code"):
        build({**CLUSTER, "code": "./src"})  # local code upload is not for image jobs


# -- states ---------------------------------------------------------------------------------------------------

STATE_TABLE = [
    ("NotStarted", JobState.PENDING),
    ("Queued", JobState.PENDING),
    ("Preparing", JobState.PENDING),
    ("Provisioning", JobState.PENDING),
    ("Starting", JobState.PENDING),
    ("Running", JobState.RUNNING),
    ("Finalizing", JobState.RUNNING),
    ("CancelRequested", JobState.STOPPING),
    ("Completed", JobState.SUCCEEDED),
    ("Failed", JobState.FAILED),
    ("Canceled", JobState.STOPPED),
    ("NotResponding", JobState.FAILED),
    ("Paused", JobState.FAILED),
]


@pytest.mark.parametrize(("status", "state"), STATE_TABLE)
def test_state_table(status, state):
    result = job_status(status)
    assert result.state is state and result.cloud_state == status
    assert (result.message is not None) == (status in ("Failed", "Canceled", "NotResponding", "Paused"))


def test_every_azure_status_is_mapped_and_only_completed_succeeds():
    assert {s for s, _ in STATE_TABLE} == set(STATES)
    assert [s for s, state in STATES.items() if state is JobState.SUCCEEDED] == ["Completed"]
    assert job_status("Canceled").state is not JobState.SUCCEEDED and job_status("Canceled").state.terminal


def test_failed_carries_the_run_history_error_and_unknown_status_keeps_waiting():
    assert job_status("Failed", "CUDA out of memory").message == "CUDA out of memory"
    assert "Azure ML gave no error" in job_status("Failed").message
    assert job_status("SomethingNew").state is JobState.RUNNING


def test_studio_url():
    ws = {"subscription_id": "sub", "resource_group": "rg", "workspace_name": "ws"}
    assert (
        studio_url("job-1", ws)
        == "https://ml.azure.com/runs/job-1?wsid=/subscriptions/sub/resourcegroups/rg/workspaces/ws"
    )
    assert studio_url("job-1", ws, "AzureUSGovernment", "tid-1").startswith("https://ml.azure.us/runs/job-1?")
    assert studio_url("job-1", ws, None, "tid-1").endswith("&tid=tid-1")


def test_backend_identity_and_connection_params():
    assert AzureMLBackend.resource == "azure-ml" and AzureMLBackend.extra == "azure"
    assert set(AzureMLBackend.aliases) == {"azure-ml", "azureml"}
    assert AzureMLBackend.connection_params == {
        "azure_conn_id": "azure_default",
        "subscription_id": None,
        "resource_group": None,
        "workspace_name": None,
    }


def test_dag_parse_imports_load_no_azure_sdk():
    code = (
        "import sys, airflow_wandb_launch.operators, airflow_wandb_launch.operators.azure_ml, "
        "airflow_wandb_launch.backends.azure_ml\n"
        "from airflow_wandb_launch.operators.azure_ml import WandbLaunchAzureMLOperator\n"
        "loaded = [m for m in sys.modules if m.startswith(('azure.ai.ml', 'azure.identity', 'wandb'))]\n"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
