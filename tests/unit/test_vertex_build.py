"""The pure half of the ``vertex`` resource: queue config -> CustomJob, and CustomJob state -> JobStatus."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from airflow_wandb_launch.backends.vertex.links import console_url
from airflow_wandb_launch.backends.vertex.request import build_custom_job, label_value
from airflow_wandb_launch.backends.vertex.states import STATES, job_status
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.job import JobState
from airflow_wandb_launch.launch.prepare import prepare_launch
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import load_resource_args
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    [ROOT / "example_dags" / "vertex_queue_config.yaml", *(ROOT / "example_dags").glob("vertex_queue_configs/*.yaml")]
)
IMAGE = "us-docker.pkg.dev/p/r/train:1"
ENV = {"WANDB_RUN_ID": "abcd1234", "WANDB_PROJECT": "proj", "WANDB_API_KEY": "k"}
CREDS = WandbCredentials(api_key="k")
LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")


def request(**overrides) -> LaunchRequest:
    fields = {
        "resource": "vertex",
        "run": RunIdentity("abcd1234", "proj", "ent", "Dag.Train"),
        "image": IMAGE,
        "airflow_ids": {
            "dag_id": "My_DAG",
            "task_id": "train",
            "run_id": "manual__2026-01-01T00:00:00+00:00",
            "try_number": "1",
        },
    }
    return LaunchRequest(**{**fields, **overrides})


def config(**spec_overrides) -> dict:
    pool = {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "container_spec": {"image_uri": "${image_uri}"},
    }
    return {"spec": {"worker_pool_specs": [pool], "staging_bucket": "gs://b", **spec_overrides}, "run": {}}


def build(resource_args: dict, **request_overrides) -> dict:
    """What the operator does: prepare once (wrapper, macros), then the backend's build."""
    req = request(**request_overrides)
    prepared = prepare_launch(req, resource_args, CREDS, resource_names=("vertex", "gcp-vertex", "vertex-ai"))
    return build_custom_job(req, prepared.resource_args, ENV)


# -- the seed's examples and the example configs --------------------------------------------------------------

SEED_POOLS = {
    "t4": {
        "machine_spec": {
            "machine_type": "n1-standard-8",
            "accelerator_type": "NVIDIA_TESLA_T4",
            "accelerator_count": 1,
        },
        "replica_count": 1,
    },
    "a100x4": {
        "machine_spec": {
            "machine_type": "a2-highgpu-4g",
            "accelerator_type": "NVIDIA_TESLA_A100",
            "accelerator_count": 4,
        },
        "replica_count": 1,
    },
    "a100x8x8": {
        "machine_spec": {
            "machine_type": "a2-highgpu-8g",
            "accelerator_type": "NVIDIA_TESLA_A100",
            "accelerator_count": 8,
        },
        "replica_count": 8,
    },
}


@pytest.mark.parametrize("name", SEED_POOLS)
def test_seed_worker_pools_pass_as_written(name):
    job = build({"spec": {"worker_pool_specs": [SEED_POOLS[name]], "staging_bucket": "gs://b"}})
    pools = job["job_spec"]["worker_pool_specs"]
    assert all(p["container_spec"]["image_uri"] == IMAGE for p in pools)
    assert sum(p["replica_count"] for p in pools) == SEED_POOLS[name]["replica_count"]
    assert pools[0]["replica_count"] == 1  # Vertex's primary replica stands alone
    assert all(p["machine_spec"] == SEED_POOLS[name]["machine_spec"] for p in pools)


