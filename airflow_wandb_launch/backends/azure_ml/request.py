"""``azure.ai.ml.command()`` keyword arguments (and ``queue_settings``, as in a job YAML) -> a command job. Pure.

The result is ``{"image": ..., "command": {command() kwargs}}``: the backend passes it to ``command()`` as is.
Every check runs here, before anything is submitted: the keys, types and limits below, the VM size's family, and
last azure-ai-ml's own command job schema over the job as it will be submitted (see ``validation``; azure-ai-ml is
imported when a job is built, at execute time, never when this module is). An empty string counts as missing.
"""

from __future__ import annotations

import difflib
import re
import shlex
from typing import Any

from airflow_wandb_launch.backends.azure_ml import RESOURCE
from airflow_wandb_launch.backends.azure_ml.validation import check_instance_type, check_with_sdk
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import Args, text

#: Azure ML job (run) and experiment names: letters, digits, ``_`` and ``-``, starting with a letter or digit.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
SHM_SIZE = re.compile(r"^\d+[bkmg]?$", re.IGNORECASE)
JOB_TIERS = {t.lower(): t for t in ("Spot", "Basic", "Standard", "Premium")}
PRIORITIES = ("low", "medium", "high")
#: distribution ``type`` -> the keys it takes (azure.ai.ml's distribution schemas)
DISTRIBUTIONS: dict[str, frozenset[str]] = {
    "pytorch": frozenset({"type", "process_count_per_instance"}),
    "mpi": frozenset({"type", "process_count_per_instance"}),
    "tensorflow": frozenset({"type", "worker_count", "parameter_server_count"}),
}
#: identity ``type`` -> the keys it takes
IDENTITIES: dict[str, frozenset[str]] = {
    "managed": frozenset({"type", "client_id", "object_id", "msi_resource_id"}),
    "managed_identity": frozenset({"type", "client_id", "object_id", "msi_resource_id"}),
    "user_identity": frozenset({"type"}),
    "aml_token": frozenset({"type"}),
}
#: the ``azure.ai.ml.command()`` keyword arguments accepted (``queue_settings`` as in a job YAML)
COMMAND_KEYS = frozenset((
    "name", "display_name", "description", "experiment_name", "command", "compute", "instance_type", "instance_count",
    "shm_size", "docker_args", "locations", "timeout", "distribution", "queue_settings", "job_tier", "priority",
    "environment_variables", "tags", "properties", "identity",
))  # fmt: skip
RUN_ID_TAG = "wandb-run-id"
#: other resources' names (W&B Launch's and this provider's): a ``{name: {...}}`` wrapper of one is a wrong config
OTHER_RESOURCES = frozenset(
    {
        "sagemaker",
        "aws-sagemaker",
        "vertex",
        "gcp-vertex",
        "vertex-ai",
        "kubernetes",
        "local-container",
        "local-process",
    }
)


