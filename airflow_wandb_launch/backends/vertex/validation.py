"""What a Vertex queue config may hold, by ``google.cloud.aiplatform_v1``'s own message types, and what they do not say.

Worker pools are checked against the proto-plus messages they become (``WorkerPoolSpec``, ``MachineSpec``,
``ContainerSpec``, ...): a key that is not one of the message's fields is refused with the closest field named, and
every value must have its field's type (an integer for an ``int32``/``int64``, one of the enum's names for an enum,
a list for a repeated field), each error naming the key path as written (``spec.worker_pool_specs[0].machine_spec
.accelerator_type``). proto-plus itself would truncate ``1.5`` to ``1``, split a ``command`` string into characters
and report a bad enum as a bare ``KeyError``: hence this walk over its field table rather than a bare constructor.

What the types cannot say: which accelerators each machine family takes (the machine-family table below: a2 <-> A100,
a2-ultragpu <-> A100 80GB, g2 <-> L4, n1 <-> T4/V100/P100/K80/P4, ...), that a machine type has a known family and
a valid shape (``n1-standard-4``), and that a Cloud Storage URI is ``gs://bucket/...``.

``aiplatform_v1`` is imported lazily (only when a config is checked: at build, which runs at execute time); its
field tables are read once per message type.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_wandb_launch.backends.vertex import RESOURCE
from airflow_wandb_launch.backends.vertex.client import aiplatform_v1
from airflow_wandb_launch.errors import MISSING, ResourceArgsError
from airflow_wandb_launch.launch.resource_args import Args, text

# -- plain values -----------------------------------------------------------------------------------------------


def blank(value: Any) -> bool:
    """None, or a string with nothing but whitespace: both mean "not given"."""
    return value is None or (isinstance(value, str) and not value.strip())


def did_you_mean(value: Any, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` (case and ``-``/``_`` aside), else ``""``."""
    if not isinstance(value, str) or not value:
        return ""
    choices = sorted(choices)
    norm = value.upper().replace("-", "_").replace(" ", "_")
    exact = [c for c in choices if c.upper().replace("-", "_") == norm]
    if exact:
        return f"; did you mean {exact[0]!r}?"
    for matches in (
        [c for c in choices if c.upper().endswith("_" + norm)],  # T4 -> NVIDIA_TESLA_T4
        [c for c in choices if norm in c.upper().split("_")],  # ANY -> ANY_RESERVATION
    ):
        if len(matches) == 1:
            return f"; did you mean {matches[0]!r}?"
    close = difflib.get_close_matches(value, choices, n=1) or difflib.get_close_matches(
        norm, [c.upper() for c in choices], n=1
    )
    if close:
        match = next(c for c in choices if c.upper() == close[0].upper())
        return f"; did you mean {match!r}?"
    return ""


# -- aiplatform_v1's messages -----------------------------------------------------------------------------------

#: proto scalar types (``proto.ProtoType`` values) -> (what a config writes, Python check, bounds)
_INT32, _INT64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
_UINT32, _UINT64 = (0, 2**32 - 1), (0, 2**64 - 1)
_INTS = {5: _INT32, 17: _INT32, 15: _INT32, 3: _INT64, 18: _INT64, 16: _INT64, 13: _UINT32, 7: _UINT32, 4: _UINT64}
_FLOATS, _STRING, _BOOL, _BYTES, _MESSAGE, _ENUM = {1, 2}, 9, 8, 12, 11, 14


@dataclass(frozen=True)
class _Field:
    name: str
    kind: int
    repeated: bool
    is_map: bool
    message: Any  # a proto-plus message class (or a raw protobuf one, e.g. Duration), for message fields
    enum_names: tuple[str, ...]  # an enum field's names, without its *_UNSPECIFIED zero


def _sdk_name(message: Any) -> str:
    return f"aiplatform_v1.{getattr(message, '__qualname__', getattr(message, '__name__', str(message)))}"


@functools.cache
def message_fields(message: Any) -> dict[str, _Field]:
    """The fields of a proto-plus message class, as this module checks them (read once per class)."""
    import proto

    fields = {}
    for name, spec in message.meta.fields.items():
        names: tuple[str, ...] = ()
        if spec.enum is not None:
            names = tuple(n for n in spec.enum.__members__ if not n.endswith("UNSPECIFIED"))
        fields[name] = _Field(
            name,
            int(spec.proto_type),
            bool(spec.repeated),
            isinstance(spec, proto.MapField),
            spec.message if isinstance(spec.message, type) else None,
            names,
        )
    return fields


