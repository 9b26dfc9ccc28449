"""Malformed SageMaker configs are stopped before submit, each error naming the key path as written, the value
(truncated, secrets masked) and what was expected; checked against botocore's model of CreateTrainingJob.

Each config goes the operator's way (prepare_launch, backend.build, then backend.submit) with a hook that fails
the test if anything reaches it: the error must come from the pure build.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_wandb_launch.backends.sagemaker.backend import SageMakerBackend
from airflow_wandb_launch.backends.sagemaker.request import build_training_job, to_snake_case
from airflow_wandb_launch.backends.sagemaker.validation import (
    _python_regex,
    request_shape,
    validate_training_job,
)
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.prepare import prepare_launch
from tests.unit.test_sagemaker_build import CREDS, ROLE, make_request, minimum

SECRET = "s3cr3t-value-never-shown"
CHANNEL = {
    "ChannelName": "train",
    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://my-bucket/train"}},
}
SNAKE = {
    "role_arn": ROLE,
    "resource_config": {"instance_type": "ml.m5.xlarge", "instance_count": 1, "volume_size_in_gb": 50},
    "output_data_config": {"s3_output_path": "s3://my-bucket/out"},
    "stopping_condition": {"max_runtime_in_seconds": 3600},
}


class RecordingHook:
    """Stands in for SageMakerHook: any use of it means the config reached the cloud."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        raise AssertionError(f"the config reached the cloud: SageMakerHook.{name}")


def launch(resource_args: Any, hook: RecordingHook) -> None:
    """What the operator does: prepare, build, submit."""
    backend = SageMakerBackend()
    backend._hook = hook
    request = make_request()
    prepared = prepare_launch(
        request,
        resource_args,
        CREDS,
        resource_names=(backend.resource, *backend.aliases),
        max_env_value_length=backend.max_env_value_length,
    )
    payload = backend.build(prepared.request, prepared.resource_args, prepared.env)
    backend.submit(payload, request.run)


def edit(base: dict, path: str, value: Any = ..., **extra: Any) -> dict:
    """A copy of ``base`` with ``path`` (``a.b.0.c``) set to ``value`` (deleted if ``...``), plus ``extra``."""
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
    key: Any = int(last) if isinstance(target, list) else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    data.update(copy.deepcopy(extra))
    return data


def cfg(path: str, value: Any = ..., **extra: Any) -> dict:
    return edit(minimum(), path, value, **extra)


def with_channel(path: str = "", value: Any = ...) -> dict:
    channel = edit(CHANNEL, path, value) if path else copy.deepcopy(CHANNEL)
    return {**minimum(), "InputDataConfig": [channel]}


def nested(depth: int) -> dict:
    root: dict = {}
    node = root
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return root


