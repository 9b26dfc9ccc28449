"""Vertex AI's machines for the cross-cloud hardware requests, and how one is written into a queue config.

Pure data and dict edits: no SDK, no Airflow (see ``airflow_wandb_launch.cost.hardware``).
"""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.cost.hardware import Gap, Offering, child_mapping


def instance_type(machine_spec: dict[str, Any]) -> str:
    """A Vertex machine as one price-list key: ``machine_type``, plus ``+<n>x<accelerator_type>`` with GPUs.

    :param machine_spec: Vertex's ``machine_spec`` (or a job_status ``worker_pools`` entry).
    """
    machine = machine_spec["machine_type"]
    accelerator, count = machine_spec.get("accelerator_type"), int(machine_spec.get("accelerator_count") or 0)
    return f"{machine}+{count}x{accelerator}" if accelerator and count else machine


def _machine(name: str, accelerator: str | None = None, model: str | None = None, count: int = 0) -> Offering:
    spec = {"machine_type": name, "accelerator_type": accelerator, "accelerator_count": count}
    return Offering(name, model, count, accelerator, price_key=instance_type(spec))


#: hardware request -> the machine type (with attached GPUs) with the same GPUs (or vCPUs)
OFFERINGS: dict[str, Offering] = {
    "1x T4": _machine("n1-standard-8", "NVIDIA_TESLA_T4", "T4", 1),
    "1x L4": _machine("g2-standard-8", "NVIDIA_L4", "L4", 1),
    "1x V100": _machine("n1-standard-8", "NVIDIA_TESLA_V100", "V100", 1),
    "4x V100": _machine("n1-standard-32", "NVIDIA_TESLA_V100", "V100", 4),
    "8x V100": _machine("n1-standard-64", "NVIDIA_TESLA_V100", "V100", 8),
    "1x A100-40GB": _machine("a2-highgpu-1g", "NVIDIA_TESLA_A100", "A100-40GB", 1),
    "4x A100-40GB": _machine("a2-highgpu-4g", "NVIDIA_TESLA_A100", "A100-40GB", 4),
    "8x A100-40GB": _machine("a2-highgpu-8g", "NVIDIA_TESLA_A100", "A100-40GB", 8),
    "1x A100-80GB": _machine("a2-ultragpu-1g", "NVIDIA_A100_80GB", "A100-80GB", 1),
    "4x A100-80GB": _machine("a2-ultragpu-4g", "NVIDIA_A100_80GB", "A100-80GB", 4),
    "8x A100-80GB": _machine("a2-ultragpu-8g", "NVIDIA_A100_80GB", "A100-80GB", 8),
    "8x H100": _machine("a3-highgpu-8g", "NVIDIA_H100_80GB", "H100", 8),
    # CPU-only: the same vCPU count (n1-standard has 3.75 GB per vCPU).
    "cpu-4": _machine("n1-standard-4"),
    "cpu-8": _machine("n1-standard-8"),
    "cpu-16": _machine("n1-standard-16"),
}
#: Vertex has an equivalent of every request
GAPS: dict[str, Gap] = {}


def write_resource_args(args: dict[str, Any], machine: Offering, count: int, spot: bool) -> None:
    """Write ``machine`` x ``count`` into a Vertex queue config (``{"spec": ..., "run": ...}``), in place.

    ``spec.worker_pool_specs[0].machine_spec`` (other machine_spec keys kept) and ``replica_count``;
    ``run.scheduling_strategy: SPOT`` with spot, removed without. ``count`` > 1 needs a single-pool config (the
    backend splits it into the primary and the workers).
    """
    spec = child_mapping(args, "spec")
    pools = spec.get("worker_pool_specs")
    if not pools:
        pools = spec["worker_pool_specs"] = [{}]
    if not isinstance(pools, list) or not isinstance(pools[0], dict):
        raise ValueError(f"spec.worker_pool_specs is {pools!r}: expected a list of worker pool mappings")
    if count > 1 and len(pools) > 1:
        raise ValueError(
            f"count={count} needs a single worker pool (Vertex's primary plus workers are made from it); "
            f"this config has {len(pools)} pools: size them yourself"
        )
    primary = pools[0]
    kept = {
        k: v
        for k, v in (primary.get("machine_spec") or {}).items()
        if k not in ("machine_type", "accelerator_type", "accelerator_count")
    }
    primary["machine_spec"] = {**machine.machine_spec(), **kept}
    primary["replica_count"] = count
    run = child_mapping(args, "run")
    if spot:
        run["scheduling_strategy"] = "SPOT"
    elif str(run.get("scheduling_strategy") or "").upper() == "SPOT":
        del run["scheduling_strategy"]
