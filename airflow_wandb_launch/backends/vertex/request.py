"""W&B Launch's Vertex queue config -> an ``aiplatform_v1`` CustomJob.

W&B Launch's config is ``{"spec": {...}, "run": {...}}``: ``spec`` holds the ``aiplatform.CustomJob``
constructor's arguments, ``run`` those of ``CustomJob.run()``/``submit()``. The result is the CustomJob
message as a snake_case dict (``aiplatform_v1.CustomJob(result)`` accepts it).

Every check runs here, before anything is submitted: worker pools against ``aiplatform_v1``'s own message types,
machine types against the machine-family table, URIs and resource names against their documented shapes (see
``validation``). The SDK is imported when a config is built (at execute time), never when this module is.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from airflow_wandb_launch.backends.vertex import RESOURCE
from airflow_wandb_launch.backends.vertex.validation import (
    blank,
    check_custom_job,
    check_machine,
    check_message,
    did_you_mean,
    enum_names,
    gcs_uri,
    network,
    service_account,
    tensorboard,
    v1_type,
)
from airflow_wandb_launch.errors import MISSING
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import Args, text

#: W&B Launch's ``spec``: the ``aiplatform.CustomJob`` constructor's arguments, plus the job-spec fields
#: W&B's docs show beside them.
SPEC_KEYS = frozenset(
    {
        "display_name",
        "worker_pool_specs",
        "base_output_dir",
        "staging_bucket",
        "labels",
        "encryption_spec_key_name",
        "persistent_resource_id",
        "service_account",
        "network",
        "reserved_ip_ranges",
    }
)
#: W&B Launch's ``run``: ``CustomJob.run()``/``submit()`` arguments (``sync`` is accepted and ignored).
RUN_KEYS = frozenset(
    {
        "service_account",
        "network",
        "timeout",
        "restart_job_on_worker_restart",
        "enable_web_access",
        "tensorboard",
        "sync",
        "disable_retries",
        "persistent_resource_id",
        "scheduling_strategy",
        "max_wait_duration",
        "experiment",
        "experiment_run",
    }
)
#: a worker pool's keys are ``aiplatform_v1.WorkerPoolSpec``'s fields, but these
POOL_LEAVE_OUT = {"python_package_spec": "a container_spec: W&B Launch runs container images"}
#: ``DiskSpec.boot_disk_type``'s values, as aiplatform_v1 documents them
BOOT_DISK_TYPES = ("pd-ssd", "pd-standard", "hyperdisk-balanced")
RUN_ID_LABEL = "wandb-run-id"
MAX_LABELS = 64
#: Vertex's limits: a display name's characters, a container's env entries
MAX_DISPLAY_NAME, MAX_ENV = 128, 100
#: other resources' names (W&B Launch's and this provider's): a ``{name: {...}}`` wrapper of one is a wrong config
OTHER_RESOURCES = frozenset(
    {"sagemaker", "aws-sagemaker", "azure-ml", "azureml", "kubernetes", "local-container", "local-process", "local"}
)


def build_custom_job(request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The CustomJob (``aiplatform_v1``, as a snake_case dict) for ``request`` from a W&B Vertex queue config. Pure.

    ``resource_args`` is ``{"spec": {...}, "run": {...}}`` unchanged from W&B Launch; ``env`` (the W&B run's
    variables) is appended to every container's env, the user's own entries winning on conflicts.
    """
    args = Args(RESOURCE, resource_args)
    _reject_wrapper(args)
    args.only(frozenset({"spec", "run"}))
    spec, run = args.child("spec", required=True), args.child("run")
    _reject(spec, {"project": "the operator's project_id", "location": "the operator's region"})
    _reject(run, {"experiment": "W&B tracking", "experiment_run": "W&B tracking"})
    spec.only(SPEC_KEYS)
    run.only(RUN_KEYS)
    job_spec: dict[str, Any] = {
        "worker_pool_specs": _worker_pools(spec, request, env),
        "base_output_directory": {"output_uri_prefix": _output_dir(spec, request)},
        "service_account": _either(spec, run, "service_account", service_account),
        "network": _either(spec, run, "network", network),
        "reserved_ip_ranges": _strings(spec, "reserved_ip_ranges", empty=False),
        "persistent_resource_id": _either(spec, run, "persistent_resource_id", text),
        "tensorboard": tensorboard(run),
        "enable_web_access": run.get("enable_web_access", bool) or None,
        "scheduling": _scheduling(run),
    }
    run.get("sync", bool)
    custom_job = {
        "display_name": _display_name(spec) or request.job_name,
        "job_spec": {k: v for k, v in job_spec.items() if v is not None},
        "labels": _labels(spec, request),
    }
    key_name = text(spec, "encryption_spec_key_name")
    if key_name:
        custom_job["encryption_spec"] = {"kms_key_name": key_name}
    check_custom_job(custom_job)
    return custom_job