def v1_type(name: str) -> Any:
    """An ``aiplatform_v1`` message (or enum) class by name, importing the SDK on first use."""
    return getattr(aiplatform_v1(), name)


def enum_names(enum_name: str) -> tuple[str, ...]:
    """The names of an ``aiplatform_v1`` enum (``"AcceleratorType"``, ``"Scheduling.Strategy"``), zero aside."""
    enum: Any = aiplatform_v1()
    for part in enum_name.split("."):
        enum = getattr(enum, part)
    return tuple(n for n in enum.__members__ if not n.endswith("UNSPECIFIED"))


def check_message(args: Args, message: Any, *, leave_out: Mapping[str, str] | None = None) -> None:
    """Check ``args.data`` against the fields of the proto-plus ``message`` class, at every depth.

    :param args: the mapping and the key path it was written at.
    :param message: e.g. ``aiplatform_v1.WorkerPoolSpec``.
    :param leave_out: fields of the message refused here -> what to write instead.
    """
    leave_out = leave_out or {}
    fields = {n: f for n, f in message_fields(message).items() if n not in leave_out}
    for key, value in args.data.items():
        if key in leave_out:
            raise args.error(key, value, leave_out[key])
        field = fields.get(key)
        if field is None:
            raise args.error(
                key, value, f"one of the fields of {_sdk_name(message)} {sorted(fields)}{did_you_mean(key, fields)}"
            )
        _check_value(args, key, value, field, message)


def _check_value(parent: Args, key: str | int, value: Any, field: _Field, message: Any) -> None:
    where = f"{_sdk_name(message)}.{field.name}"
    if value is None or (blank(value) and not isinstance(key, int)):
        return  # not given (an empty string counts as missing; a list's item "" is a value, e.g. an argument)
    if field.is_map:
        if not isinstance(value, dict):
            raise parent.error(key, value, f"a mapping ({where} is a map)")
        return
    if field.repeated and not isinstance(key, int):
        if not isinstance(value, list):
            raise parent.error(key, value, f"a list ({where} is repeated)")
        items = Args(parent.resource, {}, parent.key(key))
        for i, item in enumerate(value):
            _check_value(items, i, item, field, message)
        return
    if field.kind == _MESSAGE:
        if not isinstance(value, dict):
            raise parent.error(key, value, f"a mapping ({where})")
        if field.message is not None and hasattr(field.message, "meta"):
            check_message(Args(parent.resource, value, parent.key(key)), field.message)
        return
    if field.kind == _ENUM:
        if not isinstance(value, str) or value not in field.enum_names:
            hint = did_you_mean(value, field.enum_names)
            raise parent.error(key, value, f"one of {list(field.enum_names)} ({where}){hint}")
        return
    if field.kind in _INTS:
        low, high = _INTS[field.kind]
        if isinstance(value, bool) or not isinstance(value, int):
            raise parent.error(key, value, f"an integer ({where})")
        if not low <= value <= high:
            raise parent.error(key, value, f"an integer from {low} to {high} ({where})")
        return
    if field.kind in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise parent.error(key, value, f"a number ({where})")
        return
    if field.kind == _BOOL:
        if not isinstance(value, bool):
            raise parent.error(key, value, f"true or false ({where})")
        return
    if field.kind in (_STRING, _BYTES) and not isinstance(value, str):
        raise parent.error(key, value, f"a string ({where})")


# -- machine types and their accelerators ---------------------------------------------------------------------

