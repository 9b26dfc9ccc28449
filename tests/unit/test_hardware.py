"""hardware.py: the equivalent-hardware table, request parsing, and resource_args_for() against each backend's build."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from airflow_wandb_launch.backends.azure_ml import RESOURCE as AZURE_ML
from airflow_wandb_launch.backends.azure_ml.request import build_command_job
from airflow_wandb_launch.backends.sagemaker import RESOURCE as SAGEMAKER
from airflow_wandb_launch.backends.sagemaker.request import build_training_job
from airflow_wandb_launch.backends.vertex import RESOURCE as VERTEX
from airflow_wandb_launch.backends.vertex.hardware import instance_type as vertex_instance_type
from airflow_wandb_launch.backends.vertex.request import build_custom_job
from airflow_wandb_launch.cost.hardware import (
    CLOUDS,
    HARDWARE,
    NO_EQUIVALENT,
    HardwareRequestError,
    NoEquivalentHardware,
    canonical_cloud,
    offering,
    parse_request,
    resource_args_for,
)
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import load_resource_args
from airflow_wandb_launch.launch.run import RunIdentity

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
N = None  # no equivalent
#: request -> (GPUs, SageMaker type, Vertex machine_type + accelerator, Azure VM size), written out independently
EXPECTED = {
    "1x T4": (1, "ml.g4dn.xlarge", ("n1-standard-8", "NVIDIA_TESLA_T4"), "Standard_NC4as_T4_v3"),
    "1x L4": (1, "ml.g6.xlarge", ("g2-standard-8", "NVIDIA_L4"), N),
    "1x V100": (1, "ml.p3.2xlarge", ("n1-standard-8", "NVIDIA_TESLA_V100"), "Standard_NC6s_v3"),
    "4x V100": (4, "ml.p3.8xlarge", ("n1-standard-32", "NVIDIA_TESLA_V100"), "Standard_NC24s_v3"),
    "8x V100": (8, "ml.p3.16xlarge", ("n1-standard-64", "NVIDIA_TESLA_V100"), N),
    "1x A100-40GB": (1, N, ("a2-highgpu-1g", "NVIDIA_TESLA_A100"), N),
    "4x A100-40GB": (4, N, ("a2-highgpu-4g", "NVIDIA_TESLA_A100"), N),
    "8x A100-40GB": (8, "ml.p4d.24xlarge", ("a2-highgpu-8g", "NVIDIA_TESLA_A100"), "Standard_ND96asr_v4"),
    "1x A100-80GB": (1, N, ("a2-ultragpu-1g", "NVIDIA_A100_80GB"), "Standard_NC24ads_A100_v4"),
    "4x A100-80GB": (4, N, ("a2-ultragpu-4g", "NVIDIA_A100_80GB"), "Standard_NC96ads_A100_v4"),
    "8x A100-80GB": (8, "ml.p4de.24xlarge", ("a2-ultragpu-8g", "NVIDIA_A100_80GB"), "Standard_ND96amsr_A100_v4"),
    "8x H100": (8, "ml.p5.48xlarge", ("a3-highgpu-8g", "NVIDIA_H100_80GB"), "Standard_ND96isr_H100_v5"),
    "cpu-4": (0, "ml.m5.xlarge", ("n1-standard-4", None), "Standard_D4s_v3"),
    "cpu-8": (0, "ml.m5.2xlarge", ("n1-standard-8", None), "Standard_D8s_v3"),
    "cpu-16": (0, "ml.m5.4xlarge", ("n1-standard-16", None), "Standard_D16s_v3"),
}
ROWS = [
    (request, cloud, gpus, name)
    for request, (gpus, sm, vx, az) in EXPECTED.items()
    for cloud, name in ((SAGEMAKER, sm), (VERTEX, vx), (AZURE_ML, az))
]
AVAILABLE = [(request, cloud) for request, cloud, _, name in ROWS if name is not None]
MISSING = [(request, cloud) for request, cloud, _, name in ROWS if name is None]

# -- the table -----------------------------------------------------------------------------------------------


def test_the_table_lists_exactly_the_expected_requests_and_clouds():
    assert set(HARDWARE) == set(EXPECTED)
    assert all(set(by_cloud) == set(CLOUDS) for by_cloud in HARDWARE.values())


@pytest.mark.parametrize(("request_", "cloud", "gpus", "name"), [r for r in ROWS if r[3] is not None])
def test_each_request_maps_to_the_right_machine_and_gpu_count(request_, cloud, gpus, name):
    found = offering(cloud, request_)
    assert found.gpu_count == gpus
    if cloud == VERTEX:
        machine_type, accelerator = name
        assert found.machine_spec() == (
            {"machine_type": machine_type, "accelerator_type": accelerator, "accelerator_count": gpus}
            if accelerator
            else {"machine_type": machine_type}
        )
    else:
        assert found.name == found.instance_type == name
    assert found.gpu_model == (None if gpus == 0 else request_.split(" ", 1)[1])


@pytest.mark.parametrize(("request_", "cloud"), MISSING)
def test_no_equivalent_raises_naming_cloud_request_and_closest(request_, cloud):
    with pytest.raises(NoEquivalentHardware) as caught:
        offering(cloud, request_)
    err = caught.value
    assert (err.cloud, err.request) == (cloud, request_)
    assert err.closest and all(c in str(err) for c in err.closest)
    assert cloud in str(err) and request_ in str(err) and err.reason in str(err)
    with pytest.raises(NoEquivalentHardware):
        resource_args_for(cloud, request_, {})


def test_every_none_has_a_reason_and_every_reason_a_none():
    nones = {(r, c) for r, by_cloud in HARDWARE.items() for c, o in by_cloud.items() if o is None}
    assert nones == set(NO_EQUIVALENT) == set(MISSING)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("4x A100-40GB", "4x A100-40GB"),
        ("  4 X a100-40gb ", "4x A100-40GB"),
        ("1xT4", "1x T4"),
        ("1 x   l4", "1x L4"),
        ("01x V100", "1x V100"),
        ("8x H100-80GB", "8x H100"),
        ("8 \u00d7 h100", "8x H100"),
        ("CPU-4", "cpu-4"),
        ("cpu - 16", "cpu-16"),
        ("1x a100", "1x A100"),
    ],
)
def test_requests_parse_case_and_space_tolerantly(text, canonical):
    assert parse_request(text) == canonical


@pytest.mark.parametrize(
    ("request_", "cloud", "machine"),
    [
        # an A100 of either memory, the 40 GB one where the cloud has both at that count
        ("1x A100", VERTEX, "a2-highgpu-1g"),
        ("4x A100", VERTEX, "a2-highgpu-4g"),
        ("8x A100", VERTEX, "a2-highgpu-8g"),
        ("1x A100", AZURE_ML, "Standard_NC24ads_A100_v4"),
        ("4x A100", AZURE_ML, "Standard_NC96ads_A100_v4"),
        ("8x A100", AZURE_ML, "Standard_ND96asr_v4"),
        ("8x A100", SAGEMAKER, "ml.p4d.24xlarge"),
    ],
)
def test_an_a100_without_its_memory_is_whichever_a100_the_cloud_has(request_, cloud, machine):
    assert offering(cloud, request_).name == machine


@pytest.mark.parametrize("request_", ["1x A100", "4x A100"])
def test_an_a100_no_variant_of_which_the_cloud_has_names_both_gaps(request_):
    with pytest.raises(NoEquivalentHardware) as raised:
        offering(SAGEMAKER, request_)
    message = str(raised.value)
    assert "A100-40GB: SageMaker's only A100-40GB" in message and "A100-80GB: SageMaker's only A100-80GB" in message
    assert "ml.p4d.24xlarge (8x A100-40GB)" in message and "ml.p4de.24xlarge (8x A100-80GB)" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A100", "cannot parse"),
        ("2x A100", "not in the hardware table"),
        ("2x V100", "not in the hardware table"),
        ("1x K80", "unknown GPU"),
        ("cpu-3", "not in the hardware table"),
        ("4x4 A100-40GB", "cannot parse"),
        ("", "cannot parse"),
        (4, "is a string"),
    ],
)
def test_bad_requests_raise_clear_errors(text, message):
    with pytest.raises(HardwareRequestError, match=message):
        parse_request(text)


def test_cloud_aliases_and_unknown_clouds():
    assert [canonical_cloud(c) for c in ("SageMaker", "vertex-ai", "gcp-vertex", "azureml", "azure-ml")] == [
        SAGEMAKER,
        VERTEX,
        VERTEX,
        AZURE_ML,
        AZURE_ML,
    ]
    with pytest.raises(ValueError, match="unknown cloud"):
        offering("aws", "1x T4")


def test_vertex_instance_type_keys():
    assert vertex_instance_type(offering(VERTEX, "8x H100").machine_spec()) == "a3-highgpu-8g+8xNVIDIA_H100_80GB"
    assert vertex_instance_type({"machine_type": "n1-standard-4", "accelerator_count": 0}) == "n1-standard-4"


# -- resource_args_for: each backend's build accepts the result ----------------------------------------------

RUN = RunIdentity("k3j2h1g0", "proj", "ent", "dag.train")
IMAGE = "registry.example.com/train:1"
ENV = {"WANDB_RUN_ID": "k3j2h1g0"}
BASES = {
    SAGEMAKER: {
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
        "ResourceConfig": {"InstanceType": "ml.m4.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    },
    VERTEX: {
        "spec": {
            "worker_pool_specs": [{"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1}],
            "staging_bucket": "gs://bucket",
        },
        "run": {"restart_job_on_worker_restart": False},
    },
    AZURE_ML: {"timeout": 3600, "environment_variables": {"A": "1"}},
}


def build(cloud: str, resource_args: dict) -> dict:
    request = LaunchRequest(resource=cloud, run=RUN, image=IMAGE, entry_point=("python", "train.py"))
    builder = {SAGEMAKER: build_training_job, VERTEX: build_custom_job, AZURE_ML: build_command_job}[cloud]
    return builder(request, resource_args, dict(ENV))


def built_hardware(cloud: str, payload: dict) -> tuple[str, int, int, bool]:
    """(machine, GPUs per machine, machines, spot) as the backend's payload says."""
    if cloud == SAGEMAKER:
        resources = payload["ResourceConfig"]
        return resources["InstanceType"], -1, resources["InstanceCount"], payload["EnableManagedSpotTraining"]
    if cloud == VERTEX:
        pools = payload["job_spec"]["worker_pool_specs"]
        spec = pools[0]["machine_spec"]
        spot = payload["job_spec"].get("scheduling", {}).get("strategy") == "SPOT"
        return spec["machine_type"], spec.get("accelerator_count", 0), sum(p["replica_count"] for p in pools), spot
    command = payload["command"]
    return command["instance_type"], -1, command["instance_count"], command.get("job_tier") == "Spot"