def test_seed_default_config_with_w_and_b_wrapper():
    seed = {
        "vertex": {
            "spec": {
                "worker_pool_specs": [
                    {
                        "machine_spec": {
                            "machine_type": "n1-standard-4",
                            "accelerator_type": "NVIDIA_TESLA_V100",
                            "accelerator_count": 1,
                        },
                        "replica_count": 1,
                        "container_spec": {"image_uri": "${image_uri}"},
                    }
                ],
                "staging_bucket": "gs://my-company-ml-staging",
            },
            "run": {"restart_job_on_worker_restart": False},
        }
    }
    args = load_resource_args(seed, resource="vertex", resource_names=("vertex", "gcp-vertex", "vertex-ai"))
    job = build(args)
    assert job["job_spec"]["worker_pool_specs"][0]["container_spec"]["image_uri"] == IMAGE
    assert job["job_spec"]["base_output_directory"]["output_uri_prefix"].startswith("gs://my-company-ml-staging/")
    assert "scheduling" not in job["job_spec"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_configs_build_and_make_a_valid_custom_job(path):
    from google.cloud import aiplatform_v1 as v1

    job = build(load_resource_args(str(path), resource="vertex"))
    message = v1.CustomJob(job)  # the SDK accepts the dict: field names and enum names are right
    assert message.job_spec.worker_pool_specs[0].container_spec.image_uri == IMAGE
    assert yaml.safe_load(path.read_text())["spec"]["staging_bucket"].startswith("gs://")


# -- the CustomJob we build ------------------------------------------------------------------------------------


def test_env_is_appended_to_every_container_and_the_users_entries_win():
    cfg = config()
    cfg["spec"]["worker_pool_specs"][0]["container_spec"]["env"] = [
        {"name": "WANDB_PROJECT", "value": "mine"},
        {"name": "X", "value": "1"},
    ]
    cfg["spec"]["worker_pool_specs"].append({"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 2})
    first, second = build(cfg)["job_spec"]["worker_pool_specs"]
    assert first["container_spec"]["env"] == [
        {"name": "WANDB_PROJECT", "value": "mine"},
        {"name": "X", "value": "1"},
        {"name": "WANDB_RUN_ID", "value": "abcd1234"},
        {"name": "WANDB_API_KEY", "value": "k"},
    ]
    assert second["container_spec"] == {"image_uri": IMAGE, "env": [{"name": k, "value": v} for k, v in ENV.items()]}


def test_labels_are_valid_gcp_labels_and_carry_the_run_and_airflow_ids():
    labels = build(config(labels={"team": "research", "wandb-run-id": "stale"}))["labels"]
    assert labels["wandb-run-id"] == "abcd1234" and labels["team"] == "research"
    assert labels["airflow-dag-id"] == "my_dag" and labels["airflow-try-number"] == "1"
    assert labels["airflow-run-id"] == "manual__2026-01-01t00_00_00_00_00"
    assert all(LABEL.match(k) and LABEL.match(v) for k, v in labels.items())
    assert label_value("X" * 100) == "x" * 63


def test_macros_display_name_command_and_output_dir():
    cfg = config(base_output_dir="gs://out/${project_name}/${run_id}")
    cfg["spec"]["worker_pool_specs"][0]["container_spec"]["args"] = ["--name", "${run_name}"]
    job = build(cfg, entry_point=("python", "train.py"))
    container = job["job_spec"]["worker_pool_specs"][0]["container_spec"]
    assert container["args"] == ["--name", "Dag.Train"] and container["command"] == ["python", "train.py"]
    assert job["job_spec"]["base_output_directory"] == {"output_uri_prefix": "gs://out/proj/abcd1234"}
    assert job["display_name"] == "my-dag-train-abcd1234"
    assert build(config(staging_bucket="bare"))["job_spec"]["base_output_directory"]["output_uri_prefix"] == (
        "gs://bare/aiplatform-custom-job-my-dag-train-abcd1234"
    )


def test_run_args_become_scheduling_and_job_spec_fields():
    cfg = config(network="projects/1/global/networks/vpc", reserved_ip_ranges=["r1"], encryption_spec_key_name="k1")
    cfg["run"] = {
        "timeout": 3600,
        "restart_job_on_worker_restart": True,
        "scheduling_strategy": "spot",
        "max_wait_duration": 0,
        "service_account": "sa@p.iam.gserviceaccount.com",
        "enable_web_access": True,
        "sync": False,
    }
    job = build(cfg)
    spec = job["job_spec"]
    assert spec["scheduling"] == {
        "timeout": {"seconds": 3600},
        "restart_job_on_worker_restart": True,
        "strategy": "SPOT",
        "max_wait_duration": {"seconds": 0},
    }
    assert spec["service_account"] == "sa@p.iam.gserviceaccount.com" and spec["enable_web_access"] is True
    assert spec["network"] == "projects/1/global/networks/vpc" and spec["reserved_ip_ranges"] == ["r1"]
    assert job["encryption_spec"] == {"kms_key_name": "k1"}
    assert build(config(service_account="s@x"))["job_spec"]["service_account"] == "s@x"


def test_build_is_pure():
    cfg = config()
    before = copy.deepcopy(cfg)
    assert build(cfg) == build(cfg)
    assert cfg == before


# -- validation: every error names its key path ----------------------------------------------------------------


def _pool(**fields):
    return {"spec": {"worker_pool_specs": [fields], "staging_bucket": "gs://b"}}


BAD = [
    ({}, "spec", None),
    ({"spec": {"staging_bucket": "gs://b"}}, "spec.worker_pool_specs", None),
    ({"spec": {"worker_pool_specs": [], "staging_bucket": "gs://b"}}, "spec.worker_pool_specs", None),
    ({"spec": {"worker_pool_specs": "n1", "staging_bucket": "gs://b"}}, "spec.worker_pool_specs", "a list"),
    ({"spec": {"worker_pool_specs": ["n1"], "staging_bucket": "gs://b"}}, "spec.worker_pool_specs[0]", "a mapping"),
    (
        {"spec": {"worker_pool_specs": [{"machine_spec": {"machine_type": "n1-standard-4"}}]}},
        "spec.staging_bucket",
        "gs://",
    ),
    (config(base_output_dir="s3://x"), "spec.base_output_dir", "gs://"),
    (_pool(replica_count=1), "spec.worker_pool_specs[0].machine_spec", None),
    (_pool(machine_spec={"accelerator_count": 1}), "spec.worker_pool_specs[0].machine_spec.machine_type", None),
    (
        _pool(machine_spec={"machine_type": "n1-standard-4", "accelerator_count": 2}),
        "spec.worker_pool_specs[0].machine_spec.accelerator_type",
        "accelerator type",
    ),
    (
        _pool(machine_spec={"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_T4"}),
        "spec.worker_pool_specs[0].machine_spec.accelerator_count",
        ">= 1",
    ),
    (
        _pool(machine_spec={"machine_type": "n1-standard-4", "accelerator_count": "1"}),
        "spec.worker_pool_specs[0].machine_spec.accelerator_count",
        "an integer",
    ),
    (
        _pool(machine_spec={"machine_type": "n1-standard-4"}, replica_count=0),
        "spec.worker_pool_specs[0].replica_count",
        ">= 1",
    ),
    (
        _pool(machine_spec={"machine_type": "n1-standard-4"}, replica_count=1.5),
        "spec.worker_pool_specs[0].replica_count",
        "integer",
    ),
    (
        _pool(machine_spec={"machine_type": "n1-standard-4"}, replica_count=True),
        "spec.worker_pool_specs[0].replica_count",
        "integer",
    ),
    (
        _pool(machine_spec={"machine_typo": "n1"}),
        "spec.worker_pool_specs[0].machine_spec.machine_typo",
        "did you mean 'machine_type'",
    ),
    (
        _pool(
            machine_spec={"machine_type": "n1-standard-4"},
            container_spec={"image_uri": "i", "env": [{"name": "A", "value": 1}]},
        ),
        "spec.worker_pool_specs[0].container_spec.env[0].value",
        "a string",
    ),
    (
        _pool(machine_spec={"machine_type": "n1-standard-4"}, container_spec={"image_uri": "i", "command": "python"}),
        "spec.worker_pool_specs[0].container_spec.command",
        "a list",
    ),
    (
        _pool(machine_spec={"machine_type": "n1-standard-4"}, python_package_spec={}),
        "spec.worker_pool_specs[0].python_package_spec",
        "container_spec",
    ),
    (
        _pool(machine_spec={"machine_type": "n1-standard-4"}, disk_spec={"boot_disk_size_gb": "100"}),
        "spec.worker_pool_specs[0].disk_spec.boot_disk_size_gb",
        "an integer",
    ),
    (
        {
            "spec": {
                "worker_pool_specs": [{"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 2}, {}],
                "staging_bucket": "gs://b",
            }
        },
        "spec.worker_pool_specs[0].replica_count",
        "primary replica",
    ),
    (config(worker_pool_spec=[]), "spec.worker_pool_spec", "did you mean 'worker_pool_specs'"),
    (config(labels={"Team": "x"}), "spec.labels.Team", "label key"),
    (config(labels={"team": "Research Group"}), "spec.labels.team", "label value"),
    (config(labels=["team"]), "spec.labels", "a mapping"),
    (config(project="p"), "spec.project", "project_id"),
    (config(service_account="a@x") | {"run": {"service_account": "b@x"}}, "run.service_account", "same value"),
    (config() | {"run": {"timeout": "1h"}}, "run.timeout", "an integer"),
    (config() | {"run": {"timeout": 0}}, "run.timeout", ">= 1"),
    (config() | {"run": {"max_wait_duration": -1}}, "run.max_wait_duration", ">= 0"),
    (config() | {"run": {"scheduling_strategy": "CHEAP"}}, "run.scheduling_strategy", "SPOT"),
    (
        config() | {"run": {"restart_job_on_worker_restart": "yes"}},
        "run.restart_job_on_worker_restart",
        "true or false",
    ),
    (config() | {"run": {"experiment": "e"}}, "run.experiment", "W&B"),
    (config() | {"run": {"timout": 5}}, "run.timout", "did you mean 'timeout'"),
    (config() | {"runs": {}}, "runs", "did you mean 'run'"),
]


@pytest.mark.parametrize(("resource_args", "key_path", "expected"), BAD, ids=[b[1] for b in BAD])
def test_invalid_config_names_the_key_path(resource_args, key_path, expected):
    with pytest.raises(ResourceArgsError) as raised:
        build(resource_args)
    assert raised.value.key_path == key_path
    if expected:
        assert expected in raised.value.expected


def test_pool_without_container_and_no_image_is_an_error():
    with pytest.raises(ResourceArgsError) as raised:
        build(_pool(machine_spec={"machine_type": "n1-standard-4"}), image=None)
    assert raised.value.key_path == "spec.worker_pool_specs[0].container_spec"
    with pytest.raises(ResourceArgsError) as raised:
        build(
            _pool(machine_spec={"machine_type": "n1-standard-4"}, container_spec={"image_uri": "${image_uri}"}),
            image=None,
        )
    assert raised.value.key_path == "spec.worker_pool_specs[0].container_spec.image_uri"


def test_empty_pool_placeholders_are_kept():
    cfg = config()
    cfg["spec"]["worker_pool_specs"] += [{}, {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1}]
    pools = build(cfg)["job_spec"]["worker_pool_specs"]
    assert pools[1] == {} and pools[2]["container_spec"]["image_uri"] == IMAGE


# -- states ----------------------------------------------------------------------------------------------------

STATE_TABLE = [
    ("JOB_STATE_QUEUED", JobState.PENDING),
    ("JOB_STATE_PENDING", JobState.PENDING),
    ("JOB_STATE_RUNNING", JobState.RUNNING),
    ("JOB_STATE_UPDATING", JobState.RUNNING),
    ("JOB_STATE_SUCCEEDED", JobState.SUCCEEDED),
    ("JOB_STATE_FAILED", JobState.FAILED),
    ("JOB_STATE_CANCELLING", JobState.STOPPING),
    ("JOB_STATE_CANCELLED", JobState.STOPPED),
    ("JOB_STATE_EXPIRED", JobState.TIMED_OUT),
    ("JOB_STATE_PAUSED", JobState.FAILED),
    ("JOB_STATE_PARTIALLY_SUCCEEDED", JobState.FAILED),
    ("JOB_STATE_UNSPECIFIED", JobState.RUNNING),
]


@pytest.mark.parametrize(("state", "expected"), STATE_TABLE)
def test_state_table(state, expected):
    status = job_status({"state": state})
    assert status.state is expected and status.cloud_state == state
    if (expected.terminal and expected is not JobState.SUCCEEDED) or state in ("JOB_STATE_PAUSED",):
        assert status.message  # every bad ending is explained


def test_every_vertex_state_is_in_the_table():
    from google.cloud import aiplatform_v1 as v1

    assert {s.name for s in v1.JobState} - set(STATES) == {"JOB_STATE_UNSPECIFIED"}


def test_cancelled_is_never_success_and_keeps_vertexs_reason():
    status = job_status({"state": "JOB_STATE_CANCELLED", "error": {"code": 1, "message": "CANCELED"}})
    assert status.state is JobState.STOPPED and status.state is not JobState.SUCCEEDED
    assert status.message == "the CustomJob was cancelled: CANCELED"


def test_failed_carries_the_jobs_error_and_int_states_read_too():
    error = "Replica workerpool0-0 exited with a non-zero status of 1."
    assert job_status({"state": "JOB_STATE_FAILED", "error": {"message": error}}).message == error
    assert job_status({"state": 9}).state is JobState.TIMED_OUT


def test_details_carry_times_and_replicas_for_cost():
    job = {
        "state": "JOB_STATE_SUCCEEDED",
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-01-01T01:00:00Z",
        "job_spec": {
            "worker_pool_specs": [
                {
                    "machine_spec": {
                        "machine_type": "a2-highgpu-8g",
                        "accelerator_type": "NVIDIA_TESLA_A100",
                        "accelerator_count": 8,
                    },
                    "replica_count": "8",
                }
            ],
            "scheduling": {"strategy": "SPOT"},
        },
    }
    details = job_status(job).details
    assert details["start_time"] == "2026-01-01T00:00:00Z" and details["end_time"] == "2026-01-01T01:00:00Z"
    assert details["worker_pools"] == [
        {
            "machine_type": "a2-highgpu-8g",
            "accelerator_type": "NVIDIA_TESLA_A100",
            "accelerator_count": 8,
            "replica_count": 8,
        }
    ]
    assert details["scheduling_strategy"] == "SPOT"


def test_console_url():
    url = console_url("projects/123/locations/us-central1/customJobs/456", "my-project")
    assert (
        url == "https://console.cloud.google.com/agent-platform/locations/us-central1/training/456?project=my-project"
    )
    assert console_url("not-a-job") is None


def test_operators_import_loads_no_aiplatform():
    code = (
        "import sys, airflow_wandb_launch.operators, airflow_wandb_launch.operators.vertex; "
        "bad = [m for m in sys.modules if m.startswith(('google.cloud.aiplatform', 'wandb'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
