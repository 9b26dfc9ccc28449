"""build_training_job(): W&B Launch SageMaker queue configs -> CreateTrainingJob body; job_status(): the state table.

The seed configs below are copied verbatim from the seed document (W&B Launch's SageMaker docs) and loaded as
text through load_resource_args, the way a DAG author pastes them.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from airflow_wandb_launch.backends.sagemaker.request import JOB_NAME, build_training_job, camelize, to_camel_case
from airflow_wandb_launch.backends.sagemaker.states import job_status
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.job import JobState
from airflow_wandb_launch.launch.prepare import prepare_launch
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import load_resource_args
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials, make_run_id

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/ml-training:1.0"
KMS = "arn:aws:kms:us-west-2:123456789012:key/abc123"
RUN_ID = "k3j2h1g0"
AIRFLOW_IDS = {
    "dag_id": "sagemaker_training",
    "task_id": "train",
    "run_id": "manual__2026-01-01T00:00:00+00:00",
    "try_number": "1",
}

# --- the seed document's configs, as written ----------------------------------------------------------------
SEED_MINIMUM = """
{
  "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
  "ResourceConfig": {
      "InstanceType": "ml.m4.xlarge",
      "InstanceCount": 1,
      "VolumeSizeInGB": 50
  },
  "OutputDataConfig": {
      "S3OutputPath": "s3://my-bucket/sagemaker-outputs"
  },
  "StoppingCondition": {
      "MaxRuntimeInSeconds": 86400
  }
}
"""
SEED_SPOT = """
  {
    "EnableManagedSpotTraining": true,
    "MaxWaitTimeInSeconds": 172800,  # Wait 2 days for spot capacity
    "CheckpointConfig": {
      "S3Uri": "s3://bucket/checkpoints"
    }
  }
"""
SEED_SPOT_CHECKPOINT = """
  {
    "EnableManagedSpotTraining": true,
    "CheckpointConfig": {
      "S3Uri": "s3://my-bucket/checkpoints",
      "LocalPath": "/opt/ml/checkpoints"
    }
  }
"""
SEED_KMS = """
  {
    "ResourceConfig": {
      "VolumeKmsKeyId": "arn:aws:kms:us-west-2:123456789012:key/abc123"
    }
  }
"""


def _load(text: str) -> dict:
    return load_resource_args(text, resource="sagemaker", resource_names=("sagemaker",))


def _merge(base: dict, *overlays: dict) -> dict:
    out = copy.deepcopy(base)
    for overlay in overlays:
        for key, value in overlay.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = _merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def minimum() -> dict:
    return _load(SEED_MINIMUM)


def make_request(**overrides) -> LaunchRequest:
    values = {
        "resource": "sagemaker",
        "run": RunIdentity(RUN_ID, "proj", "ent", name="sagemaker_training.train", tags=("nightly",)),
        "image": IMAGE,
        "airflow_ids": dict(AIRFLOW_IDS),
    }
    values.update(overrides)
    return LaunchRequest(**values)


CREDS = WandbCredentials(api_key="k" * 40, base_url="https://api.wandb.ai")


def build(resource_args: dict, request: LaunchRequest | None = None, env: dict | None = None) -> dict:
    """What the operator does: prepare once (macros, W&B env), then the backend's build."""
    request = request or make_request()
    prepared = prepare_launch(request, resource_args, CREDS, max_env_value_length=512)
    return build_training_job(request, prepared.resource_args, prepared.env if env is None else env)


def expected_tags(run_id: str = RUN_ID) -> list[dict[str, str]]:
    return [
        {"Key": "WandbRunId", "Value": run_id},
        {"Key": "AirflowDagId", "Value": "sagemaker_training"},
        {"Key": "AirflowTaskId", "Value": "train"},
        {"Key": "AirflowRunId", "Value": "manual__2026-01-01T00:00:00+00:00"},
        {"Key": "AirflowTryNumber", "Value": "1"},
    ]


# --- the seed's configs --------------------------------------------------------------------------------------