@pytest.mark.parametrize("spot", [False, True])
@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize(("request_", "cloud"), AVAILABLE)
def test_resource_args_for_builds_on_every_backend(request_, cloud, count, spot):
    base = copy.deepcopy(BASES[cloud])
    args = resource_args_for(cloud, request_, base, count=count, spot=spot)
    assert base == BASES[cloud]  # the base is not touched
    machine, gpus, machines, built_spot = built_hardware(cloud, build(cloud, args))
    expected = offering(cloud, request_)
    assert (machine, machines, built_spot) == (expected.name, count, spot)
    if cloud == VERTEX:
        assert gpus == expected.gpu_count


def test_sagemaker_spot_wait_defaults_to_twice_the_runtime_and_keeps_a_given_one():
    body = build(SAGEMAKER, resource_args_for(SAGEMAKER, "1x V100", BASES[SAGEMAKER], spot=True))
    assert body["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    given = {**BASES[SAGEMAKER], "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 5000}}
    body = build(SAGEMAKER, resource_args_for(SAGEMAKER, "1x V100", given, spot=True))
    assert body["StoppingCondition"]["MaxWaitTimeInSeconds"] == 5000
    no_runtime = {**BASES[SAGEMAKER], "StoppingCondition": {}}
    args = resource_args_for(SAGEMAKER, "1x V100", no_runtime, spot=True)
    assert args["StoppingCondition"] == {"MaxWaitTimeInSeconds": 172800}