def _reject_wrapper(args: Args) -> None:
    """``{"sagemaker": {...}}`` given to vertex: another resource's config, said as such."""
    if len(args.data) == 1:
        name = next(iter(args.data))
        if name in OTHER_RESOURCES:
            raise args.error(
                name,
                args.data[name],
                f"a vertex queue config ({{spec: ..., run: ...}}, or {{vertex: {{spec: ..., run: ...}}}}), "
                f"not a config for the {name} resource: give it to that resource's operator",
            )


def _reject(args: Args, unsupported: dict[str, str]) -> None:
    for name, instead in unsupported.items():
        if not blank(args.data.get(name)):
            raise args.error(name, args.data[name], f"no value: not supported here, use {instead}")


def _worker_pools(spec: Args, request: LaunchRequest, env: dict[str, str]) -> list[dict[str, Any]]:
    pools = spec.items("worker_pool_specs", required=True)
    if not pools:
        raise spec.error("worker_pool_specs", [], "at least one worker pool (the first is the primary replica)")
    built = [_pool(pool, i, request, env) for i, pool in enumerate(pools)]
    primary = built[0]["replica_count"]
    if primary > 1:
        if len(built) > 1:
            raise pools[0].error("replica_count", primary, "1: the first pool is the primary replica alone")
        # One pool of N machines (W&B's multi-node example): the primary plus N-1 workers, as aiplatform does.
        built.append({**copy.deepcopy(built[0]), "replica_count": primary - 1})
        built[0] = {**built[0], "replica_count": 1}
    return built


def _pool(pool: Args, index: int, request: LaunchRequest, env: dict[str, str]) -> dict[str, Any]:
    if index > 0 and not pool.data:
        return {}  # an unused pool, kept to hold the others' positions
    check_message(pool, v1_type("WorkerPoolSpec"), leave_out=POOL_LEAVE_OUT)  # keys and types, at every depth
    replicas = pool.positive_int("replica_count")
    check_machine(pool.child("machine_spec", required=True))
    disk = pool.child("disk_spec")
    disk_type = text(disk, "boot_disk_type")
    if disk_type is not None and disk_type not in BOOT_DISK_TYPES:
        hint = did_you_mean(disk_type, BOOT_DISK_TYPES)
        raise disk.error("boot_disk_type", disk_type, f"one of {list(BOOT_DISK_TYPES)} (aiplatform_v1.DiskSpec){hint}")
    disk.positive_int("boot_disk_size_gb")
    for i, mount in enumerate(pool.items("nfs_mounts")):
        for name in ("server", "path", "mount_point"):
            text(mount, name, required=True, expected=f"a string (nfs_mounts[{i}] needs server, path and mount_point)")
    built = _present(pool.data)
    built["replica_count"] = 1 if replicas is None else replicas
    built["container_spec"] = _container(pool, request, env)
    return built


