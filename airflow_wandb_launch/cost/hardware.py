"""Equivalent hardware across clouds, and each cloud's ``resource_args`` for it.

A hardware request names GPUs (``"1x T4"``, ``"4x A100-40GB"``, ``"8x H100"``) or a CPU-only size (``"cpu-4"``:
4 vCPUs), one of :data:`REQUESTS`; ``"1x A100"``, with no memory, is whichever A100 the cloud has at that count.
Each cloud's folder (``backends/<cloud>/hardware.py``) maps every request to its one offering with the same GPU
model and count (or, CPU-only, the same vCPU count) in ``OFFERINGS``, or says in ``GAPS`` why it has none and what
comes closest; host vCPUs and memory differ between clouds and are not matched. :func:`offering` raises
:class:`NoEquivalentHardware` for a gap rather than guess. :data:`HARDWARE` and :data:`NO_EQUIVALENT` are those
tables over every registered cloud (:data:`CLOUDS`: the resources whose folder has a ``hardware`` module).

Only GPU model and count per instance type are claimed (from each cloud's instance-type documentation);
availability varies by region and account quota, and rows with a known caveat carry a ``note``.

:func:`resource_args_for` writes an offering into a W&B Launch queue config for the cloud, with the folder's
``write_resource_args``. Pure: no cloud SDK, no Airflow (cloud aliases such as ``vertex-ai`` are read from the
backend classes, so they resolve only where those import, i.e. with Airflow).
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

#: the hardware requests every cloud answers, with an offering or a gap
REQUESTS = (
    "1x T4",
    "1x L4",
    "1x V100",
    "4x V100",
    "8x V100",
    "1x A100-40GB",
    "4x A100-40GB",
    "8x A100-40GB",
    "1x A100-80GB",
    "4x A100-80GB",
    "8x A100-80GB",
    "8x H100",
    "cpu-4",
    "cpu-8",
    "cpu-16",
)
#: the GPU models requests may name (upper case) -> the canonical spelling
GPU_MODELS = {m.upper(): m for m in ("T4", "L4", "V100", "A100-40GB", "A100-80GB", "H100")}
#: a model named without its memory -> its variants, in the order a cloud's offering is looked for: ``"1x A100"``
#: is whichever A100 the cloud has at that count (the 40 GB one where both exist)
GPU_FAMILIES = {"A100": ("A100-40GB", "A100-80GB")}
_GPU_REQUEST = re.compile(r"^(\d+)\s*[x\u00d7]\s*([a-z0-9-]+)$", re.IGNORECASE)
_CPU_REQUEST = re.compile(r"^cpu\s*-\s*(\d+)$", re.IGNORECASE)


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

    :param name: the instance type, machine type or VM size.
    :param gpu_model: the GPU (``"V100"``), ``None`` for CPU-only.
    :param gpu_count: GPUs per machine.
    :param accelerator_type: the accelerator's enum name, where GPUs are attached to a machine type (Vertex).
    :param note: a caveat (availability, retirement) worth knowing.
    :param price_key: the key its price is listed under, when not ``name`` (Vertex: machine plus accelerators).
    """

    name: str
    gpu_model: str | None = None
    gpu_count: int = 0
    accelerator_type: str | None = None
    note: str = ""
    price_key: str | None = None

    @property
    def instance_type(self) -> str:
        """The key prices are looked up by."""
        return self.price_key or self.name

    def machine_spec(self) -> dict[str, Any]:
        """The machine with its attached accelerators, as Vertex's ``machine_spec``."""
        spec: dict[str, Any] = {"machine_type": self.name}
        if self.accelerator_type:
            spec.update(accelerator_type=self.accelerator_type, accelerator_count=self.gpu_count)
        return spec


@dataclass(frozen=True)
class Gap:
    """Why a cloud has no equivalent, and what comes closest (described, e.g. ``"ml.p4d.24xlarge (8x A100-40GB)"``)."""

    reason: str
    closest: tuple[str, ...]