#: GPU machine types that come with their GPUs: family -> {type: (accelerator, {shape: GPUs})}
BUNDLED: dict[str, dict[str, tuple[str, dict[str, int]]]] = {
    "a2": {
        "highgpu": ("NVIDIA_TESLA_A100", {"1g": 1, "2g": 2, "4g": 4, "8g": 8}),
        "megagpu": ("NVIDIA_TESLA_A100", {"16g": 16}),
        "ultragpu": ("NVIDIA_A100_80GB", {"1g": 1, "2g": 2, "4g": 4, "8g": 8}),
    },
    "a3": {
        "highgpu": ("NVIDIA_H100_80GB", {"1g": 1, "2g": 2, "4g": 4, "8g": 8}),
        "megagpu": ("NVIDIA_H100_MEGA_80GB", {"8g": 8}),
        "ultragpu": ("NVIDIA_H200_141GB", {"8g": 8}),
    },
    "a4": {"highgpu": ("NVIDIA_B200", {"8g": 8})},
    "a4x": {"highgpu": ("NVIDIA_GB200", {"4g": 4})},
    "g2": {
        "standard": ("NVIDIA_L4", {"4": 1, "8": 1, "12": 1, "16": 1, "24": 2, "32": 1, "48": 4, "96": 8}),
    },
    "g4": {"standard": ("NVIDIA_RTX_PRO_6000", {"48": 1, "96": 2, "192": 4, "384": 8})},
}
#: general-purpose families: family -> (machine types, vCPU counts; empty: any)
GENERAL: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "n1": (("standard", "highmem", "highcpu"), (1, 2, 4, 8, 16, 32, 64, 96)),
    "e2": (("standard", "highmem", "highcpu"), (2, 4, 8, 16, 32)),
    "n2": (("standard", "highmem", "highcpu"), (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)),
    "n2d": (("standard", "highmem", "highcpu"), (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224)),
    "n4": (("standard", "highmem", "highcpu"), ()),
    "c2": (("standard",), (4, 8, 16, 30, 60)),
    "c2d": (("standard", "highmem", "highcpu"), (2, 4, 8, 16, 32, 56, 112)),
    "c3": (("standard", "highmem", "highcpu"), ()),
    "c3d": (("standard", "highmem", "highcpu"), ()),
    "c4": (("standard", "highmem", "highcpu"), ()),
    "m1": (("ultramem", "megamem"), (40, 80, 96, 160)),
    "m2": (("ultramem", "megamem", "hypermem"), ()),
    "m3": (("ultramem", "megamem"), ()),
}
#: GPUs attached to n1 machines: accelerator -> GPU counts
N1_GPUS: dict[str, tuple[int, ...]] = {
    "NVIDIA_TESLA_T4": (1, 2, 4),
    "NVIDIA_TESLA_V100": (1, 2, 4, 8),
    "NVIDIA_TESLA_P100": (1, 2, 4),
    "NVIDIA_TESLA_K80": (1, 2, 4, 8),
    "NVIDIA_TESLA_P4": (1, 2, 4),
}
#: TPU machine types: family-type -> (accelerators it may name, shapes); the topology sets the chips
TPUS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ct4p-hightpu": (("TPU_V4_POD",), ("4t",)),
    "ct5lp-hightpu": (("TPU_V5_LITEPOD",), ("1t", "4t", "8t")),
    "ct6e-standard": ((), ("1t", "4t", "8t")),
}
CLOUD_TPU = ("cloud-tpu", ("TPU_V2", "TPU_V3"))
_MACHINE = re.compile(r"^(?P<family>[a-z][a-z0-9]*)-(?P<type>[a-z]+)-(?P<shape>[0-9]+[a-z]?)$")


def known_families() -> list[str]:
    return sorted({*BUNDLED, *GENERAL, *(t.split("-")[0] for t in TPUS), CLOUD_TPU[0]})


@functools.cache
def known_machine_types() -> tuple[str, ...]:
    """Every machine type the tables spell out (for did-you-mean)."""
    names = [f"{f}-{t}-{s}" for f, types in BUNDLED.items() for t, (_, shapes) in types.items() for s in shapes]
    names += [f"{f}-{t}-{n}" for f, (types, cpus) in GENERAL.items() for t in types for n in cpus or (4, 8, 16)]
    names += [f"{ft}-{s}" for ft, (_, shapes) in TPUS.items() for s in shapes]
    return (*names, CLOUD_TPU[0])


@dataclass(frozen=True)
class Machine:
    """A machine type's family and accelerators."""

    name: str
    family: str
    #: the (accelerator, count) it comes with (a2, a3, g2, ...): none other, and exactly so many
    bundled: tuple[str, int] | None = None
    #: accelerators that attach to it (n1): accelerator -> GPU counts
    attachable: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    #: a TPU machine: the accelerator names it may carry (its topology sets the chips)
    tpus: tuple[str, ...] | None = None