def aliases_bomb(levels: int = 6) -> str:
    lines = ["RoleArn: x", "l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# (id, resource_args, key path as written, value as shown, expectation)
MALFORMED = [
    # --- types -------------------------------------------------------------------------------------------------
    ("RoleArn-int", cfg("RoleArn", 123), "RoleArn", "123", "a string"),
    ("ResourceConfig-list", cfg("ResourceConfig", ["ml.m5.large"]), "ResourceConfig", "['ml.m5.large']", "a mapping"),
    (
        "InstanceCount-str",
        cfg("ResourceConfig.InstanceCount", "2"),
        "ResourceConfig.InstanceCount",
        "'2'",
        "an integer",
    ),
    ("NetworkIsolation-str", cfg("EnableNetworkIsolation", "yes"), "EnableNetworkIsolation", "'yes'", "true or false"),
    ("HyperParameter-int", cfg("HyperParameters", {"epochs": 3}), "HyperParameters.epochs", "3", "a string"),
    ("Environment-list", cfg("Environment", ["A=1"]), "Environment", "['A=1']", "a mapping"),
    ("Environment-value-map", cfg("Environment", {"A": {"b": 1}}), "Environment.A", "{'b': 1}", "a string"),
    ("Tags-mapping", cfg("Tags", {"team": "ml"}), "Tags", "{'team': 'ml'}", "a list of {Key: ..., Value: ...}"),
    ("tags-mapping-snake", {**SNAKE, "tags": {"team": "ml"}}, "tags", "{'team': 'ml'}", "a list of {Key"),
    (
        "MaxRuntime-float",
        cfg("StoppingCondition.MaxRuntimeInSeconds", 1.5),
        "StoppingCondition.MaxRuntimeInSeconds",
        "1.5",
        "an integer",
    ),
    (
        "InputDataConfig-mapping",
        cfg("InputDataConfig", CHANNEL),
        "InputDataConfig",
        "{'ChannelName': 'train'",
        "a list of channels",
    ),
    (
        "key-not-string",
        cfg("ResourceConfig", {**minimum()["ResourceConfig"], 1: 2}),
        "ResourceConfig.1",
        "2",
        "a string key, not int 1",
    ),
    ("StoppingCondition-null", cfg("StoppingCondition", None), "StoppingCondition", "None", "a mapping"),
    # --- missing and empty -------------------------------------------------------------------------------------
    ("RoleArn-empty", cfg("RoleArn", ""), "RoleArn", "''", "a string, not empty (required)"),
    ("RoleArn-blank", cfg("RoleArn", "   "), "RoleArn", "'   '", "a string, not empty (required)"),
    ("role_arn-missing", edit(SNAKE, "role_arn"), "role_arn", "<missing>", "a string (required)"),
    (
        "S3OutputPath-empty",
        cfg("OutputDataConfig.S3OutputPath", ""),
        "OutputDataConfig.S3OutputPath",
        "''",
        "not empty (required)",
    ),
    (
        "InstanceType-empty",
        cfg("ResourceConfig.InstanceType", ""),
        "ResourceConfig.InstanceType",
        "''",
        "a string, not empty",
    ),
    (
        "instance_type-missing",
        edit(SNAKE, "resource_config.instance_type"),
        "resource_config.instance_type",
        "<missing>",
        "a string",
    ),
    (
        "channel-DataSource-missing",
        with_channel("DataSource"),
        "InputDataConfig[0].DataSource",
        "<missing>",
        "a mapping (required)",
    ),
    (
        "tag-value-missing-snake",
        {**SNAKE, "tags": [{"key": "team"}]},
        "tags[0].value",
        "<missing>",
        "a string (required)",
    ),
    # --- unknown and misspelt keys, at every depth -------------------------------------------------------------
    ("top-ResourceConfigs", cfg("ResourceConfigs", {}), "ResourceConfigs", "{}", "did you mean 'ResourceConfig'?"),
    (
        "top-snake-resource_configs",
        edit(SNAKE, "resource_configs", {}),
        "resource_configs",
        "{}",
        "did you mean 'resource_config'?",
    ),
    ("top-lowercase", cfg("stoppingcondition", {}), "stoppingcondition", "{}", "did you mean 'StoppingCondition'?"),
    (
        "top-MaxWaitTimeInSecond",
        cfg("MaxWaitTimeInSecond", 60),
        "MaxWaitTimeInSecond",
        "60",
        "did you mean 'MaxWaitTimeInSeconds'?",
    ),
    (
        "nested-InstanceTyp",
        edit(cfg("ResourceConfig.InstanceType"), "ResourceConfig.InstanceTyp", "ml.m5.large"),
        "ResourceConfig.InstanceTyp",
        "'ml.m5.large'",
        "did you mean 'InstanceType'?",
    ),
    (
        "nested-instance_typ-snake",
        edit(edit(SNAKE, "resource_config.instance_type"), "resource_config.instance_typ", "ml.m5.large"),
        "resource_config.instance_typ",
        "'ml.m5.large'",
        "did you mean 'instance_type'?",
    ),
    (
        "deep-S3Url",
        with_channel("DataSource.S3DataSource.S3Url", "s3://b/x"),
        "InputDataConfig[0].DataSource.S3DataSource.S3Url",
        "'s3://b/x'",
        "did you mean 'S3Uri'?",
    ),
    ("list-Tags-Valu", cfg("Tags", [{"Key": "team", "Valu": "ml"}]), "Tags[0].Valu", "'ml'", "did you mean 'Value'?"),
    (
        "list-MetricDefinitions-Regx",
        cfg("AlgorithmSpecification", {"MetricDefinitions": [{"Name": "l", "Regx": "x"}]}),
        "AlgorithmSpecification.MetricDefinitions[0].Regx",
        "'x'",
        "did you mean 'Regex'?",
    ),
    # --- wrong wrapper keys ------------------------------------------------------------------------------------
    ("wrapper-vertex", {"vertex": {"spec": {}}}, "vertex", "{'spec': {}}", "'vertex' is another resource's wrapper"),
    ("wrapper-gcp-vertex", {"gcp-vertex": minimum()}, "gcp-vertex", "{'RoleArn'", "another resource's wrapper"),
    (
        "wrapper-not-alone",
        {"sagemaker": minimum(), "Tags": []},
        "sagemaker",
        "{'RoleArn'",
        "'sagemaker' is this resource's wrapper",
    ),
    # --- limits ------------------------------------------------------------------------------------------------
    ("RoleArn-20kB", cfg("RoleArn", ROLE + "x" * 20_000), "RoleArn", "(20053 characters)", "at most 2048 characters"),
    (
        "Environment-5000",
        cfg("Environment", {f"V{i}": "x" for i in range(5000)}),
        "Environment",
        "{'V0': 'x', ",
        "at most 100 entries (SageMaker's limit), not 5011",
    ),
    (
        "Environment-95-plus-wandb",
        cfg("Environment", {f"V{i}": "x" for i in range(95)}),
        "Environment",
        "{'V0': 'x', ",
        "counting the 11 the operator adds (W&B's run variables",
    ),
    (
        "Environment-value-600",
        cfg("Environment", {"BIG": "x" * 600}),
        "Environment.BIG",
        "(600 characters)",
        "at most 512 characters",
    ),
    (
        "Tags-50-plus-ours",
        cfg("Tags", [{"Key": f"k{i}", "Value": "v"} for i in range(50)]),
        "Tags",
        "[{'Key': 'k0'",
        "counting the 5 the operator adds (the W&B run id",
    ),
    (
        "InputDataConfig-21",
        {**minimum(), "InputDataConfig": [CHANNEL] * 21},
        "InputDataConfig",
        "[{'ChannelName'",
        "at most 20 items",
    ),
    (
        "SecurityGroupIds-6",
        cfg("VpcConfig", {"SecurityGroupIds": [f"sg-{i}" for i in range(6)], "Subnets": ["s-1"]}),
        "VpcConfig.SecurityGroupIds",
        "['sg-0'",
        "at most 5 items",
    ),
    (
        "ContainerArguments-empty",
        cfg("AlgorithmSpecification", {"ContainerArguments": []}),
        "AlgorithmSpecification.ContainerArguments",
        "[]",
        "at least 1 item",
    ),
    (
        "MaxPendingTime-60",
        cfg("StoppingCondition.MaxPendingTimeInSeconds", 60),
        "StoppingCondition.MaxPendingTimeInSeconds",
        "60",
        "an integer from 1800 to 2419200",
    ),
    (
        "MaximumRetryAttempts-31",
        cfg("RetryStrategy", {"MaximumRetryAttempts": 31}),
        "RetryStrategy.MaximumRetryAttempts",
        "31",
        "an integer from 1 to 30",
    ),
    (
        "MaxRuntime-0",
        cfg("StoppingCondition.MaxRuntimeInSeconds", 0),
        "StoppingCondition.MaxRuntimeInSeconds",
        "0",
        "an integer >= 1",
    ),
    ("TrainingJobName-64", cfg("TrainingJobName", "a" * 64), "TrainingJobName", "'aaaa", "at most 63 characters"),
    (
        "HyperParameter-3000",
        cfg("HyperParameters", {"lr": "1" * 3000}),
        "HyperParameters.lr",
        "'111",
        "at most 2500 characters",
    ),
    (
        "deep-dict-3000",
        cfg("HyperParameters", nested(3000)),
        "HyperParameters" + ".a" * 31,
        "{'a': {'a':",
        "at most 32 levels of nesting",
    ),
    # --- patterns ----------------------------------------------------------------------------------------------
    (
        "RoleArn-short-account",
        cfg("RoleArn", "arn:aws:iam::12:role/x"),
        "RoleArn",
        "'arn:aws:iam::12:role/x'",
        "an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>) or a bare role name",
    ),
    ("RoleArn-bare-with-space", cfg("RoleArn", "my role"), "RoleArn", "'my role'", "or a bare role name"),
    (
        "TrainingJobName-underscore",
        cfg("TrainingJobName", "bad_name!"),
        "TrainingJobName",
        "'bad_name!'",
        "letters, digits and dashes",
    ),
    (
        "Environment-key-dash",
        cfg("Environment", {"my-var": "1"}),
        "Environment.my-var",
        "'my-var'",
        "a key that is a variable name",
    ),
    (
        "Tag-key-bang",
        cfg("Tags", [{"Key": "team!", "Value": "ml"}]),
        "Tags[0].Key",
        "'team!'",
        "1-128 letters, digits, spaces",
    ),
    (
        "ChannelName-space",
        with_channel("ChannelName", "train data"),
        "InputDataConfig[0].ChannelName",
        "'train data'",
        "1-64 letters, digits and .-_",
    ),
    (
        "KmsKeyId-space",
        cfg("ResourceConfig.VolumeKmsKeyId", "my key"),
        "ResourceConfig.VolumeKmsKeyId",
        "'my key'",
        "a KMS key id, alias or ARN",
    ),
    (
        "ExperimentName-dots",
        cfg("ExperimentConfig", {"ExperimentName": "a.b"}),
        "ExperimentConfig.ExperimentName",
        "'a.b'",
        "1-120 letters, digits and dashes",
    ),
    # --- enums -------------------------------------------------------------------------------------------------
    (
        "InstanceType-m4.xlarge",
        cfg("ResourceConfig.InstanceType", "m4.xlarge"),
        "ResourceConfig.InstanceType",
        "'m4.xlarge'",
        "did you mean 'ml.m4.xlarge'?",
    ),
    (
        "InstanceType-ml.z9.mega",
        cfg("ResourceConfig.InstanceType", "ml.z9.mega"),
        "ResourceConfig.InstanceType",
        "'ml.z9.mega'",
        "values of TrainingInstanceType in botocore's SageMaker model",
    ),
    (
        "instance_type-snake-m5.large",
        edit(SNAKE, "resource_config.instance_type", "m5.large"),
        "resource_config.instance_type",
        "'m5.large'",
        "did you mean 'ml.m5.large'?",
    ),
    (
        "InstanceGroups-type",
        cfg(
            "ResourceConfig",
            {"InstanceGroups": [{"InstanceType": "gpu", "InstanceCount": 1, "InstanceGroupName": "g"}]},
        ),
        "ResourceConfig.InstanceGroups[0].InstanceType",
        "'gpu'",
        "values of TrainingInstanceType",
    ),
    (
        "TrainingInputMode-Fil",
        cfg("AlgorithmSpecification", {"TrainingInputMode": "Fil"}),
        "AlgorithmSpecification.TrainingInputMode",
        "'Fil'",
        "did you mean 'File'?",
    ),
    (
        "S3DataType-S3Folder",
        with_channel("DataSource.S3DataSource.S3DataType", "S3Folder"),
        "InputDataConfig[0].DataSource.S3DataSource.S3DataType",
        "'S3Folder'",
        "S3Prefix",
    ),
    # --- URIs --------------------------------------------------------------------------------------------------
    (
        "S3OutputPath-no-bucket",
        cfg("OutputDataConfig.S3OutputPath", "s3://"),
        "OutputDataConfig.S3OutputPath",
        "'s3://'",
        "an s3:// URI with a bucket",
    ),
    (
        "S3OutputPath-gs",
        cfg("OutputDataConfig.S3OutputPath", "gs://b/out"),
        "OutputDataConfig.S3OutputPath",
        "'gs://b/out'",
        "an s3:// URI",
    ),
    (
        "S3OutputPath-no-scheme",
        cfg("OutputDataConfig.S3OutputPath", "my-bucket/out"),
        "OutputDataConfig.S3OutputPath",
        "'my-bucket/out'",
        "an s3:// URI",
    ),
    (
        "CheckpointConfig-triple-slash",
        cfg("CheckpointConfig", {"S3Uri": "s3:///ckpt"}),
        "CheckpointConfig.S3Uri",
        "'s3:///ckpt'",
        "an s3:// URI with a bucket",
    ),
    (
        "channel-S3Uri-no-bucket",
        with_channel("DataSource.S3DataSource.S3Uri", "s3://"),
        "InputDataConfig[0].DataSource.S3DataSource.S3Uri",
        "'s3://'",
        "an s3:// URI with a bucket",
    ),
    (
        "channel-s3_uri-gs-snake",
        {
            **SNAKE,
            "input_data_config": [
                {
                    "channel_name": "train",
                    "data_source": {"s3_data_source": {"s3_data_type": "S3Prefix", "s3_uri": "gs://b/train"}},
                }
            ],
        },
        "input_data_config[0].data_source.s3_data_source.s3_uri",
        "'gs://b/train'",
        "an s3:// URI",
    ),
    (
        "channel-no-source",
        with_channel("DataSource", {}),
        "InputDataConfig[0].DataSource",
        "{}",
        "exactly one source of S3DataSource, FileSystemDataSource, DatasetSource",
    ),
    (
        "DebugHook-local-path",
        cfg("DebugHookConfig", {"S3OutputPath": "/tmp/debug"}),
        "DebugHookConfig.S3OutputPath",
        "'/tmp/debug'",
        "an s3:// URI",
    ),
    # --- YAML and JSON that do not parse -----------------------------------------------------------------------
    (
        "yaml-unclosed",
        "RoleArn: x\nResourceConfig:\n  InstanceType: [ml.m5\n",
        "resource_args",
        "'  InstanceType: [ml.m5'",
        "while parsing a flow sequence at line 3",
    ),
    (
        "yaml-indent",
        "RoleArn: x\n  InstanceType: ml.m5.large\n",
        "resource_args",
        "'  InstanceType: ml.m5.large'",
        "mapping values are not allowed here at line 2",
    ),
    (
        "json-double-comma",
        '{"RoleArn": "x",, "Tags": []}',
        "resource_args",
        '{"RoleArn": "x",, "Tags": []}',
        "at line 1, column 17",
    ),
    ("yaml-duplicate-key", "RoleArn: a\nRoleArn: b\n", "resource_args", "'RoleArn: b'", "'RoleArn' is given twice"),
    (
        "yaml-tab",
        "ResourceConfig:\n\tInstanceType: x\n",
        "resource_args",
        "'\\tInstanceType: x'",
        "that cannot start any token at line 2",
    ),
    (
        "yaml-deep-3000",
        "HyperParameters: " + "[" * 3000 + "]" * 3000,
        "resource_args",
        "'HyperParameters: [[[",
        "nested at most 32 levels deep",
    ),
    (
        "yaml-deep-40",
        "HyperParameters: " + "[" * 40 + "]" * 40,
        "HyperParameters" + "[0]" * 31,
        "[[[[",
        "at most 32 levels of nesting",
    ),
    ("yaml-alias-bomb", aliases_bomb(), "l4[7][8][8][8]", "[1, 1, 1", "at most 100000 keys and list items in all"),
    # --- secrets are masked ------------------------------------------------------------------------------------
    (
        "secret-WANDB_API_KEY",
        cfg("Environment", {"WANDB_API_KEY": [SECRET]}),
        "Environment.WANDB_API_KEY",
        "<masked>",
        "a string",
    ),
    (
        "secret-password-too-long",
        cfg("Environment", {"DB_PASSWORD": SECRET * 40}),
        "Environment.DB_PASSWORD",
        "<masked>",
        "at most 512 characters",
    ),
    ("secret-unknown-key", cfg("ApiToken", SECRET), "ApiToken", "<masked>", "keys of CreateTrainingJobRequest"),
    (
        "secret-in-yaml-line",
        f"Environment:\n  HF_TOKEN: {SECRET}: x\n",
        "resource_args",
        "<masked>",
        "valid YAML/JSON",
    ),
    (
        "secret-in-shown-map",
        cfg("Environment", {"HF_TOKEN": SECRET, **{f"V{i}": "x" for i in range(99)}}),
        "Environment",
        "'HF_TOKEN': <masked>",
        "at most 100 entries",
    ),
]


def test_there_are_at_least_40_malformed_configs():
    assert len(MALFORMED) >= 40
    assert len({case[0] for case in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize(
    ("resource_args", "key_path", "shown", "expected"), [pytest.param(*c[1:], id=c[0]) for c in MALFORMED]
)
def test_malformed_config_is_stopped_before_submit(resource_args, key_path, shown, expected):
    hook = RecordingHook()
    with pytest.raises(ResourceArgsError) as info:
        launch(resource_args, hook)
    assert hook.calls == []  # nothing reached the cloud
    err, message = info.value, str(info.value)
    assert err.key_path == key_path
    assert message.startswith(f"sagemaker: {key_path} = ")
    assert shown in message.removeprefix(f"sagemaker: {key_path} = ").split(": expected ")[0]
    assert expected in message.split(": expected ", 1)[1]
    assert SECRET not in message
    assert len(message) < 1500


# --- what stays valid ----------------------------------------------------------------------------------------------

VALID = [
    pytest.param(minimum(), id="seed-minimum"),
    pytest.param(SNAKE, id="snake"),
    pytest.param(cfg("RoleArn", "SageMakerExecutionRole"), id="bare-role-name"),
    pytest.param(cfg("RoleArn", "service-role/SageMakerRole"), id="bare-role-path"),
    pytest.param(with_channel(), id="s3-channel"),
    pytest.param(cfg("Tags", [{"Key": "empty", "Value": ""}]), id="empty-tag-value"),
    pytest.param(cfg("Environment", {"EMPTY": "", "N": 3, "B": True}), id="env-empty-and-scalars"),
    pytest.param(cfg("ResourceConfig.VolumeKmsKeyId", ""), id="empty-optional-dropped"),
    pytest.param(cfg("TrainingJobName", ""), id="empty-job-name-defaults"),
    pytest.param(cfg("Tags", [{"Key": "ünïcode tag", "Value": "wert 1"}]), id="unicode-tag"),
    pytest.param(cfg("Environment", {f"V{i}": "x" for i in range(89)}), id="env-89-plus-11-is-100"),
    pytest.param(
        cfg(
            "ResourceConfig",
            {"InstanceGroups": [{"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 2, "InstanceGroupName": "gpus"}]},
        ),
        id="instance-groups",
    ),
    pytest.param({"sagemaker": minimum()}, id="sagemaker-wrapper"),
    pytest.param({**minimum(), "region": "us-west-2", "EcrRepoName": "repo"}, id="launch-only-keys"),
]


@pytest.mark.parametrize("resource_args", VALID)
def test_valid_configs_build(resource_args):
    request = make_request()
    prepared = prepare_launch(request, resource_args, CREDS, resource_names=("sagemaker",), max_env_value_length=512)
    body = build_training_job(request, prepared.resource_args, prepared.env)
    assert body["TrainingJobName"] and body["RoleArn"]


def test_empty_optional_values_are_dropped_from_the_request():
    request = make_request()
    body = build_training_job(request, cfg("ResourceConfig.VolumeKmsKeyId", "", TrainingJobName=""), {})
    assert "VolumeKmsKeyId" not in body["ResourceConfig"]
    assert body["TrainingJobName"] == request.job_name


def test_the_built_request_passes_botocores_own_validator():
    from botocore.validate import ParamValidator

    request = make_request(entry_point=("python", "train.py"))
    body = build_training_job(request, {**with_channel(), "Tags": [{"Key": "team", "Value": "ml"}]}, {"A": "1"})
    report = ParamValidator().validate(body, request_shape())
    assert not report.has_errors(), report.generate_report()


def test_validator_on_a_body_without_spelling():
    with pytest.raises(ResourceArgsError, match=r"^sagemaker: RoleArn = <missing>: expected a string \(required\)"):
        validate_training_job({"TrainingJobName": "j", "OutputDataConfig": {"S3OutputPath": "s3://b/o"}})


def test_the_model_loads_once():
    assert request_shape() is request_shape()
    assert "ml.m5.xlarge" in request_shape().members["ResourceConfig"].members["InstanceType"].metadata["enum"]


@pytest.mark.parametrize(
    ("java", "python"),
    [
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", r"[\w\s\w_.:/=+\-@]*"),
        (r"arn:[\p{Alnum}\-]+:lambda", r"arn:[a-zA-Z0-9\-]+:lambda"),
        (r"\p{Alnum}+", r"[a-zA-Z0-9]+"),
        (r"[a-z]\p{Digit}", r"[a-z][0-9]"),
    ],
)
def test_java_pattern_classes_are_translated(java, python):
    assert _python_regex(java) == python


@pytest.mark.parametrize(
    ("camel", "snake"),
    [
        ("VolumeSizeInGB", "volume_size_in_gb"),
        ("S3OutputPath", "s3_output_path"),
        ("S3DataSource", "s3_data_source"),
        ("EnableSageMakerMetricsTimeSeries", "enable_sage_maker_metrics_time_series"),
        ("RoleArn", "role_arn"),
        ("Key", "key"),
    ],
)
def test_to_snake_case_inverts_to_camel_case(camel, snake):
    assert to_snake_case(camel) == snake
