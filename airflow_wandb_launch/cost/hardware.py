"""Equivalent hardware across SageMaker, Vertex AI and Azure ML, and each cloud's ``resource_args`` for it.

A hardware request names GPUs (``"1x T4"``, ``"4x A100-40GB"``, ``"8x H100"``) or a CPU-only size (``"cpu-4"``:
4 vCPUs). :data:`HARDWARE` maps each request to the one offering per cloud with the same GPU model and count (or,
CPU-only, the same vCPU count); host vCPUs and memory differ between clouds and are not matched. Where a cloud
has no such offering the entry is ``None`` and :data:`NO_EQUIVALENT` says why and what comes closest:
:func:`offering` then raises :class:`NoEquivalentHardware` rather than guess.

Only GPU model and count per instance type are claimed here (from each cloud's instance-type documentation);
availability varies by region and account quota, and rows with a known caveat carry a ``note``.

:func:`resource_args_for` writes an offering into a W&B Launch queue config for the cloud (the shapes the
``sagemaker``, ``vertex`` and ``azure-ml`` backends build from). Pure: no cloud SDK, no Airflow.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

SAGEMAKER, VERTEX, AZURE_ML = "sagemaker", "vertex", "azure-ml"
CLOUDS = (SAGEMAKER, VERTEX, AZURE_ML)
#: other names of the clouds, as the backends accept them
CLOUD_ALIASES = {"gcp-vertex": VERTEX, "vertex-ai": VERTEX, "azureml": AZURE_ML}
#: the wait for spot capacity SageMaker is given when the base config sets none: this many MaxRuntimes
SPOT_WAIT_FACTOR = 2
#: SageMaker's MaxRuntimeInSeconds when a config sets none (one day)
SAGEMAKER_DEFAULT_RUNTIME = 86400


class HardwareRequestError(ValueError):
    """A hardware request that does not parse, or that the table does not list."""


class NoEquivalentHardware(LookupError):
    """The cloud has no offering with the requested GPUs.

    :param cloud: the cloud.
    :param request: the canonical hardware request.
    :param reason: why there is none.
    :param closest: the nearest offerings, described, for the user to choose from.
    """

    def __init__(self, cloud: str, request: str, reason: str, closest: tuple[str, ...]) -> None:
        self.cloud, self.request, self.reason, self.closest = cloud, request, reason, closest
        nearest = "; ".join(closest) or "none"
        super().__init__(f"{cloud} has no equivalent of {request!r}: {reason}. Closest offerings: {nearest}")


@dataclass(frozen=True)
class Offering:
    """One cloud's machine for a hardware request.

    :param name: SageMaker instance type, Vertex ``machine_type`` or Azure VM size.
    :param gpu_model: the GPU (``"V100"``), ``None`` for CPU-only.
    :param gpu_count: GPUs per machine.
    :param accelerator_type: Vertex's ``accelerator_type`` enum name (Vertex only).
    :param note: a caveat (availability, retirement) worth knowing.
    """

    name: str
    gpu_model: str | None = None
    gpu_count: int = 0
    accelerator_type: str | None = None
    note: str = ""

    @property
    def instance_type(self) -> str:
        """The key prices are looked up by: the name, or for Vertex ``machine_type+<n>x<accelerator>``."""
        if self.accelerator_type:
            return vertex_instance_type(self.machine_spec())
        return self.name

    def machine_spec(self) -> dict[str, Any]:
        """Vertex's ``machine_spec`` for this offering."""
        spec: dict[str, Any] = {"machine_type": self.name}
        if self.accelerator_type:
            spec.update(accelerator_type=self.accelerator_type, accelerator_count=self.gpu_count)
        return spec


@dataclass(frozen=True)
class Gap:
    """Why a cloud has no equivalent, and what comes closest (described, e.g. ``"ml.p4d.24xlarge (8x A100-40GB)"``)."""

    reason: str
    closest: tuple[str, ...]


def _sm(name: str, model: str | None = None, count: int = 0, note: str = "") -> Offering:
    return Offering(name, model, count, None, note)


def _vx(machine: str, accelerator: str | None = None, model: str | None = None, count: int = 0) -> Offering:
    return Offering(machine, model, count, accelerator)