def test_seed_minimum_config_gives_the_whole_body():
    request = make_request()
    env = request.job_env(CREDS, 512)
    body = build_training_job(request, minimum(), env)
    assert body == {
        "RoleArn": ROLE,
        "ResourceConfig": {"InstanceType": "ml.m4.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/sagemaker-outputs"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "TrainingJobName": f"sagemaker-training-train-{RUN_ID}",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "Environment": env,
        "Tags": expected_tags(),
    }
    assert body["Environment"]["WANDB_RUN_ID"] == RUN_ID
    assert body["Environment"]["WANDB_API_KEY"] == "k" * 40


def test_seed_spot_config_moves_max_wait_into_stopping_condition():
    body = build(_merge(minimum(), _load(SEED_SPOT)))
    assert body["EnableManagedSpotTraining"] is True
    assert body["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 172800}
    assert "MaxWaitTimeInSeconds" not in body  # not a CreateTrainingJob top-level field
    assert body["CheckpointConfig"] == {"S3Uri": "s3://bucket/checkpoints"}


def test_seed_spot_checkpoint_config_with_a_wait_limit():
    # Section 1's spot snippet names no MaxWaitTimeInSeconds: SageMaker needs one for managed spot training.
    resource_args = _merge(
        minimum(), _load(SEED_SPOT_CHECKPOINT), {"StoppingCondition": {"MaxWaitTimeInSeconds": 90000}}
    )
    body = build(resource_args)
    assert body["CheckpointConfig"] == {"S3Uri": "s3://my-bucket/checkpoints", "LocalPath": "/opt/ml/checkpoints"}
    assert body["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 90000}


def test_seed_kms_config_keeps_the_volume_key():
    body = build(_merge(minimum(), _load(SEED_KMS)))
    assert body["ResourceConfig"] == {
        "InstanceType": "ml.m4.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 50,
        "VolumeKmsKeyId": KMS,
    }


def test_example_dag_queue_config_file_builds():
    path = REPO / "example_dags" / "sagemaker_queue_config.yaml"
    resource_args = load_resource_args(str(path), resource="sagemaker", resource_names=("sagemaker",))
    body = build(resource_args)
    assert body["ResourceConfig"]["VolumeKmsKeyId"] == KMS
    assert body["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 172800}
    assert body["EnableManagedSpotTraining"] is True
    assert body["CheckpointConfig"] == {"S3Uri": "s3://my-bucket/checkpoints", "LocalPath": "/opt/ml/checkpoints"}


def test_build_does_not_mutate_its_input():
    resource_args = _merge(minimum(), _load(SEED_SPOT))
    before = copy.deepcopy(resource_args)
    build(resource_args)
    assert resource_args == before


# --- snake_case, data keys, the W&B wrapper ------------------------------------------------------------------

SNAKE_MINIMUM = {
    "role_arn": ROLE,
    "resource_config": {"instance_type": "ml.m4.xlarge", "instance_count": 1, "volume_size_in_gb": 50},
    "output_data_config": {"s3_output_path": "s3://my-bucket/sagemaker-outputs"},
    "stopping_condition": {"max_runtime_in_seconds": 86400},
}
SNAKE_SPOT_KMS = {
    **SNAKE_MINIMUM,
    "resource_config": {**SNAKE_MINIMUM["resource_config"], "volume_kms_key_id": KMS},
    "enable_managed_spot_training": True,
    "max_wait_time_in_seconds": 172800,
    "checkpoint_config": {"s3_uri": "s3://bucket/checkpoints", "local_path": "/opt/ml/checkpoints"},
}


@pytest.mark.parametrize(
    ("snake", "camel"),
    [
        pytest.param(SNAKE_MINIMUM, SEED_MINIMUM, id="minimum"),
        pytest.param(SNAKE_SPOT_KMS, None, id="spot+kms"),
    ],
)
def test_snake_case_gives_the_same_body_as_camel_case(snake, camel):
    if camel is None:
        camel_args = _merge(
            minimum(),
            _load(SEED_KMS),
            _load(SEED_SPOT),
            {"CheckpointConfig": {"LocalPath": "/opt/ml/checkpoints"}},
        )
    else:
        camel_args = _load(camel)
    assert build(snake) == build(camel_args)


@pytest.mark.parametrize(
    ("key", "camel"),
    [
        ("role_arn", "RoleArn"),
        ("volume_size_in_gb", "VolumeSizeInGB"),
        ("s3_output_path", "S3OutputPath"),
        ("max_runtime_in_seconds", "MaxRuntimeInSeconds"),
        ("enable_managed_spot_training", "EnableManagedSpotTraining"),
        ("volume_kms_key_id", "VolumeKmsKeyId"),
        ("s3_uri", "S3Uri"),
        ("hyper_parameters", "HyperParameters"),
        ("RoleArn", "RoleArn"),
        ("VolumeSizeInGB", "VolumeSizeInGB"),
        ("environment", "Environment"),
        ("tags", "Tags"),
    ],
)
def test_to_camel_case(key, camel):
    assert to_camel_case(key) == camel


@pytest.mark.parametrize("data_key", ["Environment", "HyperParameters", "environment_vars_are_not_data"])
def test_data_maps_keep_their_keys(data_key):
    data = {"my_var": "1", "learning_rate": "0.1", "lower": "x"}
    out = camelize({data_key: data})
    if data_key in ("Environment", "HyperParameters"):
        assert out[data_key] == data
    else:  # an ordinary schema key: its children are camelized
        assert out["EnvironmentVarsAreNotData"] == {"MyVar": "1", "LearningRate": "0.1", "Lower": "x"}


def test_environment_and_hyperparameters_keys_are_not_camelized_in_the_body():
    resource_args = _merge(
        minimum(),
        {"Environment": {"my_var": "a", "LOG_LEVEL": "debug"}, "hyper_parameters": {"learning_rate": "0.1"}},
    )
    body = build(resource_args)
    assert body["Environment"]["my_var"] == "a"
    assert body["Environment"]["LOG_LEVEL"] == "debug"
    assert "MyVar" not in body["Environment"]
    assert body["HyperParameters"] == {"learning_rate": "0.1"}


def test_debugger_parameter_maps_keep_their_keys():
    resource_args = _merge(
        minimum(),
        {
            "DebugHookConfig": {"S3OutputPath": "s3://my-bucket/debug", "HookParameters": {"save_interval": "100"}},
            "DebugRuleConfigurations": [
                {
                    "RuleConfigurationName": "vanishing",
                    "RuleEvaluatorImage": "img",
                    "RuleParameters": {"rule_to_invoke": "VanishingGradient"},
                }
            ],
        },
    )
    body = build(resource_args)
    assert body["DebugHookConfig"]["HookParameters"] == {"save_interval": "100"}
    assert body["DebugRuleConfigurations"][0]["RuleParameters"] == {"rule_to_invoke": "VanishingGradient"}


def test_lower_case_environment_key_is_accepted_like_wandb_launch():
    body = build(_merge(minimum(), {"environment": {"MY_VAR": "1"}}))
    assert body["Environment"]["MY_VAR"] == "1"


@pytest.mark.parametrize("wrapper", ["sagemaker"])
def test_wandb_resource_wrapper_is_unwrapped(wrapper):
    wrapped = {wrapper: minimum()}
    resource_args = load_resource_args(wrapped, resource="sagemaker", resource_names=("sagemaker",))
    assert resource_args == minimum()
    assert build(resource_args) == build(minimum())


# --- validation: each bad key names its path, the value and what was expected -------------------------------


def _without(path: str) -> dict:
    data = minimum()
    *parents, last = path.split(".")
    target = data
    for p in parents:
        target = target[p]
    del target[last]
    return data


def _with(path: str, value) -> dict:
    data = minimum()
    *parents, last = path.split(".")
    target = data
    for p in parents:
        target = target.setdefault(p, {})
    target[last] = value
    return data


SPOT = {"EnableManagedSpotTraining": True}
BAD_CONFIGS = [
    pytest.param(_without("RoleArn"), "RoleArn", "<missing>", "a string", id="RoleArn-missing"),
    pytest.param(_without("ResourceConfig"), "ResourceConfig", "<missing>", "a mapping", id="ResourceConfig-missing"),
    pytest.param(
        _with("ResourceConfig.InstanceType", 4), "ResourceConfig.InstanceType", "4", "a string", id="InstanceType-int"
    ),
    pytest.param(
        _with("ResourceConfig.InstanceCount", 0), "ResourceConfig.InstanceCount", "0", ">= 1", id="InstanceCount-0"
    ),
    pytest.param(
        _with("ResourceConfig.InstanceCount", "1"),
        "ResourceConfig.InstanceCount",
        "'1'",
        "an integer",
        id="InstanceCount-str",
    ),
    pytest.param(
        _with("ResourceConfig.InstanceCount", True),
        "ResourceConfig.InstanceCount",
        "True",
        "an integer",
        id="InstanceCount-bool",
    ),
    pytest.param(
        _with("ResourceConfig.VolumeSizeInGB", 1.5),
        "ResourceConfig.VolumeSizeInGB",
        "1.5",
        "an integer",
        id="VolumeSizeInGB-float",
    ),
    pytest.param(
        _without("ResourceConfig.VolumeSizeInGB"),
        "ResourceConfig.VolumeSizeInGB",
        "<missing>",
        "an integer",
        id="VolumeSizeInGB-missing",
    ),
    pytest.param(
        _without("OutputDataConfig"), "OutputDataConfig", "<missing>", "a mapping", id="OutputDataConfig-missing"
    ),
    pytest.param(
        _with("OutputDataConfig.S3OutputPath", "gs://my-bucket/out"),
        "OutputDataConfig.S3OutputPath",
        "'gs://my-bucket/out'",
        "an s3:// URI",
        id="S3OutputPath-not-s3",
    ),
    pytest.param(
        _without("StoppingCondition"), "StoppingCondition", "<missing>", "a mapping", id="StoppingCondition-missing"
    ),
    pytest.param(
        _with("StoppingCondition.MaxRuntimeInSeconds", -5),
        "StoppingCondition.MaxRuntimeInSeconds",
        "-5",
        ">= 1",
        id="MaxRuntime-negative",
    ),
    pytest.param(
        _merge(minimum(), SPOT),
        "StoppingCondition.MaxWaitTimeInSeconds",
        "<missing>",
        "managed spot training requires it",
        id="spot-without-MaxWait",
    ),
    pytest.param(
        _merge(minimum(), SPOT, {"StoppingCondition": {"MaxWaitTimeInSeconds": 3600}}),
        "StoppingCondition.MaxWaitTimeInSeconds",
        "3600",
        "at least MaxRuntimeInSeconds (86400)",
        id="MaxWait-below-MaxRuntime",
    ),
    pytest.param(
        _merge(minimum(), {"MaxWaitTimeInSeconds": 172800}),
        "StoppingCondition.MaxWaitTimeInSeconds",
        "172800",
        "only with EnableManagedSpotTraining",
        id="MaxWait-without-spot",
    ),
    pytest.param(
        _merge(minimum(), SPOT, {"MaxWaitTimeInSeconds": 172800, "StoppingCondition": {"MaxWaitTimeInSeconds": 90000}}),
        "MaxWaitTimeInSeconds",
        "172800",
        "StoppingCondition.MaxWaitTimeInSeconds (90000)",
        id="MaxWait-top-level-conflict",
    ),
    pytest.param(
        _merge(minimum(), SPOT, {"MaxWaitTimeInSeconds": 172800, "CheckpointConfig": {"S3Uri": "/local/ckpt"}}),
        "CheckpointConfig.S3Uri",
        "'/local/ckpt'",
        "an s3:// URI",
        id="CheckpointConfig-not-s3",
    ),
    pytest.param(
        _merge(minimum(), {"ResourceConfigs": {"InstanceType": "ml.m5.large"}}),
        "ResourceConfigs",
        "{'InstanceType': 'ml.m5.large'}",
        "did you mean 'ResourceConfig'",
        id="unknown-key-suggestion",
    ),
    pytest.param(
        _merge(minimum(), {"Environment": {"BIG": "x" * 600}}),
        "Environment.BIG",
        "'xxxx",
        "at most 512 characters",
        id="Environment-value-too-long",
    ),
    pytest.param(
        _merge(minimum(), {"TrainingJobName": "bad_name!"}),
        "TrainingJobName",
        "'bad_name!'",
        "letters, digits and dashes",
        id="TrainingJobName-invalid",
    ),
    pytest.param(
        _merge(minimum(), {"TrainingJobName": "a" * 64}),
        "TrainingJobName",
        "'aaaa",
        "1-63",
        id="TrainingJobName-too-long",
    ),
    pytest.param(
        _merge(minimum(), {"EnableManagedSpotTraining": "true"}),
        "EnableManagedSpotTraining",
        "'true'",
        "true or false",
        id="spot-flag-string",
    ),
]


@pytest.mark.parametrize(("resource_args", "key_path", "shown", "expected"), BAD_CONFIGS)
def test_invalid_config_names_the_key_the_value_and_the_expectation(resource_args, key_path, shown, expected):
    with pytest.raises(ResourceArgsError) as info:
        build(resource_args)
    err = info.value
    message = str(err)
    assert err.key_path == key_path
    assert message.startswith(f"sagemaker: {key_path} = ")
    assert shown in message
    assert expected in message


def test_missing_image_is_an_error():
    request = make_request(image=None)
    with pytest.raises(ResourceArgsError, match="image = None: expected a container image"):
        build(minimum(), request)


def test_algorithm_name_needs_no_image():
    request = make_request(image=None)
    body = build(_merge(minimum(), {"AlgorithmSpecification": {"AlgorithmName": "xgboost-algo"}}), request)
    assert body["AlgorithmSpecification"] == {"AlgorithmName": "xgboost-algo", "TrainingInputMode": "File"}


def test_ill_typed_tag_entry_is_a_resource_args_error():
    with pytest.raises(ResourceArgsError, match=r"Tags\[0\]"):
        build(_merge(minimum(), {"Tags": ["team=ml"]}))


# --- TrainingJobName ------------------------------------------------------------------------------------------


def _named(dag_id: str, task_id: str, try_number: int, run_id: str = "manual__1") -> str:
    ids = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "try_number": str(try_number)}
    run = RunIdentity(make_run_id(dag_id, task_id, run_id, -1, try_number), "proj")
    return build(minimum(), make_request(run=run, airflow_ids=ids))["TrainingJobName"]


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [
        ("sagemaker_training", "train"),
        ("d" * 200, "t" * 200),
        ("Mixed.Case DAG", "task.with.dots"),
        ("___", "***"),
        ("9starts_with_digit", "x"),
        ("ünïcödé", "τask"),
    ],
)
def test_default_training_job_name_is_valid_and_per_try(dag_id, task_id):
    first, second = _named(dag_id, task_id, 1), _named(dag_id, task_id, 2)
    for name in (first, second):
        assert len(name) <= 63
        assert JOB_NAME.match(name), name
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)
    assert first != second
    assert _named(dag_id, task_id, 1) == first  # the same try: the same name (reattach, not resubmit)


def test_default_training_job_name_is_the_request_job_name():
    request = make_request()
    assert build(minimum(), request)["TrainingJobName"] == request.job_name


def test_long_ids_differing_only_at_the_end_still_get_distinct_names():
    a = _named("x" * 100 + "a", "train", 1)
    b = _named("x" * 100 + "b", "train", 1)
    assert a != b
    assert len(a) <= 63 and len(b) <= 63


def test_given_training_job_name_is_kept():
    assert build(_merge(minimum(), {"TrainingJobName": "my-job-1"}))["TrainingJobName"] == "my-job-1"


# --- AlgorithmSpecification, entry point, environment, tags, macros --------------------------------------------


def test_given_algorithm_specification_keeps_its_fields_and_gets_the_image():
    spec = {
        "TrainingInputMode": "FastFile",
        "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(.*)"}],
        "EnableSageMakerMetricsTimeSeries": True,
    }
    body = build(_merge(minimum(), {"AlgorithmSpecification": spec}))
    assert body["AlgorithmSpecification"] == {**spec, "TrainingImage": IMAGE}


