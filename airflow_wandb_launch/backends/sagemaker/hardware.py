"""SageMaker's instance types for the cross-cloud hardware requests, and how one is written into a queue config.

Pure data and dict edits: no SDK, no Airflow (see ``airflow_wandb_launch.cost.hardware``).
"""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.cost.hardware import Gap, Offering, child_mapping, config_key

#: the wait for spot capacity a job is given when the base config sets none: this many MaxRuntimes
SPOT_WAIT_FACTOR = 2
#: MaxRuntimeInSeconds when a config sets none (one day)
DEFAULT_RUNTIME = 86400


def _type(name: str, model: str | None = None, count: int = 0, note: str = "") -> Offering:
    return Offering(name, model, count, None, note)


#: hardware request -> the instance type with the same GPUs (or vCPUs)
OFFERINGS: dict[str, Offering] = {
    "1x T4": _type("ml.g4dn.xlarge", "T4", 1),
    "1x L4": _type("ml.g6.xlarge", "L4", 1),
    "1x V100": _type("ml.p3.2xlarge", "V100", 1),
    "4x V100": _type("ml.p3.8xlarge", "V100", 4),
    "8x V100": _type("ml.p3.16xlarge", "V100", 8),
    "8x A100-40GB": _type("ml.p4d.24xlarge", "A100-40GB", 8),
    # p4de has had limited regional availability (us-east-1 first); check your region.
    "8x A100-80GB": _type("ml.p4de.24xlarge", "A100-80GB", 8, "limited regional availability"),
    "8x H100": _type("ml.p5.48xlarge", "H100", 8),
    # CPU-only: the same vCPU count (m5 has 4 GiB per vCPU).
    "cpu-4": _type("ml.m5.xlarge"),
    "cpu-8": _type("ml.m5.2xlarge"),
    "cpu-16": _type("ml.m5.4xlarge"),
}

#: hardware request -> why SageMaker has no equivalent
GAPS: dict[str, Gap] = {
    "1x A100-40GB": Gap(
        "SageMaker's only A100-40GB instance type has 8 GPUs",
        ("ml.p4d.24xlarge (8x A100-40GB)", "ml.p3.2xlarge (1x V100)"),
    ),
    "4x A100-40GB": Gap(
        "SageMaker's only A100-40GB instance type has 8 GPUs",
        ("ml.p4d.24xlarge (8x A100-40GB)", "ml.p3.8xlarge (4x V100)"),
    ),
    "1x A100-80GB": Gap(
        "SageMaker's only A100-80GB instance type has 8 GPUs",
        ("ml.p4de.24xlarge (8x A100-80GB)", "ml.p3.2xlarge (1x V100)"),
    ),
    "4x A100-80GB": Gap(
        "SageMaker's only A100-80GB instance type has 8 GPUs",
        ("ml.p4de.24xlarge (8x A100-80GB)", "ml.p3.8xlarge (4x V100)"),
    ),
}


def write_resource_args(args: dict[str, Any], machine: Offering, count: int, spot: bool) -> None:
    """Write ``machine`` x ``count`` into a SageMaker queue config (CamelCase or snake_case keys), in place.

    ``ResourceConfig.InstanceType`` / ``InstanceCount``; ``EnableManagedSpotTraining``, and with spot
    ``StoppingCondition.MaxWaitTimeInSeconds`` (if the config sets none: :data:`SPOT_WAIT_FACTOR` x
    ``MaxRuntimeInSeconds``, itself :data:`DEFAULT_RUNTIME` if unset); without spot, any wait limit is removed.
    """
    resources = child_mapping(args, "ResourceConfig")
    if config_key(resources, "InstanceGroups") in resources:
        raise ValueError("ResourceConfig.InstanceGroups (a heterogeneous cluster) cannot take one hardware request")
    resources[config_key(resources, "InstanceType")] = machine.name
    resources[config_key(resources, "InstanceCount")] = count
    args[config_key(args, "EnableManagedSpotTraining")] = spot
    stopping = child_mapping(args, "StoppingCondition")
    top_wait = args.get(config_key(args, "MaxWaitTimeInSeconds"))
    wait_key = config_key(stopping, "MaxWaitTimeInSeconds")
    if not spot:
        args.pop(config_key(args, "MaxWaitTimeInSeconds"), None)
        stopping.pop(wait_key, None)
    elif top_wait is None and stopping.get(wait_key) is None:
        runtime = stopping.get(config_key(stopping, "MaxRuntimeInSeconds")) or DEFAULT_RUNTIME
        stopping[wait_key] = SPOT_WAIT_FACTOR * int(runtime)
