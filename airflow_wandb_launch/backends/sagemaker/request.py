"""W&B Launch's SageMaker queue config -> a CreateTrainingJob request. Pure: no network.

Keys are CamelCased (W&B Launch accepts snake_case) remembering how each was written, so errors name the
path as the user wrote it. The built request is checked against botocore's model of the API
(``validation``), then for what the model cannot say (spot training's wait limit, an instance count).
"""

from __future__ import annotations

import re
from typing import Any

from airflow_wandb_launch.backends.sagemaker import RESOURCE
from airflow_wandb_launch.backends.sagemaker.validation import validate_training_job
from airflow_wandb_launch.errors import MISSING, ResourceArgsError
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import Args, KeySpelling, check_limits, is_blank, rename_keys

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
#: one source a training channel reads from.
DATA_SOURCES = ("S3DataSource", "FileSystemDataSource", "DatasetSource")
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def to_camel_case(key: str) -> str:
    """W&B Launch's snake_case -> CamelCase (``volume_size_in_gb`` -> ``VolumeSizeInGB``)."""
    if "_" not in key:
        return key[:1].upper() + key[1:]  # `environment` -> `Environment`, as W&B Launch accepts it
    camel = "".join(part.title() if part else "_" for part in key.split("_"))
    return re.sub(r"InGb$", "InGB", camel)


def to_snake_case(key: str) -> str:
    """CamelCase -> W&B Launch's snake_case (``VolumeSizeInGB`` -> ``volume_size_in_gb``); the inverse of
    :func:`to_camel_case`, else ``key`` unchanged."""
    snake = _WORD_START.sub("_", key).lower()
    return snake if to_camel_case(snake) == key else key


def camelize(value: Any) -> Any:
    """CamelCase every mapping key, except inside data maps such as ``Environment``."""
    return camelize_config(value)[0]


def camelize_config(value: Any) -> tuple[Any, KeySpelling]:
    """:func:`camelize`, and how each key was written (for messages)."""
    check_limits(value, resource=RESOURCE)
    return rename_keys(value, to_camel_case, resource=RESOURCE, verbatim=DATA_KEYS, unrename=to_snake_case)


def build_training_job(request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The CreateTrainingJob body for ``request`` from a W&B Launch SageMaker queue config. Pure.

    Raises ``ResourceArgsError`` naming the key path as written, the value and what was expected.
    """
    body, spelling = camelize_config(resource_args)
    for key in LAUNCH_ONLY_KEYS:
        body.pop(key, None)
    drop_blank(body)
    args = Args(RESOURCE, body, spelling=spelling)
    _move_max_wait(args, body)
    body["TrainingJobName"] = args.get("TrainingJobName", str) or request.job_name
    body["AlgorithmSpecification"] = _algorithm(args, request)
    body["Environment"] = _environment(args, env)
    body["Tags"] = _tags(args, request)
    validate_training_job(body, spelling)
    _check_resources(args.child("ResourceConfig", required=True))
    _check_spot(args)
    _check_channels(args)
    return body


def drop_blank(value: Any, parent: str | None = None) -> None:
    """Remove members that are None or an empty string (a missing value), in place; data maps' values and tag
    values (which may be empty) stay."""
    if isinstance(value, list):
        for item in value:
            drop_blank(item, parent)
    elif isinstance(value, dict) and parent not in DATA_KEYS:
        for key in [k for k, v in value.items() if is_blank(v) and not (parent == "Tags" and k == "Value")]:
            del value[key]
        for key, item in value.items():
            drop_blank(item, key)


def _move_max_wait(args: Args, body: dict[str, Any]) -> None:
    """Managed spot: the seed's top-level MaxWaitTimeInSeconds moves into StoppingCondition, where AWS wants it."""
    top_level_wait = args.positive_int("MaxWaitTimeInSeconds")
    body.pop("MaxWaitTimeInSeconds", None)
    stopping = body.get("StoppingCondition")
    if top_level_wait is None or not isinstance(stopping, dict):
        return  # without a StoppingCondition the checks after validation name it
    max_wait = stopping.get("MaxWaitTimeInSeconds")
    if max_wait is not None and max_wait != top_level_wait:
        raise args.error(
            "MaxWaitTimeInSeconds",
            top_level_wait,
            f"the same value as StoppingCondition.MaxWaitTimeInSeconds ({max_wait}), or only one",
        )
    stopping["MaxWaitTimeInSeconds"] = top_level_wait


def _check_resources(resources: Args) -> None:
    if "InstanceGroups" in resources.data:
        resources.get("InstanceGroups", list, required=True)
    else:
        resources.get("InstanceType", str, required=True)
        resources.positive_int("InstanceCount", required=True)
    resources.positive_int("VolumeSizeInGB", required="InstanceGroups" not in resources.data)


def _check_spot(args: Args) -> None:
    """Managed spot training needs a wait limit of at least the runtime; without it a wait limit is an error."""
    stopping = args.child("StoppingCondition", required=True)
    max_runtime = stopping.positive_int("MaxRuntimeInSeconds")
    max_wait = stopping.positive_int("MaxWaitTimeInSeconds")
    if args.get("EnableManagedSpotTraining", bool, default=False):
        if max_wait is None:
            raise stopping.error(
                "MaxWaitTimeInSeconds", MISSING, "a wait limit in seconds: managed spot training requires it"
            )
        if max_runtime is not None and max_wait < max_runtime:
            raise stopping.error("MaxWaitTimeInSeconds", max_wait, f"at least MaxRuntimeInSeconds ({max_runtime})")
    elif max_wait is not None:
        raise stopping.error("MaxWaitTimeInSeconds", max_wait, "only with EnableManagedSpotTraining: true")


def _check_channels(args: Args) -> None:
    """Each input channel reads from exactly one source."""
    for channel in args.items("InputDataConfig"):
        source = channel.child("DataSource")
        if sum(name in source.data for name in DATA_SOURCES) != 1:
            names = ", ".join(source.spell(name) for name in DATA_SOURCES)
            raise channel.error("DataSource", source.data, f"exactly one source of {names}")


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
    """The W&B env, then the user's ``Environment`` (numbers and booleans as strings)."""
    given = args.get("Environment", dict, default={})
    for key, value in given.items():
        if value is None or isinstance(value, dict | list):
            raise args.child("Environment").error(str(key), value, "a string (or a number)")
    return {**env, **{str(k): str(v) for k, v in given.items()}}


def _tags(args: Args, request: LaunchRequest) -> list[dict[str, Any]]:
    """The user's tags (a WandbRunId one set to this run's, in place), then the run's and Airflow's ids."""
    run_tag = {"Key": "WandbRunId", "Value": request.run.run_id}
    if not isinstance(args.data.get("Tags", []), list):
        raise args.error("Tags", args.data["Tags"], "a list of {Key: ..., Value: ...} mappings")
    tags = [run_tag if tag.data.get("Key") == "WandbRunId" else dict(tag.data) for tag in args.items("Tags")]
    if run_tag not in tags:
        tags.append(run_tag)
    for key, value in request.airflow_ids.items():
        name = "Airflow" + "".join(p.title() for p in key.split("_"))
        tags.append({"Key": name, "Value": re.sub(r"[^\w.:/=+\-@ ]", "_", str(value))[:256]})
    return tags