def parse_machine(machine_type: str) -> Machine | str:
    """The machine type's family and accelerators, or what a machine type should look like (ending "such as ")."""
    if machine_type == CLOUD_TPU[0]:
        return Machine(machine_type, "cloud-tpu", tpus=CLOUD_TPU[1])
    match = _MACHINE.match(machine_type)
    families = ", ".join(known_families())
    if not match:
        return f"a Vertex machine type <family>-<type>-<size> of a known family ({families}), such as "
    family, kind, shape = match["family"], match["type"], match["shape"]
    if f"{family}-{kind}" in TPUS:
        accelerators, shapes = TPUS[f"{family}-{kind}"]
        if shape not in shapes:
            return f"a {family}-{kind} machine type ({_shapes(family, kind, shapes)}), such as "
        return Machine(machine_type, family, tpus=accelerators)
    if family in BUNDLED:
        if kind not in BUNDLED[family]:
            kinds = ", ".join(_shapes(family, t, shapes) for t, (_, shapes) in BUNDLED[family].items())
            return f"a machine type of the {family} family ({kinds}), such as "
        accelerator, shapes = BUNDLED[family][kind]
        if shape not in shapes:
            return f"a {family}-{kind} machine type ({_shapes(family, kind, shapes)}), such as "
        return Machine(machine_type, family, bundled=(accelerator, shapes[shape]))
    if family in GENERAL:
        types, cpus = GENERAL[family]
        if kind not in types:
            kinds = ", ".join(_shapes(family, t, cpus) for t in types)
            return f"a machine type of the {family} family ({kinds}), such as "
        if not shape.isdigit() or int(shape) < 1 or (cpus and int(shape) not in cpus):
            return f"a {family}-{kind} machine type ({_shapes(family, kind, cpus)}), such as "
        return Machine(machine_type, family, attachable=N1_GPUS if family == "n1" else {})
    return f"a machine type of a known family ({families}), such as "


def _shapes(family: str, kind: str, sizes: Iterable[Any]) -> str:
    sizes = [str(s) for s in sizes]
    if not sizes:
        return f"{family}-{kind}-<vCPUs>"
    return f"{family}-{kind}-{sizes[0]}" if len(sizes) == 1 else f"{family}-{kind}-{{{','.join(sizes)}}}"


def where_it_runs(accelerator: str) -> str:
    """The machine types an accelerator runs on, for a message."""
    if accelerator in N1_GPUS:
        homes = [_shapes("n1", t, ["N"]) for t in GENERAL["n1"][0]]
    else:
        homes = [
            _shapes(f, t, shapes)
            for f, types in BUNDLED.items()
            for t, (acc, shapes) in types.items()
            if acc == accelerator
        ]
        homes += [_shapes(*ft.split("-"), shapes) for ft, (accs, shapes) in TPUS.items() if accelerator in accs]
        homes += [CLOUD_TPU[0]] if accelerator in CLOUD_TPU[1] else []
    return f"a machine type {' or '.join(homes)}" if homes else "a machine type Vertex attaches it to"


def check_machine(machine: Args) -> None:
    """``machine_spec``: a machine type of a known family and shape, with the accelerators that family takes.

    Run after :func:`check_message` (accelerator_type is then one of aiplatform_v1's names, the count an integer).
    """
    machine_type = text(machine, "machine_type", required=True, expected="a machine type such as 'n1-standard-4'")
    accelerator = text(machine, "accelerator_type")
    count = machine.positive_int("accelerator_count", minimum=0) or 0
    parsed = parse_machine(machine_type)
    bundled = parsed.bundled if isinstance(parsed, Machine) else None
    if count and not accelerator:
        hint = f" ({bundled[0]} on {machine_type})" if bundled else ""
        written = machine.data.get("accelerator_type", MISSING)
        raise machine.error("accelerator_type", written, f"an accelerator type for accelerator_count {count}{hint}")
    if accelerator and not count:
        written = machine.data.get("accelerator_count", MISSING)
        if bundled and bundled[0] == accelerator:
            raise machine.error("accelerator_count", written, f"{bundled[1]}: {machine_type} comes with {bundled[1]}")
        raise machine.error("accelerator_count", written, f"an integer >= 1 with accelerator_type {accelerator!r}")
    if isinstance(parsed, str):
        close = difflib.get_close_matches(machine_type, known_machine_types(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise machine.error("machine_type", machine_type, f"{parsed}'n1-standard-4'{hint}")
    if parsed.tpus is not None:
        if accelerator and accelerator not in parsed.tpus:
            allowed = " or ".join(parsed.tpus) or "no accelerator_type (the topology sets the chips)"
            raise machine.error("accelerator_type", accelerator, f"{allowed} on {machine_type}")
        return
    if bundled:
        wanted, gpus = bundled
        if not accelerator:
            raise machine.error(
                "accelerator_type",
                machine.data.get("accelerator_type", MISSING),
                f"{wanted} with accelerator_count {gpus}: {machine_type} comes with {gpus} of them",
            )
        if accelerator != wanted:
            raise machine.error(
                "accelerator_type",
                accelerator,
                f"{wanted} on {machine_type} (the GPU it comes with); {accelerator} needs {where_it_runs(accelerator)}",
            )
        if count != gpus:
            raise machine.error("accelerator_count", count, f"{gpus}: {machine_type} comes with {gpus} {wanted}")
        return
    if not accelerator:
        return
    if accelerator not in parsed.attachable:
        takes = f"{', '.join(parsed.attachable)}" if parsed.attachable else "no accelerator"
        raise machine.error(
            "accelerator_type",
            accelerator,
            f"an accelerator {parsed.family} machines take ({takes}); {accelerator} needs {where_it_runs(accelerator)}",
        )
    if count not in parsed.attachable[accelerator]:
        counts = ", ".join(map(str, parsed.attachable[accelerator]))
        raise machine.error("accelerator_count", count, f"one of {counts} ({accelerator} on {parsed.family} machines)")


# -- Cloud Storage ------------------------------------------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
#: bucket names: lower-case letters, digits, ``-``, ``_`` and ``.``, starting and ending with a letter or digit
_BUCKET = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,220}[a-z0-9])?$")
_GCS_SHAPE = "a Cloud Storage URI gs://<bucket>/<path>, the bucket named in lower-case letters, digits, '-', '_' or '.'"


