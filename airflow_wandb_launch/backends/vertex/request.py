"""W&B Launch's Vertex queue config -> an ``aiplatform_v1`` CustomJob.

W&B Launch's config is ``{"spec": {...}, "run": {...}}``: ``spec`` holds the ``aiplatform.CustomJob``
constructor's arguments, ``run`` those of ``CustomJob.run()``/``submit()``. The result is the CustomJob
message as a snake_case dict (``aiplatform_v1.CustomJob(result)`` accepts it). No SDK is imported here.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from airflow_wandb_launch.backends.vertex import RESOURCE
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import Args

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
POOL_KEYS = frozenset({"machine_spec", "replica_count", "container_spec", "disk_spec", "nfs_mounts", "lustre_mounts"})
MACHINE_KEYS = frozenset(
    {
        "machine_type",
        "accelerator_type",
        "accelerator_count",
        "tpu_topology",
        "reservation_affinity",
        "gpu_partition_size",
    }
)
CONTAINER_KEYS = frozenset({"image_uri", "command", "args", "env"})
DISK_KEYS = frozenset({"boot_disk_type", "boot_disk_size_gb"})
STRATEGIES = ("ON_DEMAND", "LOW_COST", "STANDARD", "SPOT", "FLEX_START")
RUN_ID_LABEL = "wandb-run-id"
MAX_LABELS = 64


def build_custom_job(request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The CustomJob (``aiplatform_v1``, as a snake_case dict) for ``request`` from a W&B Vertex queue config. Pure.

    ``resource_args`` is ``{"spec": {...}, "run": {...}}`` unchanged from W&B Launch; ``env`` (the W&B run's
    variables) is appended to every container's env, the user's own entries winning on conflicts.
    """
    args = Args(RESOURCE, resource_args)
    args.only(frozenset({"spec", "run"}))
    spec, run = args.child("spec", required=True), args.child("run")
    _reject(spec, {"project": "the operator's project_id", "location": "the operator's region"})
    _reject(run, {"experiment": "W&B tracking", "experiment_run": "W&B tracking"})
    spec.only(SPEC_KEYS)
    run.only(RUN_KEYS)
    job_spec: dict[str, Any] = {
        "worker_pool_specs": _worker_pools(spec, request, env),
        "base_output_directory": {"output_uri_prefix": _output_dir(spec, request)},
        "service_account": _either(spec, run, "service_account"),
        "network": _either(spec, run, "network"),
        "reserved_ip_ranges": _strings(spec, "reserved_ip_ranges"),
        "persistent_resource_id": _either(spec, run, "persistent_resource_id"),
        "tensorboard": run.get("tensorboard", str),
        "enable_web_access": run.get("enable_web_access", bool) or None,
        "scheduling": _scheduling(run),
    }
    run.get("sync", bool)
    custom_job = {
        "display_name": spec.get("display_name", str) or request.job_name,
        "job_spec": {k: v for k, v in job_spec.items() if v is not None},
        "labels": _labels(spec, request),
    }
    key_name = spec.get("encryption_spec_key_name", str)
    if key_name:
        custom_job["encryption_spec"] = {"kms_key_name": key_name}
    return custom_job


def _reject(args: Args, unsupported: dict[str, str]) -> None:
    for name, instead in unsupported.items():
        if args.data.get(name) is not None:
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
    if "python_package_spec" in pool.data:
        raise pool.error(
            "python_package_spec",
            pool.data["python_package_spec"],
            "a container_spec: W&B Launch runs container images",
        )
    pool.only(POOL_KEYS)
    replicas = pool.positive_int("replica_count")
    machine = pool.child("machine_spec", required=True)
    machine.only(MACHINE_KEYS)
    machine.get("machine_type", str, required=True)
    accelerator = machine.get("accelerator_type", str)
    count = machine.positive_int("accelerator_count", minimum=0)
    if count and not accelerator:
        raise machine.error("accelerator_type", None, f"an accelerator type for accelerator_count {count}")
    if accelerator and not count:
        raise machine.error("accelerator_count", count, f"an integer >= 1 with accelerator_type {accelerator!r}")
    disk = pool.child("disk_spec")
    disk.only(DISK_KEYS)
    disk.get("boot_disk_type", str)
    disk.positive_int("boot_disk_size_gb")
    pool.get("nfs_mounts", list)
    pool.get("lustre_mounts", list)
    built = {k: v for k, v in pool.data.items() if v is not None}
    built["replica_count"] = 1 if replicas is None else replicas
    built["container_spec"] = _container(pool, request, env)
    return built


def _container(pool: Args, request: LaunchRequest, env: dict[str, str]) -> dict[str, Any]:
    if "container_spec" not in pool.data and request.image:
        pool = Args(pool.resource, {**pool.data, "container_spec": {}}, pool.path)
    container = pool.child("container_spec", required=True)
    container.only(CONTAINER_KEYS)
    image = container.get("image_uri", str) or request.image
    if not image:
        raise container.error("image_uri", None, "a container image (or the operator's image or job)")
    built = {**container.data, "image_uri": image}
    _strings(container, "args")
    command = list(request.entry_point) or _strings(container, "command")
    if command:
        built["command"] = command
    built["env"] = _env(container, env)
    return built


def _env(container: Args, env: dict[str, str]) -> list[dict[str, str]]:
    given = []
    for item in container.items("env"):
        item.only(frozenset({"name", "value"}))
        given.append({"name": item.get("name", str, required=True), "value": item.get("value", str, default="")})
    names = {item["name"] for item in given}
    return given + [{"name": k, "value": v} for k, v in env.items() if k not in names]


def _strings(args: Args, name: str) -> list[str] | None:
    values = args.get(name, list)
    for i, value in enumerate(values or []):
        if not isinstance(value, str):
            raise args.error(f"{name}[{i}]", value, "a string")
    return values


def _either(spec: Args, run: Args, name: str) -> str | None:
    """A setting W&B reads from ``run`` and its docs show under ``spec``: either, or both the same."""
    in_spec, in_run = spec.get(name, str), run.get(name, str)
    if in_spec and in_run and in_spec != in_run:
        raise run.error(name, in_run, f"the same value as spec.{name} ({in_spec!r}), or only one")
    return in_run or in_spec


def _output_dir(spec: Args, request: LaunchRequest) -> str:
    """``base_output_dir``, else a folder under ``staging_bucket`` as ``aiplatform.CustomJob`` makes."""
    output = spec.get("base_output_dir", str)
    bucket = spec.get("staging_bucket", str)
    if not output and not bucket:
        raise spec.error("staging_bucket", None, "a gs:// bucket (or base_output_dir): Vertex writes outputs there")
    if not output:
        bucket = bucket if bucket.startswith("gs://") else f"gs://{bucket}"
        return f"{bucket.rstrip('/')}/aiplatform-custom-job-{request.job_name}"
    if not output.startswith("gs://"):
        raise spec.error("base_output_dir", output, "a gs:// URI")
    return output


def _scheduling(run: Args) -> dict[str, Any] | None:
    timeout = run.positive_int("timeout")
    max_wait = run.positive_int("max_wait_duration", minimum=0)
    strategy = run.get("scheduling_strategy", str)
    if strategy is not None and strategy.upper() not in STRATEGIES:
        raise run.error("scheduling_strategy", strategy, f"one of {list(STRATEGIES)}")
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
