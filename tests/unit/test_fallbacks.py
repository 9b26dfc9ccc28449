"""``fallbacks``: parsed when the DAG is parsed, each attempt's resource and config, job names, the record."""

from __future__ import annotations

import pytest

from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.fallbacks import (
    Attempt,
    AttemptRequest,
    attempt_job_name,
    attempt_request,
    attempt_target,
    deep_merge,
    parse_fallbacks,
    plan_attempt,
)
from airflow_wandb_launch.launch.job import JobRef
from airflow_wandb_launch.launch.memory import LaunchRecord, Phase
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import load_resource_args
from airflow_wandb_launch.launch.result import attempt_record, total_cost
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials
from airflow_wandb_launch.operators import WandbLaunchOperator, WandbLaunchSageMakerOperator

SAGEMAKER = {
    "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
    "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
    "EnableManagedSpotTraining": True,
}
VERTEX = {"spec": {"worker_pool_specs": [{"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1}]}}


def load(resource, value):
    return load_resource_args(value, resource=resource, resource_names=(resource,))


def plan(index, fallbacks, resource="sagemaker", args=SAGEMAKER, conn=None):
    conn = conn if conn is not None else {"aws_conn_id": "aws_default", "region_name": None}
    parsed = parse_fallbacks(resource, fallbacks)
    return plan_attempt(index, resource=resource, connection_args=conn, resource_args=args, fallbacks=parsed, load=load)


# --- parsing -------------------------------------------------------------------------------------------------------


def test_a_bare_dict_is_a_partial_resource_args():
    [fallback] = parse_fallbacks("sagemaker", [{"ResourceConfig": {"InstanceType": "ml.p3.8xlarge"}}])
    assert fallback.resource is None and fallback.connection_args == {} and fallback.hardware is None
    assert fallback.resource_args == {"ResourceConfig": {"InstanceType": "ml.p3.8xlarge"}}


def test_own_keys_connection_args_and_hardware():
    [region, other] = parse_fallbacks(
        "sagemaker",
        [
            {"region_name": "us-west-2", "resource_args": {"EnableManagedSpotTraining": False}},
            {"resource": "vertex-ai", "hardware": "1x a100-40gb", "region": "europe-west4", "resource_args": VERTEX},
        ],
    )
    assert region.resource is None and region.connection_args == {"region_name": "us-west-2"}
    assert region.resource_args == {"EnableManagedSpotTraining": False}
    assert other.resource == "vertex" and other.connection_args == {"region": "europe-west4"}
    assert (other.hardware, other.count, other.spot) == ("1x A100-40GB", 1, False)


@pytest.mark.parametrize(
    ("resource", "fallbacks", "key_path", "expected"),
    [
        ("sagemaker", {"ResourceConfig": {}}, "fallbacks", "a list of dicts"),
        ("sagemaker", ["ml.p3.8xlarge"], "fallbacks[0]", "a non-empty dict"),
        ("sagemaker", [{}], "fallbacks[0]", "a non-empty dict"),
        ("sagemaker", [{"resource": "kubernetes"}], "fallbacks[0].resource", "one of ["),
        ("sagemaker", [{"resource": "local-process"}], "fallbacks[0].resource", "a cloud resource"),
        ("local-process", [{"resource": "sagemaker"}], "fallbacks[0]", "local-process reports no capacity"),
        ("sagemaker", [{"resource": "vertex", "region_name": "x"}], "fallbacks[0].region_name", "sagemaker's"),
        ("sagemaker", [{"hardware": "1x V100", "regoin_name": "x"}], "fallbacks[0].regoin_name", "did you mean"),
        ("sagemaker", [{"hardware": "1x A100"}], "fallbacks[0].hardware", "no equivalent"),
        ("sagemaker", [{"hardware": "1x A100-40GB"}], "fallbacks[0].hardware", "no equivalent"),
        ("sagemaker", [{"hardware": "1x V100", "count": 0}], "fallbacks[0].count", "an integer >= 1"),
        ("sagemaker", [{"hardware": "1x V100", "spot": "yes"}], "fallbacks[0].spot", "true or false"),
        ("sagemaker", [{"region_name": "x", "count": 2}], "fallbacks[0].count", "nothing without 'hardware'"),
        ("sagemaker", [{"resource_args": "partial.yaml"}], "fallbacks[0].resource_args", "a dict (the keys"),
    ],
    ids=[
        "not-a-list",
        "not-a-dict",
        "empty",
        "unknown-resource",
        "local",
        "from-local",
        "foreign-connection",
        "typo",
        "no-single-a100",
        "no-equivalent",
        "count",
        "spot",
        "count-without-hardware",
        "partial-file",
    ],
)
def test_bad_fallbacks_fail_at_parse_time(resource, fallbacks, key_path, expected):
    with pytest.raises(ResourceArgsError) as info:
        parse_fallbacks(resource, fallbacks)
    assert info.value.key_path == key_path and expected in info.value.expected


def test_a_fallback_after_a_resource_that_cannot_classify_is_refused():
    with pytest.raises(ResourceArgsError, match="wandb-queue reports no capacity"):
        parse_fallbacks("sagemaker", [{"resource": "wandb-queue"}, {"resource": "vertex"}])


def test_the_operator_checks_fallbacks_when_the_dag_is_parsed():
    with pytest.raises(ResourceArgsError, match=r"fallbacks\[0\]\.hardware"):
        WandbLaunchSageMakerOperator(task_id="t", image="img:1", fallbacks=[{"hardware": "1x A100"}])
    with pytest.raises(ResourceArgsError, match="local-process reports no capacity"):
        WandbLaunchOperator(task_id="t2", resource="local-process", entry_point="x", fallbacks=[{"cwd": "/"}])
    op = WandbLaunchSageMakerOperator(task_id="t3", image="img:1", fallbacks=[{"hardware": "1x V100"}])
    assert op.fallbacks == [{"hardware": "1x V100"}] and len(op._fallbacks) == 1


# --- each attempt --------------------------------------------------------------------------------------------------


def test_attempt_zero_is_the_operators_own():
    attempt = plan(0, [{"EnableManagedSpotTraining": False}], args="queue.yaml")
    assert attempt == Attempt(0, "sagemaker", {"aws_conn_id": "aws_default", "region_name": None}, "queue.yaml")


def test_partials_merge_in_turn_and_spot_off_drops_the_wait_limit():
    fallbacks = [
        {"resource_config": {"instance_type": "ml.p3.8xlarge"}},  # spelled otherwise: updates the base's keys
        {"EnableManagedSpotTraining": False},
    ]
    first, second = plan(1, fallbacks), plan(2, fallbacks)
    assert first.resource_args["ResourceConfig"] == {
        "InstanceType": "ml.p3.8xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 50,
    }
    assert first.resource_args["StoppingCondition"]["MaxWaitTimeInSeconds"] == 7200
    assert second.resource_args["ResourceConfig"]["InstanceType"] == "ml.p3.8xlarge"  # cumulative
    assert second.resource_args["EnableManagedSpotTraining"] is False
    assert second.resource_args["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert SAGEMAKER["StoppingCondition"]["MaxWaitTimeInSeconds"] == 7200  # the operator's config is untouched


def test_hardware_resolves_through_the_equivalent_hardware_table():
    attempt = plan(1, [{"hardware": "1x V100"}])
    assert attempt.resource_args["ResourceConfig"]["InstanceType"] == "ml.p3.2xlarge"
    assert attempt.resource_args["EnableManagedSpotTraining"] is False  # spot=False by default
    assert "MaxWaitTimeInSeconds" not in attempt.resource_args["StoppingCondition"]
    vertex = plan(1, [{"resource": "vertex", "hardware": "1x A100-40GB", "resource_args": VERTEX}])
    pool = vertex.resource_args["spec"]["worker_pool_specs"][0]
    assert pool["machine_spec"] == {
        "machine_type": "a2-highgpu-1g",
        "accelerator_type": "NVIDIA_TESLA_A100",
        "accelerator_count": 1,
    }


def test_an_a100_without_its_memory_is_the_one_the_fallbacks_resource_has():
    fallbacks = [
        {"resource": "vertex", "hardware": "1x A100", "resource_args": VERTEX},
        {"resource": "azure-ml", "hardware": "1x A100", "resource_args": {"environment": "env:1"}},
    ]
    vertex, azure = plan(1, fallbacks), plan(2, fallbacks)
    assert vertex.resource_args["spec"]["worker_pool_specs"][0]["machine_spec"]["machine_type"] == "a2-highgpu-1g"
    assert azure.resource_args["instance_type"] == "Standard_NC24ads_A100_v4"  # Azure's single A100 is 80 GB


def test_another_resource_has_its_own_config_and_connection():
    fallbacks = [
        {"region_name": "us-west-2"},
        {"resource": "vertex", "resource_args": {"vertex": VERTEX}, "region": "us-east1"},
        {"run": {"scheduling_strategy": "STANDARD"}},
    ]
    region = plan(1, fallbacks)
    assert region.resource == "sagemaker" and region.resource_args == SAGEMAKER
    assert region.connection_args == {"aws_conn_id": "aws_default", "region_name": "us-west-2"}
    other = plan(2, fallbacks)
    assert (other.resource, other.connection_args, other.resource_args) == ("vertex", {"region": "us-east1"}, VERTEX)
    third = plan(3, fallbacks)
    assert third.resource_args == {**VERTEX, "run": {"scheduling_strategy": "STANDARD"}}
    assert attempt_target(3, "sagemaker", {"aws_conn_id": "aws_default"}, parse_fallbacks("sagemaker", fallbacks)) == (
        "vertex",
        {"region": "us-east1"},
    )


def test_the_same_resource_named_again_keeps_the_config_unless_given():
    attempt = plan(1, [{"resource": "sagemaker", "region_name": "eu-west-1"}])
    assert attempt.resource_args == SAGEMAKER and attempt.connection_args["region_name"] == "eu-west-1"


def test_deep_merge():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1, "Environment": {"A_B": "1"}}
    assert deep_merge(base, {"a": {"c": [3]}, "d": None, "e": {"f": 1}}) == {
        "a": {"b": 1, "c": [3]},
        "Environment": {"A_B": "1"},
        "e": {"f": 1},
    }
    assert deep_merge(base, {"A": {"b": 2}})["a"] == {"b": 2, "c": [1, 2]}
    assert base["a"]["c"] == [1, 2]


def test_an_attempt_past_the_fallbacks_is_an_error():
    with pytest.raises(ResourceArgsError):
        plan(2, [{"EnableManagedSpotTraining": False}])


# --- job names and the request --------------------------------------------------------------------------------------


def _request(task_id="train"):
    run = RunIdentity("abcd1234", "p", "e")
    return LaunchRequest("sagemaker", run, image="i", airflow_ids={"dag_id": "dag", "task_id": task_id})


def test_attempt_zero_keeps_its_name_and_later_ones_get_a_suffix():
    request = _request()
    assert attempt_request(request, 0) is request and request.job_name == "dag-train-abcd1234"
    second = attempt_request(request, 2)
    assert isinstance(second, AttemptRequest) and second.job_name == "dag-train-abcd1234-a2"
    assert second.airflow_ids == {"dag_id": "dag", "task_id": "train", "attempt": "2"}
    creds = WandbCredentials("key")
    assert second.job_env(creds) == request.job_env(creds)  # the same W&B run: WANDB_RUN_ID, WANDB_RESUME=allow
    assert second.job_env(creds)["WANDB_RESUME"] == "allow"


def test_a_long_name_is_cut_to_keep_the_run_id_and_the_suffix():
    request = _request("t" * 80)
    assert len(request.job_name) == 63
    name = attempt_request(request, 1).job_name
    assert len(name) <= 63 and name.endswith("-abcd1234-a1") and "--" not in name
    assert attempt_job_name("x-abcd1234", 0) == "x-abcd1234"


# --- the record and the result --------------------------------------------------------------------------------------


def test_the_record_carries_the_attempt_and_reads_older_records():
    run = RunIdentity("abcd1234", "p", "e")
    past = (attempt_record(0, "sagemaker", "job-a0", "failed", reason="capacity", message="CapacityError: ..."),)
    record = LaunchRecord(Phase.SUBMITTING, run, 1, "job-a1", attempt=1, attempts=past)
    again = LaunchRecord.from_dict(record.to_dict())
    assert again == record
    ref = JobRef("sagemaker", "job-a1", run)
    assert again.submitted(ref).attempt == 1 and again.submitted(ref).attempts == past
    old = {k: v for k, v in record.to_dict().items() if k not in ("attempt", "attempts")}  # written before fallbacks
    assert LaunchRecord.from_dict(old).attempt == 0 and LaunchRecord.from_dict(old).attempts == ()


def test_total_cost_adds_the_known_estimates():
    entries = [
        attempt_record(0, "sagemaker", "a", "failed", cost={"usd": 0.25}),
        attempt_record(1, "sagemaker", None, "refused"),
        attempt_record(2, "vertex", "b", "succeeded", cost={"usd": 1.1}),
    ]
    assert total_cost(entries) == 1.35
    assert total_cost([attempt_record(0, "sagemaker", "a", "failed")]) is None
