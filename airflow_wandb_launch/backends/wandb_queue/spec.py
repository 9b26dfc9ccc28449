"""The run spec W&B's ``launch_add`` pushes (``wandb.sdk.launch.utils.construct_launch_spec``), and its checks. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_wandb_launch.errors import ResourceArgsError

#: ``wandb launch --priority`` names and the integers W&B stores (0 is served first).
PRIORITIES = {"critical": 0, "high": 1, "medium": 2, "low": 3}
#: the ``resource_args`` keys W&B Launch runners read (``wandb/sdk/launch/loader.py``).
QUEUE_RESOURCES = frozenset(
    {"local-container", "local", "local-process", "kubernetes", "sagemaker", "vertex", "gcp-vertex"}
)
#: who a failure is reported as, in messages and the operator's errors.
WHO = "queue"


def normalize_priority(priority: int | str | None) -> int | None:
    """W&B's priority integer (0 critical .. 3 low) from an int or a ``wandb launch --priority`` name."""
    if priority is None:
        return None
    if isinstance(priority, str) and priority.strip().lower() in PRIORITIES:
        return PRIORITIES[priority.strip().lower()]
    if isinstance(priority, int) and not isinstance(priority, bool) and 0 <= priority <= 3:
        return priority
    raise ResourceArgsError(WHO, "priority", priority, "0-3 or critical, high, medium, low (0/critical first)")


def check_template_variables(values: Mapping[str, Any] | None) -> dict[str, str | int | float] | None:
    """The queue's template variable values: a dict of names to strings or numbers."""
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise ResourceArgsError(WHO, "template_variables", values, "a dict of variable names to strings or numbers")
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise ResourceArgsError(WHO, "template_variables", name, "variable names that are non-empty strings")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ResourceArgsError(WHO, f"template_variables.{name}", value, "a string or a number")
    return dict(values)


def check_resource_args(resource_args: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``resource_args`` keyed by resource as W&B Launch reads them: ``{"sagemaker": {...}}``."""
    if not resource_args:
        return None
    for key, value in resource_args.items():
        if key not in QUEUE_RESOURCES:
            expected = f"resource_args keyed by the queue's resource ({', '.join(sorted(QUEUE_RESOURCES))})"
            raise ResourceArgsError(WHO, f"resource_args.{key}", value, expected)
        if not isinstance(value, Mapping):
            raise ResourceArgsError(WHO, f"resource_args.{key}", value, "a mapping")
    return dict(resource_args)


def check_source(queue_name: str | None, job: str | None, image: str | None) -> None:
    """A queue name, and exactly one of a W&B job or an image (``validate_launch_spec_source``)."""
    if not isinstance(queue_name, str) or not queue_name.strip():
        raise ResourceArgsError(WHO, "queue_name", queue_name, "the name of an existing W&B Launch queue")
    if bool(job) == bool(image):
        raise ResourceArgsError(WHO, "job", job, "exactly one of job or image")


def build_run_spec(
    *,
    entity: str,
    project: str,
    run_id: str,
    job: str | None = None,
    image: str | None = None,
    name: str | None = None,
    resource_args: Mapping[str, Any] | None = None,
    run_config: Mapping[str, Any] | None = None,
    template_variables: Mapping[str, Any] | None = None,
    author: str | None = None,
) -> dict[str, Any]:
    """The launch spec ``launch_add`` would push (``construct_launch_spec``), with our run id in it.

    :param entity: the entity the run logs to (also the queue's entity). :param project: the run's project.
    :param run_id: the W&B run id the agent hands the job as ``WANDB_RUN_ID``.
    :param job: a W&B job ``entity/project/name:alias``; or :param image: a container image (``docker.docker_image``).
    :param name: the run's display name. :param resource_args: ``{resource: {...}}`` overriding the queue's config.
    :param run_config: the run's config (``overrides.run_config``, the job gets it as ``WANDB_CONFIG``).
    :param template_variables: only checked against ``resource_args``: W&B sends one or the other, not both.
    :param author: W&B username the run is attributed to.
    """
    resource_args = check_resource_args(resource_args)
    if resource_args and template_variables:
        raise ResourceArgsError(
            WHO, "resource_args", resource_args, "either resource_args or template_variables (W&B drops one)"
        )
    if run_config is not None and not isinstance(run_config, Mapping):
        raise ResourceArgsError(WHO, "run_config", run_config, "a dict")
    spec: dict[str, Any] = {}
    if job:
        spec["job"] = job
    spec["entity"] = entity
    if author:
        spec["author"] = author
    spec["project"] = project
    if name:
        spec["name"] = name
    spec["docker"] = {"docker_image": image} if image else {}
    spec["resource"] = None  # the queue's resource: the server fills it in
    spec["git"] = {}
    spec["overrides"] = {"run_config": dict(run_config)} if run_config else {}
    if resource_args:
        spec["resource_args"] = resource_args
    spec["run_id"] = run_id
    return spec