def build_command_job(request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Validate ``resource_args`` and return ``{"image": ..., "command": {command() kwargs}}``. Pure.

    :param request: the launch; its image becomes the job's environment, its entry point the command.
    :param resource_args: ``azure.ai.ml.command()`` keyword arguments (``${...}`` macros filled).
    :param env: the W&B environment; ``environment_variables`` of the same name win.
    """
    args = Args(RESOURCE, resource_args)
    _reject_wrapper(args)
    args.only(COMMAND_KEYS)
    if not request.image:
        raise ResourceArgsError(RESOURCE, "image", None, "a container image (the operator's image, or a W&B job's)")
    kwargs: dict[str, Any] = {
        "name": _name(args, "name", request.job_name),
        "display_name": text(args, "display_name") or request.run.name or request.run.run_id,
        "experiment_name": _name(args, "experiment_name", _experiment_default(request.run.project)),
        "command": _command(args, request),
        "environment_variables": _environment(args, env),
        "tags": _tags(args, request),
    }
    kwargs.update(_compute(args))
    kwargs.update(_queue_settings(args))
    kwargs["distribution"] = _typed(args, "distribution", DISTRIBUTIONS)
    kwargs["identity"] = _typed(args, "identity", IDENTITIES)
    kwargs["timeout"] = args.positive_int("timeout")
    kwargs["description"] = text(args, "description")
    kwargs["properties"] = _strings(args, "properties") or None
    command = {k: v for k, v in kwargs.items() if v is not None}
    check_with_sdk(resource_args, command, request.image)
    return {"image": request.image, "command": command}


def _reject_wrapper(args: Args) -> None:
    """``{"vertex": {...}}`` given to azure-ml: another resource's config, said as such."""
    if len(args.data) == 1:
        name = next(iter(args.data))
        if name in OTHER_RESOURCES:
            raise args.error(
                name,
                args.data[name],
                f"azure.ai.ml.command() keyword arguments (or {{azure-ml: {{...}}}}), not a config for the {name} "
                "resource: give it to that resource's operator",
            )


def _name(args: Args, key: str, default: str) -> str:
    value = text(args, key) or default
    if not NAME.match(value):
        raise args.error(key, value, "1-255 letters, digits, '_' or '-', starting with a letter or digit")
    return value


def _experiment_default(project: str) -> str:
    """The W&B project as an Azure experiment name (other characters become ``-``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", project).lstrip("-_")[:255] or "wandb-launch"


def _command(args: Args, request: LaunchRequest) -> str:
    """The entry point (operator's or W&B job's) wins; ``command`` in resource_args is the fallback."""
    if request.entry_point:
        return shlex.join(request.entry_point)
    command = text(args, "command")
    if not command:
        raise ResourceArgsError(
            RESOURCE,
            "entry_point",
            None,
            "a command to run: Azure ML runs a command in the image, not its own entry point "
            "(give the operator entry_point, or 'command' in resource_args)",
        )
    return command


def _strings(args: Args, key: str) -> dict[str, str]:
    values = args.get(key, dict, default={})
    for name, value in values.items():
        if not isinstance(value, (str, int, float, bool)):
            raise args.error(f"{key}.{name}", value, "a string, number or boolean")
    return {str(k): str(v) for k, v in values.items()}


def _environment(args: Args, env: dict[str, str]) -> dict[str, str]:
    return {**env, **_strings(args, "environment_variables")}


def _tags(args: Args, request: LaunchRequest) -> dict[str, str]:
    tags = _strings(args, "tags")
    tags[RUN_ID_TAG] = request.run.run_id
    for key, value in request.airflow_ids.items():
        tags["airflow-" + key.replace("_", "-")] = str(value)
    return tags


def _compute(args: Args) -> dict[str, Any]:
    """A compute cluster (``compute``), or serverless compute sized by ``instance_type`` / ``instance_count``."""
    compute = text(args, "compute")
    instance_type = text(args, "instance_type")
    if not (compute or instance_type):
        raise args.error(
            "compute", args.data.get("compute"), "a compute cluster name, or instance_type for serverless compute"
        )
    if instance_type is not None:
        problem = check_instance_type(instance_type)
        if problem:
            raise args.error("instance_type", instance_type, problem)
    shm_size = text(args, "shm_size")
    if shm_size is not None and not SHM_SIZE.match(shm_size):
        raise args.error("shm_size", shm_size, "a size such as '8g' (a number, then b, k, m or g)")
    locations = args.get("locations", list)
    if locations is not None and not all(isinstance(x, str) and x.strip() for x in locations):
        raise args.error("locations", locations, "a list of Azure region names")
    return {
        "compute": compute,
        "instance_type": instance_type,
        "instance_count": args.positive_int("instance_count"),
        "shm_size": shm_size,
        "docker_args": text(args, "docker_args"),
        "locations": locations,
    }


def _queue_settings(args: Args) -> dict[str, str]:
    """``queue_settings: {job_tier, priority}`` (job YAML) or top-level ``job_tier`` / ``priority`` (command())."""
    queue = args.child("queue_settings")
    queue.only(frozenset({"job_tier", "priority"}))
    out = {}
    for key, choices in (("job_tier", JOB_TIERS), ("priority", dict(zip(PRIORITIES, PRIORITIES, strict=True)))):
        nested, top = text(queue, key), text(args, key)
        if nested and top and nested.lower() != top.lower():
            raise args.error(key, top, f"the same value as queue_settings.{key} ({nested!r}), or only one")
        value, where = (nested, queue) if nested else (top, args)
        if value is None:
            continue
        if value.lower() not in choices:
            hint = difflib.get_close_matches(value.lower(), list(choices), n=1)
            hint_text = f"; did you mean {choices[hint[0]]!r}?" if hint else ""
            raise where.error(key, value, f"one of {sorted(choices.values())} (any case){hint_text}")
        out[key] = choices[value.lower()]
    return out


def _typed(args: Args, key: str, kinds: dict[str, frozenset[str]]) -> dict[str, Any] | None:
    """A ``{"type": ..., ...}`` mapping (distribution, identity) whose keys fit its type."""
    if args.get(key, dict) is None:
        return None
    child = args.child(key)
    kind = text(child, "type", required=True, expected=f"one of {sorted(kinds)} (any case)")
    if kind.lower() not in kinds:
        close = difflib.get_close_matches(kind.lower(), sorted(kinds), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise child.error("type", kind, f"one of {sorted(kinds)} (any case){hint}")
    child.only(kinds[kind.lower()])
    built: dict[str, Any] = {"type": kind.lower()}
    for name in child.data:
        if "_count" in name:
            value = child.positive_int(name)
        elif name != "type":
            value = text(child, name)
        else:
            continue
        if value is not None:
            built[name] = value
    return built
