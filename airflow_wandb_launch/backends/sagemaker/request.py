"""W&B Launch's SageMaker queue config -> a CreateTrainingJob request. Pure: no SDK, no network."""

from __future__ import annotations

import re
from typing import Any

from airflow_wandb_launch.backends.sagemaker import RESOURCE
from airflow_wandb_launch.errors import MISSING, ResourceArgsError
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import Args

JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
MAX_ENV_VALUE = 512
#: keys of the data, not the schema: never CamelCased.
DATA_KEYS = frozenset(
    {
        "Environment",
        "HyperParameters",
        "HookParameters",
        "RuleParameters",
        "CollectionParameters",
        "ProfilingParameters",
    }
)
#: keys W&B Launch accepts in a SageMaker queue config that are not CreateTrainingJob fields.
LAUNCH_ONLY_KEYS = ("EcrRepoName", "region", "profile", "Region", "Profile")
CREATE_TRAINING_JOB_KEYS = frozenset(
    {
        "TrainingJobName",
        "HyperParameters",
        "AlgorithmSpecification",
        "RoleArn",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
        "VpcConfig",
        "StoppingCondition",
        "Tags",
        "EnableNetworkIsolation",
        "EnableInterContainerTrafficEncryption",
        "EnableManagedSpotTraining",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "TensorBoardOutputConfig",
        "ExperimentConfig",
        "ProfilerConfig",
        "ProfilerRuleConfigurations",
        "Environment",
        "RetryStrategy",
        "RemoteDebugConfig",
        "InfraCheckConfig",
        "SessionChainingConfig",
        "MaxWaitTimeInSeconds",
    }
)


def to_camel_case(key: str) -> str:
    """W&B Launch's snake_case -> CamelCase (``volume_size_in_gb`` -> ``VolumeSizeInGB``)."""
    if "_" not in key:
        return key[:1].upper() + key[1:]  # `environment` -> `Environment`, as W&B Launch accepts it
    camel = "".join(part.title() if part else "_" for part in key.split("_"))
    return re.sub(r"InGb$", "InGB", camel)


def camelize(value: Any) -> Any:
    """CamelCase every mapping key, except inside data maps such as ``Environment``."""
    if isinstance(value, list):
        return [camelize(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = to_camel_case(key)
        out[name] = item if name in DATA_KEYS else camelize(item)
    return out


def build_training_job(request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The CreateTrainingJob body for ``request`` from a W&B Launch SageMaker queue config. Pure."""
    body = camelize(resource_args)
    for key in LAUNCH_ONLY_KEYS:
        body.pop(key, None)
    args = Args(RESOURCE, body)
    args.only(CREATE_TRAINING_JOB_KEYS)

    args.get("RoleArn", str, required=True)
    _validate_resources(args.child("ResourceConfig", required=True))
    output = args.child("OutputDataConfig", required=True)
    _s3_uri(output, "S3OutputPath", required=True)
    stopping = args.child("StoppingCondition", required=True)
    max_runtime = stopping.positive_int("MaxRuntimeInSeconds")
    _spot(args, body, stopping, max_runtime)

    name = args.get("TrainingJobName", str) or request.job_name
    if not JOB_NAME.match(name):
        raise args.error("TrainingJobName", name, "1-63 letters, digits and dashes, starting with a letter or digit")
    body["TrainingJobName"] = name
    body["AlgorithmSpecification"] = _algorithm(args, request)
    body["Environment"] = _environment(args, env)
    body["Tags"] = _tags(args, request)
    return {k: v for k, v in body.items() if v is not None}


def _validate_resources(resources: Args) -> None:
    if "InstanceGroups" in resources.data:
        resources.get("InstanceGroups", list, required=True)
    else:
        resources.get("InstanceType", str, required=True)
        resources.positive_int("InstanceCount", required=True)
    resources.positive_int("VolumeSizeInGB", required="InstanceGroups" not in resources.data)
    resources.get("VolumeKmsKeyId", str)


def _s3_uri(args: Args, name: str, *, required: bool = False) -> None:
    value = args.get(name, str, required=required)
    if value is not None and not value.startswith("s3://"):
        raise args.error(name, value, "an s3:// URI")


def _spot(args: Args, body: dict[str, Any], stopping: Args, max_runtime: int | None) -> None:
    """Managed spot: the seed's top-level MaxWaitTimeInSeconds moves into StoppingCondition, where AWS wants it."""
    top_level_wait = args.positive_int("MaxWaitTimeInSeconds")
    body.pop("MaxWaitTimeInSeconds", None)
    max_wait = stopping.positive_int("MaxWaitTimeInSeconds")
    if top_level_wait is not None:
        if max_wait is not None and max_wait != top_level_wait:
            raise args.error(
                "MaxWaitTimeInSeconds",
                top_level_wait,
                f"the same value as StoppingCondition.MaxWaitTimeInSeconds ({max_wait}), or only one",
            )
        max_wait = top_level_wait
        body["StoppingCondition"]["MaxWaitTimeInSeconds"] = max_wait
    spot = args.get("EnableManagedSpotTraining", bool, default=False)
    if spot:
        if max_wait is None:
            raise stopping.error(
                "MaxWaitTimeInSeconds", MISSING, "a wait limit in seconds: managed spot training requires it"
            )
        if max_runtime is not None and max_wait < max_runtime:
            raise stopping.error("MaxWaitTimeInSeconds", max_wait, f"at least MaxRuntimeInSeconds ({max_runtime})")
    elif max_wait is not None:
        raise stopping.error("MaxWaitTimeInSeconds", max_wait, "only with EnableManagedSpotTraining: true")
    if "CheckpointConfig" in args.data:
        _s3_uri(args.child("CheckpointConfig"), "S3Uri", required=True)


def _algorithm(args: Args, request: LaunchRequest) -> dict[str, Any]:
    spec = dict(args.get("AlgorithmSpecification", dict, default={}))
    if request.image:
        spec["TrainingImage"] = request.image
    spec.setdefault("TrainingInputMode", "File")
    if not spec.get("TrainingImage") and not spec.get("AlgorithmName"):
        raise ResourceArgsError(
            RESOURCE,
            "image",
            None,
            "a container image (the operator's image or job, or AlgorithmSpecification.TrainingImage)",
        )
    if request.entry_point:
        spec["ContainerEntrypoint"] = list(request.entry_point)
    return spec


def _environment(args: Args, env: dict[str, str]) -> dict[str, str]:
    given = args.get("Environment", dict, default={})
    merged = {**env, **{str(k): str(v) for k, v in given.items()}}
    for key, value in merged.items():
        if len(value) > MAX_ENV_VALUE:
            raise args.error(f"Environment.{key}", value, f"at most {MAX_ENV_VALUE} characters (SageMaker's limit)")
    return merged


def _tags(args: Args, request: LaunchRequest) -> list[dict[str, str]]:
    tags = []
    for tag in args.items("Tags"):
        key, value = tag.get("Key", str, required=True), tag.get("Value", str, required=True)
        if key != "WandbRunId":
            tags.append({"Key": key, "Value": value})
    tags.append({"Key": "WandbRunId", "Value": request.run.run_id})
    for key, value in request.airflow_ids.items():
        name = "Airflow" + "".join(p.title() for p in key.split("_"))
        tags.append({"Key": name, "Value": re.sub(r"[^\w.:/=+\-@ ]", "_", str(value))[:256]})
    return tags