# -- the tables, from the cloud folders -------------------------------------------------------------------------


def _hardware_modules() -> dict[str, ModuleType]:
    from airflow_wandb_launch.backends import BACKENDS

    return _modules(tuple(BACKENDS.items()))


@functools.cache
def _modules(registry: tuple[tuple[str, str], ...]) -> dict[str, ModuleType]:
    """The registered resources' ``hardware`` modules (cached per registry state)."""
    from airflow_wandb_launch.backends import resource_module

    found = {resource: resource_module(resource, "hardware") for resource, _ in registry}
    return {resource: module for resource, module in found.items() if module is not None}


def _tables() -> tuple[dict[str, dict[str, Offering | None]], dict[tuple[str, str], Gap]]:
    hardware: dict[str, dict[str, Offering | None]] = {request: {} for request in REQUESTS}
    gaps: dict[tuple[str, str], Gap] = {}
    for cloud, module in _hardware_modules().items():
        unknown = set(module.OFFERINGS) | set(module.GAPS)
        unknown -= set(REQUESTS)
        if unknown:
            raise ValueError(f"{module.__name__} lists requests not in REQUESTS: {sorted(unknown)}")
        for request in REQUESTS:
            hardware[request][cloud] = module.OFFERINGS.get(request)
            if request not in module.OFFERINGS:
                gaps[(request, cloud)] = module.GAPS.get(request) or Gap(f"{cloud} lists no offering for it", ())
    return hardware, gaps


def __getattr__(name: str) -> Any:
    """:data:`CLOUDS`, :data:`HARDWARE` (request -> cloud -> Offering or None) and :data:`NO_EQUIVALENT`
    ((request, cloud) -> Gap), assembled from the cloud folders when first read."""
    if name == "CLOUDS":
        return tuple(_hardware_modules())
    if name == "HARDWARE":
        return _tables()[0]
    if name == "NO_EQUIVALENT":
        return _tables()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- lookups ---------------------------------------------------------------------------------------------------


def canonical_cloud(cloud: str) -> str:
    """``cloud`` as one of :data:`CLOUDS` (any case; aliases such as ``vertex-ai`` and ``azureml`` accepted).

    :param cloud: a cloud (backend resource) name.
    :raises ValueError: for a name that is not a cloud with a hardware table.
    """
    from airflow_wandb_launch.backends import known_names, resolve_resource

    name = resolve_resource(str(cloud).strip().lower())
    clouds = _hardware_modules()
    if name not in clouds:
        names = [n for n in known_names() if resolve_resource(n) in clouds]
        raise ValueError(f"unknown cloud {cloud!r}: expected one of {names}")
    return name