def test_sagemaker_snake_case_base_is_updated_in_place_and_non_hardware_values_win():
    base = {
        "role_arn": BASES[SAGEMAKER]["RoleArn"],
        "resource_config": {"instance_type": "ml.m4.xlarge", "instance_count": 1, "volume_size_in_gb": 80},
        "output_data_config": {"s3_output_path": "s3://bucket/out"},
        "stopping_condition": {"max_runtime_in_seconds": 100},
    }
    args = resource_args_for(SAGEMAKER, "8x A100-40GB", base, count=2, spot=True)
    assert args["resource_config"] == {"instance_type": "ml.p4d.24xlarge", "instance_count": 2, "volume_size_in_gb": 80}
    body = build(SAGEMAKER, args)
    assert body["ResourceConfig"]["VolumeSizeInGB"] == 80
    assert body["StoppingCondition"] == {"MaxRuntimeInSeconds": 100, "MaxWaitTimeInSeconds": 200}


@pytest.mark.parametrize(
    ("cloud", "example"),
    [
        (SAGEMAKER, "sagemaker_queue_config.yaml"),
        (VERTEX, "vertex_queue_config.yaml"),
        (VERTEX, "vertex_queue_configs/t4.yaml"),
        (VERTEX, "vertex_queue_configs/a100x8x8.yaml"),
        (AZURE_ML, "azure_ml_serverless_spot.yaml"),
    ],
)
@pytest.mark.parametrize("spot", [False, True])
def test_the_example_queue_configs_take_a_hardware_request_either_way(cloud, example, spot):
    """spot is authoritative: a spot example turns on-demand with spot=False, and builds either way."""
    base = load_resource_args(example, resource=cloud, resource_names=(cloud,), base_dir=EXAMPLES)
    payload = build(cloud, resource_args_for(cloud, "8x H100", base, count=2, spot=spot))
    machine, _, machines, built_spot = built_hardware(cloud, payload)
    assert (machine, machines, built_spot) == (offering(cloud, "8x H100").name, 2, spot)
    if cloud == SAGEMAKER:
        assert ("MaxWaitTimeInSeconds" in payload["StoppingCondition"]) is spot
        assert payload["CheckpointConfig"]["S3Uri"] == "s3://my-bucket/checkpoints"  # not hardware: kept


