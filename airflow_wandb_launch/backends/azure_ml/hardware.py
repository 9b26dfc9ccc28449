"""Azure ML's VM sizes for the cross-cloud hardware requests, and how one is written into a queue config.

Pure data and dict edits: no SDK, no Airflow (see ``airflow_wandb_launch.cost.hardware``).
"""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.cost.hardware import Gap, Offering, child_mapping

_NCV3 = "NCv3 (V100) sizes are being retired by Azure; check availability in your region"


def _size(name: str, model: str | None = None, count: int = 0, note: str = "") -> Offering:
    return Offering(name, model, count, None, note)


#: hardware request -> the VM size with the same GPUs (or vCPUs)
OFFERINGS: dict[str, Offering] = {
    "1x T4": _size("Standard_NC4as_T4_v3", "T4", 1),
    "1x V100": _size("Standard_NC6s_v3", "V100", 1, _NCV3),
    "4x V100": _size("Standard_NC24s_v3", "V100", 4, _NCV3),
    "8x A100-40GB": _size("Standard_ND96asr_v4", "A100-40GB", 8),
    "1x A100-80GB": _size("Standard_NC24ads_A100_v4", "A100-80GB", 1, "the PCIe A100"),
    "4x A100-80GB": _size("Standard_NC96ads_A100_v4", "A100-80GB", 4, "the PCIe A100"),
    "8x A100-80GB": _size("Standard_ND96amsr_A100_v4", "A100-80GB", 8),
    "8x H100": _size("Standard_ND96isr_H100_v5", "H100", 8),
    # CPU-only: the same vCPU count (Dsv3 has 4 GiB per vCPU).
    "cpu-4": _size("Standard_D4s_v3"),
    "cpu-8": _size("Standard_D8s_v3"),
    "cpu-16": _size("Standard_D16s_v3"),
}

#: hardware request -> why Azure ML has no equivalent
GAPS: dict[str, Gap] = {
    "1x L4": Gap(
        "Azure offers no NVIDIA L4 VM size",
        ("Standard_NC4as_T4_v3 (1x T4)", "Standard_NC24ads_A100_v4 (1x A100-80GB PCIe)"),
    ),
    "8x V100": Gap(
        "Azure's NCv3 series stops at 4x V100 (Standard_NC24s_v3); the 8x V100 NDv2 size (Standard_ND40rs_v2) "
        "is not generally available",
        ("Standard_NC24s_v3 (4x V100) with count=2",),
    ),
    "1x A100-40GB": Gap(
        "Azure's single-A100 size has the 80GB PCIe A100; its 40GB A100 size has 8 GPUs",
        ("Standard_NC24ads_A100_v4 (1x A100-80GB PCIe)", "Standard_ND96asr_v4 (8x A100-40GB)"),
    ),
    "4x A100-40GB": Gap(
        "Azure's 4x A100 size has the 80GB PCIe A100; its 40GB A100 size has 8 GPUs",
        ("Standard_NC96ads_A100_v4 (4x A100-80GB PCIe)", "Standard_ND96asr_v4 (8x A100-40GB)"),
    ),
}


def write_resource_args(args: dict[str, Any], machine: Offering, count: int, spot: bool) -> None:
    """Write ``machine`` x ``count`` into ``azure.ai.ml.command()`` keyword arguments, in place.

    ``instance_type`` / ``instance_count`` (serverless compute), or, when ``args`` names a ``compute`` cluster,
    that cluster stays (its VM size is the cluster's: make it the offering's) and only ``instance_count`` is set;
    ``queue_settings.job_tier: Spot`` with spot, removed without.
    """
    if args.get("compute"):
        if spot:
            raise ValueError(
                f"spot on the compute cluster {args['compute']!r} is the cluster's tier (low priority), "
                "not the job's: use serverless compute (no 'compute' in base) for job_tier Spot"
            )
        args.pop("instance_type", None)
    else:
        args.pop("compute", None)
        args["instance_type"] = machine.name
    args["instance_count"] = count
    queue = child_mapping(args, "queue_settings")
    top_tier = args.pop("job_tier", None)
    if top_tier is not None and "job_tier" not in queue:
        queue["job_tier"] = top_tier
    if spot:
        queue["job_tier"] = "Spot"
    elif str(queue.get("job_tier") or "").lower() == "spot":
        del queue["job_tier"]
    if not queue:
        del args["queue_settings"]