def gcs_uri(args: Args, name: str, *, bare_bucket: bool = False) -> str | None:
    """A ``gs://bucket/...`` URI (None when not given). Its scheme is never rewritten: another is refused.

    :param bare_bucket: a bucket name without ``gs://`` is accepted too, and returned as ``gs://<name>``.
    """
    value = text(args, name, expected=_GCS_SHAPE)
    if value is None:
        return None
    if value.startswith("gs://"):
        bucket = value[len("gs://") :].split("/", 1)[0]
        if not _BUCKET.match(bucket):
            what = "a bucket name after gs://" if not bucket else f"a valid bucket name, not {bucket!r}"
            raise args.error(name, value, f"{_GCS_SHAPE}: {what}")
        return value
    if _SCHEME.match(value) or "://" in value:
        scheme = value.split(":", 1)[0]
        raise args.error(name, value, f"{_GCS_SHAPE}: Vertex reads and writes Cloud Storage only, not {scheme}:")
    if bare_bucket and _BUCKET.match(value.split("/", 1)[0]):
        return f"gs://{value}"
    raise args.error(name, value, f"{_GCS_SHAPE}{' (or a bare bucket name)' if bare_bucket else ''}")


# -- other resource names -----------------------------------------------------------------------------------------

_NETWORK = re.compile(r"^projects/[0-9]+/global/networks/[^/\s]+$")
_TENSORBOARD = re.compile(r"^projects/[^/\s]+/locations/[^/\s]+/tensorboards/[^/\s]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def resource_name(args: Args, name: str, pattern: re.Pattern[str], shape: str) -> str | None:
    value = text(args, name, expected=f"a string: {shape}")
    if value is not None and not pattern.match(value):
        raise args.error(name, value, shape)
    return value


def network(args: Args, name: str = "network") -> str | None:
    return resource_name(args, name, _NETWORK, "a VPC network: projects/<project number>/global/networks/<name>")


def tensorboard(args: Args, name: str = "tensorboard") -> str | None:
    return resource_name(
        args, name, _TENSORBOARD, "a Tensorboard: projects/<project>/locations/<region>/tensorboards/<id>"
    )


def service_account(args: Args, name: str = "service_account") -> str | None:
    return resource_name(args, name, _EMAIL, "a service account email, such as sa@project.iam.gserviceaccount.com")


def check_custom_job(custom_job: dict[str, Any]) -> None:
    """The built CustomJob must make an ``aiplatform_v1.CustomJob``: the last check before anything is submitted."""
    try:
        v1_type("CustomJob")(custom_job)
    except (ValueError, KeyError, TypeError) as err:
        raise ResourceArgsError(
            RESOURCE, "spec", custom_job.get("job_spec"), f"a valid aiplatform_v1.CustomJob ({err})"
        ) from err