def test_entry_point_becomes_container_entrypoint():
    request = make_request(entry_point=("python", "train.py", "--epochs", "3"))
    body = build(minimum(), request)
    assert body["AlgorithmSpecification"]["ContainerEntrypoint"] == ["python", "train.py", "--epochs", "3"]


def test_no_entry_point_leaves_the_image_entrypoint():
    assert "ContainerEntrypoint" not in build(minimum())["AlgorithmSpecification"]


@pytest.mark.parametrize(
    ("user_env", "expected"),
    [
        ({}, {}),
        ({"MY_VAR": "1"}, {"MY_VAR": "1"}),
        ({"WANDB_PROJECT": "override"}, {"WANDB_PROJECT": "override"}),
        ({"EPOCHS": 3}, {"EPOCHS": "3"}),
    ],
)
def test_wandb_env_merged_with_user_environment_user_wins(user_env, expected):
    request = make_request()
    env = request.job_env(CREDS, 512)
    body = build_training_job(request, _merge(minimum(), {"Environment": user_env}), env)
    assert body["Environment"] == {**env, **expected}
    assert body["Environment"]["WANDB_RUN_ID"] == RUN_ID
    assert body["Environment"]["WANDB_LAUNCH"] == "True"


def test_large_run_config_is_chunked_under_sagemakers_limit():
    request = make_request(run_config={"layers": list(range(400))})
    body = build(minimum(), request)
    env = body["Environment"]
    assert "WANDB_CONFIG" not in env
    assert "WANDB_CONFIG_0" in env and "WANDB_CONFIG_1" in env
    assert all(len(v) <= 512 for v in env.values())