_NCV3 = "NCv3 (V100) sizes are being retired by Azure; check availability in your region"
#: request -> cloud -> offering, or None (see NO_EQUIVALENT)
HARDWARE: dict[str, dict[str, Offering | None]] = {
    "1x T4": {
        SAGEMAKER: _sm("ml.g4dn.xlarge", "T4", 1),
        VERTEX: _vx("n1-standard-8", "NVIDIA_TESLA_T4", "T4", 1),
        AZURE_ML: _sm("Standard_NC4as_T4_v3", "T4", 1),
    },
    "1x L4": {
        SAGEMAKER: _sm("ml.g6.xlarge", "L4", 1),
        VERTEX: _vx("g2-standard-8", "NVIDIA_L4", "L4", 1),
        AZURE_ML: None,
    },
    "1x V100": {
        SAGEMAKER: _sm("ml.p3.2xlarge", "V100", 1),
        VERTEX: _vx("n1-standard-8", "NVIDIA_TESLA_V100", "V100", 1),
        AZURE_ML: _sm("Standard_NC6s_v3", "V100", 1, _NCV3),
    },
    "4x V100": {
        SAGEMAKER: _sm("ml.p3.8xlarge", "V100", 4),
        VERTEX: _vx("n1-standard-32", "NVIDIA_TESLA_V100", "V100", 4),
        AZURE_ML: _sm("Standard_NC24s_v3", "V100", 4, _NCV3),
    },
    "8x V100": {
        SAGEMAKER: _sm("ml.p3.16xlarge", "V100", 8),
        VERTEX: _vx("n1-standard-64", "NVIDIA_TESLA_V100", "V100", 8),
        AZURE_ML: None,
    },
    "1x A100-40GB": {
        SAGEMAKER: None,
        VERTEX: _vx("a2-highgpu-1g", "NVIDIA_TESLA_A100", "A100-40GB", 1),
        AZURE_ML: None,
    },
    "4x A100-40GB": {
        SAGEMAKER: None,
        VERTEX: _vx("a2-highgpu-4g", "NVIDIA_TESLA_A100", "A100-40GB", 4),
        AZURE_ML: None,
    },
    "8x A100-40GB": {
        SAGEMAKER: _sm("ml.p4d.24xlarge", "A100-40GB", 8),
        VERTEX: _vx("a2-highgpu-8g", "NVIDIA_TESLA_A100", "A100-40GB", 8),
        AZURE_ML: _sm("Standard_ND96asr_v4", "A100-40GB", 8),
    },
    "8x A100-80GB": {
        # p4de has had limited regional availability (us-east-1 first); check your region.
        SAGEMAKER: _sm("ml.p4de.24xlarge", "A100-80GB", 8, "limited regional availability"),
        VERTEX: _vx("a2-ultragpu-8g", "NVIDIA_A100_80GB", "A100-80GB", 8),
        AZURE_ML: _sm("Standard_ND96amsr_A100_v4", "A100-80GB", 8),
    },
    "8x H100": {
        SAGEMAKER: _sm("ml.p5.48xlarge", "H100", 8),
        VERTEX: _vx("a3-highgpu-8g", "NVIDIA_H100_80GB", "H100", 8),
        AZURE_ML: _sm("Standard_ND96isr_H100_v5", "H100", 8),
    },
    # CPU-only: the same vCPU count (memory differs: m5 and Dsv3 have 4 GiB per vCPU, n1-standard 3.75 GB).
    "cpu-4": {SAGEMAKER: _sm("ml.m5.xlarge"), VERTEX: _vx("n1-standard-4"), AZURE_ML: _sm("Standard_D4s_v3")},
    "cpu-8": {SAGEMAKER: _sm("ml.m5.2xlarge"), VERTEX: _vx("n1-standard-8"), AZURE_ML: _sm("Standard_D8s_v3")},
    "cpu-16": {SAGEMAKER: _sm("ml.m5.4xlarge"), VERTEX: _vx("n1-standard-16"), AZURE_ML: _sm("Standard_D16s_v3")},
}

#: (request, cloud) -> why HARDWARE has None there
NO_EQUIVALENT: dict[tuple[str, str], Gap] = {
    ("1x L4", AZURE_ML): Gap(
        "Azure offers no NVIDIA L4 VM size",
        ("Standard_NC4as_T4_v3 (1x T4)", "Standard_NC24ads_A100_v4 (1x A100-80GB PCIe)"),
    ),
    ("8x V100", AZURE_ML): Gap(
        "Azure's NCv3 series stops at 4x V100 (Standard_NC24s_v3); the 8x V100 NDv2 size (Standard_ND40rs_v2) "
        "is not generally available",
        ("Standard_NC24s_v3 (4x V100) with count=2",),
    ),
    ("1x A100-40GB", SAGEMAKER): Gap(
        "SageMaker's only A100-40GB instance type has 8 GPUs",
        ("ml.p4d.24xlarge (8x A100-40GB)", "ml.p3.2xlarge (1x V100)"),
    ),
    ("1x A100-40GB", AZURE_ML): Gap(
        "Azure's single-A100 size has the 80GB PCIe A100; its 40GB A100 size has 8 GPUs",
        ("Standard_NC24ads_A100_v4 (1x A100-80GB PCIe)", "Standard_ND96asr_v4 (8x A100-40GB)"),
    ),
    ("4x A100-40GB", SAGEMAKER): Gap(
        "SageMaker's only A100-40GB instance type has 8 GPUs",
        ("ml.p4d.24xlarge (8x A100-40GB)", "ml.p3.8xlarge (4x V100)"),
    ),
    ("4x A100-40GB", AZURE_ML): Gap(
        "Azure's 4x A100 size has the 80GB PCIe A100; its 40GB A100 size has 8 GPUs",
        ("Standard_NC96ads_A100_v4 (4x A100-80GB PCIe)", "Standard_ND96asr_v4 (8x A100-40GB)"),
    ),
}