def _present(value: Any) -> Any:
    """``value`` without the mapping entries that are not given (None, or an empty string), at every depth."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if not blank(v)}
    if isinstance(value, list):
        return [_present(v) for v in value]
    return value


def _container(pool: Args, request: LaunchRequest, env: dict[str, str]) -> dict[str, Any]:
    if "container_spec" not in pool.data and request.image:
        pool = Args(pool.resource, {**pool.data, "container_spec": {}}, pool.path)
    container = pool.child("container_spec", required=True)
    image = text(container, "image_uri") or request.image
    if not image:
        raise container.error(
            "image_uri", container.data.get("image_uri"), "a container image (or the operator's image or job)"
        )
    built = {**_present(container.data), "image_uri": image}
    _strings(container, "args")
    command = list(request.entry_point) or _strings(container, "command")
    if command:
        built["command"] = command
    built["env"] = _env(container, env)
    return built


def _env(container: Args, env: dict[str, str]) -> list[dict[str, str]]:
    given = []
    for item in container.items("env"):
        given.append({"name": text(item, "name", required=True), "value": item.get("value", str, default="")})
    names = {item["name"] for item in given}
    merged = given + [{"name": k, "value": v} for k, v in env.items() if k not in names]
    if len(merged) > MAX_ENV:
        raise container.error(
            "env",
            container.data.get("env"),
            f"at most {MAX_ENV - len(merged) + len(given)} entries (Vertex's limit is {MAX_ENV} a container, "
            f"with the W&B variables)",
        )
    return merged


def _strings(args: Args, name: str, *, empty: bool = True) -> list[str] | None:
    """A list of strings (``empty``: an item may be an empty string, as a command's argument may)."""
    values = args.get(name, list)
    for i, value in enumerate(values or []):
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise args.error(f"{name}[{i}]", value, "a string" if empty else "a non-empty string")
    return values


def _either(spec: Args, run: Args, name: str, read: Callable[..., str | None]) -> str | None:
    """A setting W&B reads from ``run`` and its docs show under ``spec``: either, or both the same."""
    in_spec, in_run = read(spec, name), read(run, name)
    if in_spec and in_run and in_spec != in_run:
        raise run.error(name, in_run, f"the same value as spec.{name} ({in_spec!r}), or only one")
    return in_run or in_spec


def _display_name(spec: Args) -> str | None:
    name = text(spec, "display_name")
    if name is not None and len(name) > MAX_DISPLAY_NAME:
        raise spec.error("display_name", name, f"at most {MAX_DISPLAY_NAME} characters (Vertex's limit)")
    return name


def _output_dir(spec: Args, request: LaunchRequest) -> str:
    """``base_output_dir``, else a folder under ``staging_bucket`` as ``aiplatform.CustomJob`` makes.

    Both must be ``gs://`` URIs (``staging_bucket`` may be a bare bucket name): another scheme is refused, never
    rewritten.
    """
    bucket = gcs_uri(spec, "staging_bucket", bare_bucket=True)
    output = gcs_uri(spec, "base_output_dir")
    if output:
        return output
    if not bucket:
        raise spec.error(
            "staging_bucket",
            spec.data.get("staging_bucket", MISSING),
            "a gs:// bucket (or base_output_dir): Vertex writes outputs there",
        )
    return f"{bucket.rstrip('/')}/aiplatform-custom-job-{request.job_name}"


def _scheduling(run: Args) -> dict[str, Any] | None:
    timeout = run.positive_int("timeout")
    max_wait = run.positive_int("max_wait_duration", minimum=0)
    strategy = text(run, "scheduling_strategy")
    strategies = enum_names("Scheduling.Strategy")  # aiplatform_v1's own list
    if strategy is not None and strategy.upper() not in strategies:
        hint = did_you_mean(strategy, strategies)
        raise run.error("scheduling_strategy", strategy, f"one of {list(strategies)} (any case){hint}")
    scheduling = {
        "timeout": {"seconds": timeout} if timeout else None,
        "restart_job_on_worker_restart": run.get("restart_job_on_worker_restart", bool) or None,
        "disable_retries": run.get("disable_retries", bool) or None,
        "strategy": strategy.upper() if strategy else None,
        "max_wait_duration": {"seconds": max_wait} if max_wait is not None else None,
    }
    scheduling = {k: v for k, v in scheduling.items() if v is not None}
    return scheduling or None


def label_value(text: str) -> str:
    """``text`` as a GCP label value: lower case ``[a-z0-9_-]``, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", str(text).lower())[:63]


def _labels(spec: Args, request: LaunchRequest) -> dict[str, str]:
    given = spec.get("labels", dict, default={})
    for key, value in given.items():
        if not _is_label(key, first_letter=True):
            raise spec.error(
                f"labels.{key}", key, "a label key: 1-63 lower-case letters, digits, _ or -, starting with a letter"
            )
        if not isinstance(value, str) or not _is_label(value, first_letter=False):
            raise spec.error(f"labels.{key}", value, "a label value: at most 63 lower-case letters, digits, _ or -")
    labels = {**given, RUN_ID_LABEL: label_value(request.run.run_id)}
    for key, value in request.airflow_ids.items():
        labels["airflow-" + key.replace("_", "-")] = label_value(value)
    if len(labels) > MAX_LABELS:
        raise spec.error(
            "labels",
            given,
            f"at most {MAX_LABELS - len(labels) + len(given)} labels (Vertex's limit "
            f"is {MAX_LABELS}, with the W&B and Airflow ones)",
        )
    return labels


def _is_label(text: Any, *, first_letter: bool) -> bool:
    if not isinstance(text, str) or len(text) > 63 or (first_letter and not text):
        return False
    if first_letter and not (text[0].isalpha() and not text[0].isupper()):
        return False
    return all(c in "_-" or c.isdigit() or (c.isalpha() and not c.isupper()) for c in text)