def parse_request(hardware: str) -> str:
    """The canonical form of a hardware request (``" 4 X a100-40gb "`` -> ``"4x A100-40GB"``).

    :param hardware: ``"<n>x <GPU>"`` (``x`` or the multiplication sign) or ``"cpu-<vCPUs>"``, any case, spaces
        allowed around the parts. ``"<n>x A100"`` (no memory) is whichever A100 a cloud has (:data:`GPU_FAMILIES`).
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
        if model == "H100-80GB":
            model = "H100"
        if model not in GPU_MODELS and model not in GPU_FAMILIES:
            known = [*GPU_MODELS.values(), *GPU_FAMILIES]
            raise HardwareRequestError(f"unknown GPU {gpu[2]!r} in {hardware!r}: expected one of {known}")
        request = f"{int(gpu[1])}x {GPU_MODELS.get(model, model)}"
    else:
        raise HardwareRequestError(
            f"cannot parse hardware request {hardware!r}: expected '<count>x <GPU>' (e.g. '4x A100-40GB') "
            "or 'cpu-<vCPUs>' (e.g. 'cpu-4')"
        )
    if not variants(request):
        raise HardwareRequestError(f"{request!r} is not in the hardware table; known requests: {list(REQUESTS)}")
    return request


def variants(request: str) -> tuple[str, ...]:
    """The table's requests a canonical request stands for: itself, or a family's (``"1x A100"`` ->
    ``("1x A100-40GB",)``; ``"8x A100"`` -> both memories), in the order they are tried. Pure."""
    count, _, model = request.partition("x ")
    named = [f"{count}x {variant}" for variant in GPU_FAMILIES.get(model, ())] or [request]
    return tuple(r for r in named if r in REQUESTS)


def offering(cloud: str, hardware: str) -> Offering:
    """The cloud's offering for a hardware request.

    :param cloud: one of :data:`CLOUDS` (or an alias).
    :param hardware: a hardware request, see :func:`parse_request`.
    :raises NoEquivalentHardware: if the cloud has none (naming the closest offerings).
    """
    cloud, request = canonical_cloud(cloud), parse_request(hardware)
    hardware_table, gaps = _tables()
    tried = variants(request)
    for variant in tried:
        if hardware_table[variant][cloud] is not None:
            return hardware_table[variant][cloud]
    missing = [gaps[(variant, cloud)] for variant in tried]
    said = [f"{variant}: {gap.reason}" for variant, gap in zip(tried, missing, strict=True)]
    reason = "; ".join(said) if len(tried) > 1 else missing[0].reason
    closest = tuple(dict.fromkeys(place for gap in missing for place in gap.closest))
    raise NoEquivalentHardware(cloud, request, reason, closest)


def resource_args_for(cloud: str, hardware: str, base: dict[str, Any], *, count: int = 1, spot: bool = False) -> dict:
    """The cloud's ``resource_args``: ``base`` with the hardware request's machines written in.

    ``base`` (a queue config, left unchanged) keeps every value that is not hardware; what is written is the
    cloud's (see ``write_resource_args`` in ``backends/<cloud>/hardware.py``):

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

    :param cloud: one of :data:`CLOUDS` (or an alias).
    :param hardware: a hardware request (``"4x A100-40GB"``, ``"cpu-4"``).
    :param base: the queue config (a ``{cloud: {...}}`` wrapper is unwrapped).
    :param count: machines (instances / replicas / nodes), at least 1.
    :param spot: run on spot capacity.
    :raises NoEquivalentHardware: if the cloud has no equivalent.
    :raises HardwareRequestError: for a bad request.
    :raises ValueError: for a bad count, or a base the hardware cannot be written into.
    """
    from airflow_wandb_launch.backends import resource_names

    cloud = canonical_cloud(cloud)
    machine = offering(cloud, hardware)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count is the number of machines, an integer >= 1, not {count!r}")
    if not isinstance(base, dict):
        raise ValueError(f"base is a queue config mapping, not {type(base).__name__}")
    args = copy.deepcopy(base)
    if len(args) == 1 and next(iter(args)) in resource_names(cloud):
        args = args[next(iter(args))] or {}
    _hardware_modules()[cloud].write_resource_args(args, machine, count, spot)
    return args


# -- helpers for the cloud writers -----------------------------------------------------------------------------


def config_key(mapping: dict[str, Any], name: str) -> str:
    """The key ``mapping`` spells ``name`` (CamelCase) with, CamelCase or snake_case; ``name`` if absent."""
    for key in mapping:
        if key.replace("_", "").lower() == name.replace("_", "").lower():
            return key
    return name


def child_mapping(mapping: dict[str, Any], name: str) -> dict[str, Any]:
    """The mapping under ``name`` (however ``mapping`` spells it), created empty if absent or null.

    :raises ValueError: if the value there is not a mapping.
    """
    key = config_key(mapping, name)
    value = mapping.setdefault(key, {})
    if value is None:
        value = mapping[key] = {}
    if not isinstance(value, dict):
        raise ValueError(f"{name} is {value!r}: expected a mapping to write the hardware into")
    return value