#: the GPU models requests may name (upper case) -> the canonical spelling
GPU_MODELS = {m.upper(): m for m in ("T4", "L4", "V100", "A100-40GB", "A100-80GB", "H100")}
_GPU_REQUEST = re.compile(r"^(\d+)\s*[x\u00d7]\s*([a-z0-9-]+)$", re.IGNORECASE)
_CPU_REQUEST = re.compile(r"^cpu\s*-\s*(\d+)$", re.IGNORECASE)


def canonical_cloud(cloud: str) -> str:
    """``cloud`` as one of :data:`CLOUDS` (aliases such as ``vertex-ai`` and ``azureml`` accepted).

    :param cloud: a cloud (backend resource) name.
    """
    name = CLOUD_ALIASES.get(str(cloud).strip().lower(), str(cloud).strip().lower())
    if name not in CLOUDS:
        raise ValueError(f"unknown cloud {cloud!r}: expected one of {[*CLOUDS, *CLOUD_ALIASES]}")
    return name


def parse_request(hardware: str) -> str:
    """The canonical form of a hardware request (``" 4 X a100-40gb "`` -> ``"4x A100-40GB"``).

    :param hardware: ``"<n>x <GPU>"`` (``x`` or the multiplication sign) or ``"cpu-<vCPUs>"``, any case, spaces
        allowed around the parts.
    :raises HardwareRequestError: if it does not parse or the table does not list it.
    """
    if not isinstance(hardware, str):
        raise HardwareRequestError(f"a hardware request is a string such as '1x V100', not {hardware!r}")
    text = " ".join(hardware.split())
    gpu, cpu = _GPU_REQUEST.match(text), _CPU_REQUEST.match(text)
    if cpu:
        request = f"cpu-{int(cpu[1])}"
    elif gpu:
        model = gpu[2].upper()
        if model == "A100":
            raise HardwareRequestError(f"{hardware!r} is ambiguous: say A100-40GB or A100-80GB")
        if model == "H100-80GB":
            model = "H100"
        if model not in GPU_MODELS:
            raise HardwareRequestError(f"unknown GPU {gpu[2]!r} in {hardware!r}: expected one of {list(GPU_MODELS)}")
        request = f"{int(gpu[1])}x {GPU_MODELS[model]}"
    else:
        raise HardwareRequestError(
            f"cannot parse hardware request {hardware!r}: expected '<count>x <GPU>' (e.g. '4x A100-40GB') "
            "or 'cpu-<vCPUs>' (e.g. 'cpu-4')"
        )
    if request not in HARDWARE:
        raise HardwareRequestError(f"{request!r} is not in the hardware table; known requests: {list(HARDWARE)}")
    return request


def offering(cloud: str, hardware: str) -> Offering:
    """The cloud's offering for a hardware request.

    :param cloud: ``sagemaker``, ``vertex`` or ``azure-ml`` (or an alias).
    :param hardware: a hardware request, see :func:`parse_request`.
    :raises NoEquivalentHardware: if the cloud has none (naming the closest offerings).
    """
    cloud, request = canonical_cloud(cloud), parse_request(hardware)
    found = HARDWARE[request][cloud]
    if found is None:
        gap = NO_EQUIVALENT[(request, cloud)]
        raise NoEquivalentHardware(cloud, request, gap.reason, gap.closest)
    return found


def vertex_instance_type(machine_spec: dict[str, Any]) -> str:
    """A Vertex machine as one price-table key: ``machine_type``, plus ``+<n>x<accelerator_type>`` with GPUs.

    :param machine_spec: Vertex's ``machine_spec`` (or a job_status ``worker_pools`` entry).
    """
    machine = machine_spec["machine_type"]
    accelerator, count = machine_spec.get("accelerator_type"), int(machine_spec.get("accelerator_count") or 0)
    return f"{machine}+{count}x{accelerator}" if accelerator and count else machine