def test_tags_user_kept_wandb_run_id_once_airflow_ids_safe():
    user_tags = [{"Key": "team", "Value": "ml"}, {"Key": "WandbRunId", "Value": "stale"}]
    ids = {**AIRFLOW_IDS, "run_id": "manual__2026-01-01T00:00:00+00:00#weird;chars<>"}
    body = build(_merge(minimum(), {"Tags": user_tags}), make_request(airflow_ids=ids))
    tags = body["Tags"]
    assert {"Key": "team", "Value": "ml"} in tags
    assert [t["Value"] for t in tags if t["Key"] == "WandbRunId"] == [RUN_ID]
    by_key = {t["Key"]: t["Value"] for t in tags}
    assert {"AirflowDagId", "AirflowTaskId", "AirflowRunId", "AirflowTryNumber"} <= set(by_key)
    assert by_key["AirflowDagId"] == "sagemaker_training"
    for tag in tags:  # SageMaker's tag patterns and limits
        assert re.fullmatch(r"[\w.:/=+\-@ ]{1,128}", tag["Key"])
        assert re.fullmatch(r"[\w.:/=+\-@ ]{0,256}", tag["Value"]), tag
    assert by_key["AirflowRunId"].startswith("manual__2026-01-01T00:00:00+00:00")


def test_tags_with_a_very_long_id_are_cut_to_256():
    ids = {**AIRFLOW_IDS, "run_id": "r" * 400}
    tags = build(minimum(), make_request(airflow_ids=ids))["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["AirflowRunId"] == "r" * 256


def test_image_uri_macro_is_filled():
    resource_args = _merge(
        minimum(),
        {
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "Environment": {"IMAGE": "${image_uri}", "WHO": "${entity_name}/${project_name}/${run_id}"},
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/${project_name}/${run_id}"},
        },
    )
    body = build(resource_args)
    assert body["Environment"]["IMAGE"] == IMAGE
    assert body["Environment"]["WHO"] == f"ent/proj/{RUN_ID}"
    assert body["OutputDataConfig"]["S3OutputPath"] == f"s3://bucket/proj/{RUN_ID}"


@pytest.mark.parametrize("key", ["EcrRepoName", "region", "profile"])
def test_wandb_launch_only_keys_are_dropped(key):
    body = build(_merge(minimum(), {key: "x"}))
    assert key not in body


# --- the state table ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "state", "message_part"),
    [
        ({"TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting"}, JobState.PENDING, None),
        ({"TrainingJobStatus": "InProgress", "SecondaryStatus": "LaunchingMLInstances"}, JobState.PENDING, None),
        ({"TrainingJobStatus": "InProgress", "SecondaryStatus": "Pending"}, JobState.PENDING, None),
        ({"TrainingJobStatus": "InProgress", "SecondaryStatus": "Downloading"}, JobState.RUNNING, None),
        ({"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"}, JobState.RUNNING, None),
        ({"TrainingJobStatus": "InProgress"}, JobState.RUNNING, None),
        ({"TrainingJobStatus": "Completed", "SecondaryStatus": "Completed"}, JobState.SUCCEEDED, None),
        (
            {"TrainingJobStatus": "Failed", "SecondaryStatus": "Failed", "FailureReason": "AlgorithmError: OOM"},
            JobState.FAILED,
            "AlgorithmError: OOM",
        ),
        ({"TrainingJobStatus": "Stopping", "SecondaryStatus": "Stopping"}, JobState.STOPPING, None),
        ({"TrainingJobStatus": "Stopped", "SecondaryStatus": "Stopped"}, JobState.STOPPED, "stopped"),
        ({"TrainingJobStatus": "Stopped"}, JobState.STOPPED, "StopTrainingJob"),
        (
            {"TrainingJobStatus": "Stopped", "SecondaryStatus": "MaxRuntimeExceeded"},
            JobState.TIMED_OUT,
            "MaxRuntimeInSeconds",
        ),
        (
            {"TrainingJobStatus": "Stopped", "SecondaryStatus": "MaxWaitTimeExceeded"},
            JobState.TIMED_OUT,
            "MaxWaitTimeInSeconds",
        ),
    ],
)
def test_state_table(description, state, message_part):
    status = job_status(description)
    assert status.state is state
    assert status.cloud_state == description["TrainingJobStatus"]
    if message_part is None:
        assert status.message is None
    else:
        assert message_part in status.message
    if description.get("SecondaryStatus"):
        assert status.details["SecondaryStatus"] == description["SecondaryStatus"]


@pytest.mark.parametrize("status", ["InProgress", "Completed", "Failed", "Stopping", "Stopped"])
def test_every_training_job_status_is_mapped(status):
    assert job_status({"TrainingJobStatus": status}).state is not None


@pytest.mark.parametrize("secondary", ["Stopped", "MaxRuntimeExceeded", "MaxWaitTimeExceeded", "Interrupted", ""])
def test_stopped_is_never_succeeded(secondary):
    status = job_status({"TrainingJobStatus": "Stopped", "SecondaryStatus": secondary})
    assert status.state is not JobState.SUCCEEDED
    assert status.state.terminal


def test_terminal_states():
    assert job_status({"TrainingJobStatus": "Completed"}).state.terminal
    assert job_status({"TrainingJobStatus": "Failed"}).state.terminal
    assert not job_status({"TrainingJobStatus": "Stopping"}).state.terminal
    assert not job_status({"TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting"}).state.terminal


def test_status_details_carry_billing_times():
    status = job_status(
        {"TrainingJobStatus": "Completed", "BillableTimeInSeconds": 120, "TrainingTimeInSeconds": 400, "Other": 1}
    )
    assert status.details == {"BillableTimeInSeconds": 120, "TrainingTimeInSeconds": 400}
