"""Cost per run, pure: each backend's pricing inputs from a built payload, and job_cost from JobRef + JobStatus."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from airflow_wandb_launch.backends.azure_ml import pricing as azure_ml
from airflow_wandb_launch.backends.azure_ml.request import build_command_job
from airflow_wandb_launch.backends.sagemaker import pricing as sagemaker
from airflow_wandb_launch.backends.sagemaker.request import build_training_job
from airflow_wandb_launch.backends.vertex import pricing as vertex
from airflow_wandb_launch.backends.vertex.request import build_custom_job
from airflow_wandb_launch.cost import estimate as costs
from airflow_wandb_launch.cost.estimate import cost_dict, estimate, job_cost
from airflow_wandb_launch.cost.hardware import resource_args_for
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.pricing_inputs import Machine, PricingInputs
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity

HOUR = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T01:00:00Z"}
SAGEMAKER_BASE = {
    "RoleArn": "arn:aws:iam::123456789012:role/R",
    "ResourceConfig": {"VolumeSizeInGB": 50},
    "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
}
VERTEX_BASE = {"spec": {"worker_pool_specs": [{}], "staging_bucket": "gs://b"}}
VERTEX_T4_SPOT_X2 = resource_args_for("vertex", "1x T4", VERTEX_BASE, count=2, spot=True)


def request(resource: str) -> LaunchRequest:
    return LaunchRequest(
        resource=resource,
        run=RunIdentity("abcd1234", "proj", "ent", "dag.train"),
        image="registry/train:1",
        entry_point=("python", "train.py"),
        airflow_ids={"dag_id": "dag", "task_id": "train", "run_id": "r", "try_number": "1"},
    )


def sagemaker_inputs(hardware: str, **kwargs) -> PricingInputs:
    args = resource_args_for("sagemaker", hardware, SAGEMAKER_BASE, **kwargs)
    return sagemaker.pricing_inputs(build_training_job(request("sagemaker"), args, {}), "us-east-1")


def vertex_inputs(resource_args: dict) -> PricingInputs:
    return vertex.pricing_inputs(build_custom_job(request("vertex"), resource_args, {}), "us-central1")


def azure_inputs(resource_args: dict) -> PricingInputs:
    return azure_ml.pricing_inputs(build_command_job(request("azure-ml"), resource_args, {}), "eastus")


# -- each backend's pricing inputs from a built payload ----------------------------------------------------------


@pytest.mark.parametrize(
    ("hardware", "count", "spot", "expected"),
    [
        ("1x T4", 1, False, {"spot": False, "machines": [{"instance_type": "ml.g4dn.xlarge", "count": 1}]}),
        ("8x A100-40GB", 4, True, {"spot": True, "machines": [{"instance_type": "ml.p4d.24xlarge", "count": 4}]}),
    ],
)
def test_sagemaker_inputs(hardware, count, spot, expected):
    assert sagemaker_inputs(hardware, count=count, spot=spot).to_dict() == {
        "cloud": "sagemaker",
        "region": "us-east-1",
        **expected,
    }


def test_sagemaker_instance_groups_are_each_a_machine():
    args = {**SAGEMAKER_BASE, "ResourceConfig": {"InstanceGroups": [
        {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 2, "InstanceGroupName": "a"},
        {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "InstanceGroupName": "b"},
    ]}}  # fmt: skip
    payload = build_training_job(request("sagemaker"), args, {})
    assert sagemaker.pricing_inputs(payload, "us-east-1").machines == (
        Machine("ml.g4dn.xlarge", 2),
        Machine("ml.m5.xlarge", 1),
    )


@pytest.mark.parametrize(
    ("count", "spot", "machines"),
    [
        (1, False, [{"instance_type": "n1-standard-8+1xNVIDIA_TESLA_T4", "count": 1}]),
        # one pool of 3 becomes the primary plus 2 workers: 3 replicas of one machine
        (3, True, [{"instance_type": "n1-standard-8+1xNVIDIA_TESLA_T4", "count": 3}]),
    ],
)
def test_vertex_inputs_count_replicas_over_all_pools(count, spot, machines):
    inputs = vertex_inputs(resource_args_for("vertex", "1x T4", VERTEX_BASE, count=count, spot=spot))
    assert inputs.to_dict() == {"cloud": "vertex", "region": "us-central1", "spot": spot, "machines": machines}


def test_vertex_pools_of_different_machines_are_listed_apart_and_empty_pools_skipped():
    gpu = {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1}
    pools = [
        {"machine_spec": gpu, "replica_count": 1},
        {"machine_spec": gpu, "replica_count": 2},
        {},
        {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 2},
    ]
    inputs = vertex_inputs({"spec": {"worker_pool_specs": pools, "staging_bucket": "gs://b"}})
    assert inputs.machines == (Machine("n1-standard-8+1xNVIDIA_TESLA_T4", 3), Machine("n1-standard-4", 2))


def test_azure_inputs_serverless_and_cluster():
    serverless = azure_inputs(resource_args_for("azure-ml", "1x T4", {}, count=2, spot=True))
    assert serverless == PricingInputs("azure-ml", "eastus", True, (Machine("Standard_NC4as_T4_v3", 2),))
    cluster = azure_inputs({"compute": "gpu-cluster", "instance_count": 2})
    assert cluster.machines == (Machine(None, 2, "gpu-cluster"),)


# -- job_cost ------------------------------------------------------------------------------------------------------


def ref(inputs: PricingInputs | None, resource: str = "sagemaker") -> JobRef:
    return JobRef(resource, "job-1", RunIdentity("r", "p", "e", "dag.train"), pricing=inputs)


def status(**details) -> JobStatus:
    return JobStatus(JobState.SUCCEEDED, "Completed", None, details)


@pytest.mark.parametrize(
    ("inputs", "details", "usd", "billable", "rate"),
    [
        # SageMaker: BillableTimeInSeconds x instances x on-demand (spot's saving is in the billable time)
        (sagemaker_inputs("1x T4"), {"BillableTimeInSeconds": 3600}, 0.74, 3600, 0.736),
        (sagemaker_inputs("1x T4", count=2, spot=True), {"BillableTimeInSeconds": 1800}, 0.74, 3600, 0.736),
        # Vertex: (end - start) x replicas; spot at the spot rate
        (vertex_inputs(resource_args_for("vertex", "1x T4", VERTEX_BASE)), HOUR, 0.84, 3600, 0.8395),
        (
            vertex_inputs(resource_args_for("vertex", "1x T4", VERTEX_BASE, count=2, spot=True)),
            HOUR,
            0.59,
            7200,
            0.2938,
        ),
        # Azure ML: (end - start) x nodes
        (azure_inputs(resource_args_for("azure-ml", "1x T4", {})), HOUR, 0.53, 3600, 0.526),
    ],
)
def test_job_cost(inputs, details, usd, billable, rate):
    cost = job_cost(ref(inputs, inputs.cloud), status(**details), prices={})
    assert (cost.usd, cost.billable_seconds, cost.hourly_rate) == (usd, billable, rate)
    assert cost.cloud == inputs.cloud and cost.instance_type == inputs.machines[0].instance_type


def test_pools_of_different_machines_are_priced_each_at_its_rate():
    machines = (Machine("n1-standard-8+1xNVIDIA_TESLA_T4", 1), Machine("n1-standard-4", 2))
    cost = estimate(PricingInputs("vertex", "us-central1", False, machines), HOUR)
    assert cost.usd == round(0.8395 + 2 * 0.2185, 2) and cost.billable_seconds == 3 * 3600
    assert cost.instance_type == "1x n1-standard-8+1xNVIDIA_TESLA_T4 + 2x n1-standard-4"
    assert cost.hourly_rate == round((0.8395 + 2 * 0.2185) / 3, 4)


@pytest.mark.parametrize(
    ("inputs", "details", "why"),
    [
        (None, {}, "no pricing inputs"),  # local resources
        (sagemaker_inputs("1x T4"), {}, "no BillableTimeInSeconds"),
        (vertex_inputs(resource_args_for("vertex", "1x T4", VERTEX_BASE)), {"end_time": HOUR["end_time"]}, "no start"),
        (replace(sagemaker_inputs("1x T4"), region="ap-south-1"), {"BillableTimeInSeconds": 60}, "no sagemaker price"),
        (replace(sagemaker_inputs("1x T4"), region=None), {"BillableTimeInSeconds": 60}, "region is unknown"),
        (azure_inputs({"compute": "gpu-cluster"}), HOUR, "compute cluster 'gpu-cluster'"),
        (
            replace(azure_inputs({"instance_type": "Standard_E4s_v3"}), spot=False),
            HOUR,
            "no azure-ml price for instance",
        ),
    ],
)
def test_no_estimate_is_none_with_the_reason_logged(inputs, details, why, caplog):
    with caplog.at_level(logging.INFO, logger="airflow_wandb_launch.cost.estimate"):
        assert job_cost(ref(inputs), status(**details), prices={}) is None
    assert why in caplog.text


def test_price_overrides_apply_and_the_variable_is_read_only_with_inputs(monkeypatch):
    reads = []
    monkeypatch.setattr(costs, "prices_from_variable", lambda: reads.append(1) or {})
    assert job_cost(ref(None, "local-process"), status()) is None and reads == []
    override = {"sagemaker": {"us-east-1": {"ml.g4dn.xlarge": 1.0}}}
    monkeypatch.setattr(costs, "prices_from_variable", lambda: override)
    cost = job_cost(ref(sagemaker_inputs("1x T4")), status(BillableTimeInSeconds=3600))
    assert cost.usd == 1.0 and cost.source.startswith("user override")


def test_a_bad_variable_is_ignored(monkeypatch, caplog):
    def broken():
        raise ValueError("not JSON")

    monkeypatch.setattr(costs, "prices_from_variable", broken)
    cost = job_cost(ref(sagemaker_inputs("1x T4")), status(BillableTimeInSeconds=3600))
    assert cost.usd == 0.74 and "Ignoring the wandb_launch_prices Variable" in caplog.text


def test_cost_dict_is_the_launch_results_cost():
    inputs = sagemaker_inputs("1x T4", count=2)
    cost = job_cost(ref(inputs), status(BillableTimeInSeconds=3600), prices={})
    assert cost_dict(cost, ref(inputs)) == {
        "usd": 1.47,
        "billable_seconds": 7200.0,
        "instance_type": "ml.g4dn.xlarge",
        "cloud": "sagemaker",
        "hourly_rate": 0.736,
        "spot": False,
        "source": cost.source,
        "prices_as_of": "2024-12-01",
        "machines": 2,
    }
    assert cost_dict(None, ref(inputs)) is None