def resource_args_for(cloud: str, hardware: str, base: dict[str, Any], *, count: int = 1, spot: bool = False) -> dict:
    """The cloud's ``resource_args``: ``base`` with the hardware request's machines written in.

    ``base`` (a queue config, left unchanged) keeps every value that is not hardware. Written per cloud:

    - ``sagemaker``: ``ResourceConfig.InstanceType`` / ``InstanceCount``; ``EnableManagedSpotTraining``, and with
      spot ``StoppingCondition.MaxWaitTimeInSeconds`` (if the base sets none: 2x ``MaxRuntimeInSeconds``, itself
      one day if unset). Snake_case keys in ``base`` are updated in place.
    - ``vertex``: ``spec.worker_pool_specs[0].machine_spec`` (other machine_spec keys kept) and ``replica_count``;
      ``run.scheduling_strategy: SPOT``. ``count`` > 1 needs a single-pool config (the backend splits it into
      the primary and the workers).
    - ``azure-ml``: ``instance_type`` / ``instance_count`` (serverless compute), or, when ``base`` names a
      ``compute`` cluster, that cluster stays (its VM size is the cluster's: make it the offering's) and only
      ``instance_count`` is set; ``queue_settings.job_tier: Spot``.

    ``spot`` is authoritative: ``spot=False`` removes the base's spot settings, so a run's capacity (and so its
    cost estimate) is what was asked for.

    :param cloud: ``sagemaker``, ``vertex`` or ``azure-ml`` (or an alias).
    :param hardware: a hardware request (``"4x A100-40GB"``, ``"cpu-4"``).
    :param base: the queue config (a ``{cloud: {...}}`` wrapper is unwrapped).
    :param count: machines (instances / replicas / nodes), at least 1.
    :param spot: run on spot capacity.
    :raises NoEquivalentHardware: if the cloud has no equivalent.
    :raises HardwareRequestError: for a bad request.
    :raises ValueError: for a bad count, or a base the hardware cannot be written into.
    """
    cloud = canonical_cloud(cloud)
    machine = offering(cloud, hardware)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count is the number of machines, an integer >= 1, not {count!r}")
    if not isinstance(base, dict):
        raise ValueError(f"base is a queue config mapping, not {type(base).__name__}")
    args = copy.deepcopy(base)
    names = {cloud, *(alias for alias, name in CLOUD_ALIASES.items() if name == cloud)}
    if len(args) == 1 and next(iter(args)) in names:
        args = args[next(iter(args))] or {}
    writer = {SAGEMAKER: _sagemaker, VERTEX: _vertex, AZURE_ML: _azure_ml}[cloud]
    writer(args, machine, count, spot)
    return args


def _key(mapping: dict[str, Any], name: str) -> str:
    """The key ``mapping`` spells ``name`` (CamelCase) with, CamelCase or snake_case; ``name`` if absent."""
    for key in mapping:
        if key.replace("_", "").lower() == name.replace("_", "").lower():
            return key
    return name


def _child(mapping: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    key = _key(mapping, name)
    value = mapping.setdefault(key, {})
    if value is None:
        value = mapping[key] = {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}{name} is {value!r}: expected a mapping to write the hardware into")
    return value


def _sagemaker(args: dict[str, Any], machine: Offering, count: int, spot: bool) -> None:
    resources = _child(args, "ResourceConfig", "")
    if _key(resources, "InstanceGroups") in resources:
        raise ValueError("ResourceConfig.InstanceGroups (a heterogeneous cluster) cannot take one hardware request")
    resources[_key(resources, "InstanceType")] = machine.name
    resources[_key(resources, "InstanceCount")] = count
    args[_key(args, "EnableManagedSpotTraining")] = spot
    stopping = _child(args, "StoppingCondition", "")
    top_wait = args.get(_key(args, "MaxWaitTimeInSeconds"))
    wait_key = _key(stopping, "MaxWaitTimeInSeconds")
    if not spot:
        args.pop(_key(args, "MaxWaitTimeInSeconds"), None)
        stopping.pop(wait_key, None)
    elif top_wait is None and stopping.get(wait_key) is None:
        runtime = stopping.get(_key(stopping, "MaxRuntimeInSeconds")) or SAGEMAKER_DEFAULT_RUNTIME
        stopping[wait_key] = SPOT_WAIT_FACTOR * int(runtime)


def _vertex(args: dict[str, Any], machine: Offering, count: int, spot: bool) -> None:
    spec = _child(args, "spec", "")
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
    run = _child(args, "run", "")
    if spot:
        run["scheduling_strategy"] = "SPOT"
    elif str(run.get("scheduling_strategy") or "").upper() == "SPOT":
        del run["scheduling_strategy"]


def _azure_ml(args: dict[str, Any], machine: Offering, count: int, spot: bool) -> None:
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
    queue = _child(args, "queue_settings", "")
    top_tier = args.pop("job_tier", None)
    if top_tier is not None and "job_tier" not in queue:
        queue["job_tier"] = top_tier
    if spot:
        queue["job_tier"] = "Spot"
    elif str(queue.get("job_tier") or "").lower() == "spot":
        del queue["job_tier"]
    if not queue:
        del args["queue_settings"]