def test_vertex_keeps_non_hardware_machine_spec_and_pool_settings():
    base = copy.deepcopy(BASES[VERTEX])
    pool = base["spec"]["worker_pool_specs"][0]
    pool["machine_spec"].update(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1, reservation_affinity={})
    pool["disk_spec"] = {"boot_disk_size_gb": 200}
    args = resource_args_for(VERTEX, "cpu-16", base)
    assert args["spec"]["worker_pool_specs"][0] == {
        "machine_spec": {"machine_type": "n1-standard-16", "reservation_affinity": {}},
        "replica_count": 1,
        "disk_spec": {"boot_disk_size_gb": 200},
    }
    assert args["run"] == {"restart_job_on_worker_restart": False}


def test_vertex_count_needs_one_pool_and_a_bare_base_gets_one():
    two_pools = copy.deepcopy(BASES[VERTEX])
    two_pools["spec"]["worker_pool_specs"].append({"machine_spec": {"machine_type": "n1-standard-4"}})
    with pytest.raises(ValueError, match="single worker pool"):
        resource_args_for(VERTEX, "1x T4", two_pools, count=2)
    assert resource_args_for(VERTEX, "1x T4", two_pools)["spec"]["worker_pool_specs"][1] == {
        "machine_spec": {"machine_type": "n1-standard-4"}
    }
    args = resource_args_for(VERTEX, "1x L4", {"spec": {"staging_bucket": "gs://b"}}, spot=True)
    assert args == {
        "spec": {
            "staging_bucket": "gs://b",
            "worker_pool_specs": [
                {
                    "machine_spec": {
                        "machine_type": "g2-standard-8",
                        "accelerator_type": "NVIDIA_L4",
                        "accelerator_count": 1,
                    },
                    "replica_count": 1,
                }
            ],
        },
        "run": {"scheduling_strategy": "SPOT"},
    }
    assert resource_args_for(VERTEX, "1x T4", {"vertex": args})["run"] == {}  # wrapper unwrapped, spot removed


def test_azure_compute_cluster_stays_and_sizes_by_node_count():
    base = load_resource_args("azure_ml_gpu_cluster.yaml", resource=AZURE_ML, base_dir=EXAMPLES)
    args = resource_args_for(AZURE_ML, "4x V100", base, count=3)
    assert (args["compute"], args["instance_count"], "instance_type" in args) == ("gpu-cluster", 3, False)
    assert args["distribution"] == base["distribution"]
    command = build(AZURE_ML, args)["command"]
    assert (command["compute"], command["instance_count"]) == ("gpu-cluster", 3)
    with pytest.raises(ValueError, match="low priority"):
        resource_args_for(AZURE_ML, "4x V100", base, spot=True)


@pytest.mark.parametrize(
    ("base", "spot", "queue"),
    [
        ({"job_tier": "spot"}, False, None),
        ({"job_tier": "Premium"}, True, {"job_tier": "Spot"}),
        ({"queue_settings": {"job_tier": "Spot", "priority": "high"}}, False, {"priority": "high"}),
        ({"job_tier": "Standard"}, False, {"job_tier": "Standard"}),
    ],
)
def test_azure_job_tier_lands_in_queue_settings(base, spot, queue):
    args = resource_args_for(AZURE_ML, "1x T4", base, spot=spot)
    assert "job_tier" not in args
    assert args.get("queue_settings") == queue
    build(AZURE_ML, args)


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2"])
def test_bad_counts(count):
    with pytest.raises(ValueError, match="count"):
        resource_args_for(SAGEMAKER, "1x T4", BASES[SAGEMAKER], count=count)


def test_bases_the_hardware_cannot_go_into():
    with pytest.raises(ValueError, match="InstanceGroups"):
        resource_args_for(SAGEMAKER, "1x T4", {"ResourceConfig": {"InstanceGroups": []}})
    with pytest.raises(ValueError, match="ResourceConfig"):
        resource_args_for(SAGEMAKER, "1x T4", {"ResourceConfig": "ml.p3.2xlarge"})
    with pytest.raises(ValueError, match="worker_pool_specs"):
        resource_args_for(VERTEX, "1x T4", {"spec": {"worker_pool_specs": "n1"}})
    with pytest.raises(ValueError, match="mapping"):
        resource_args_for(AZURE_ML, "1x T4", ["compute"])
