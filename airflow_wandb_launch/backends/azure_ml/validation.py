"""What an Azure ML command job may hold: azure-ai-ml's own job schema, and the VM sizes serverless compute runs.

**The job schema.** ``azure.ai.ml.command()`` keyword arguments are the fields of a command job YAML, some under
another parent (``instance_type`` is ``resources.instance_type``, ``timeout`` is ``limits.timeout``). The built
keyword arguments are written as that YAML and loaded offline with azure-ai-ml's ``CommandJobSchema`` (the
marshmallow schema ``load_job`` uses), the last check before anything is submitted: an unknown key, a value of the
wrong type or an unknown enum value (a job tier, a distribution type) is reported with marshmallow's message, at
the key path as the user wrote it (``queue_settings.job_tier``, ``distribution.worker_count``, ``instance_count``).
The schema is built once. ``azure-ai-ml`` exposes the schema only from a private module
(``azure.ai.ml._schema.job.command_job``, checked against 1.35.2): if a release moves it, this check is skipped
(the hand-written checks in ``request`` still run) rather than failing every build.

**VM sizes.** azure-ai-ml knows no VM sizes (a size is a plain string to it; azure-mgmt-compute's
``VirtualMachineSizeTypes`` is a deprecated 2017 list without any current GPU size). An ``instance_type`` must have
the shape of Azure's naming convention (learn.microsoft.com/azure/virtual-machines/vm-naming-conventions):
``Standard_`` + family (capitals) + vCPUs + [``-``constrained vCPUs] + additive features (lower case) +
[``_``accelerator] + [``_v``version], with a family from this repo's hardware and price tables or Azure's documented
VM series (learn.microsoft.com/azure/virtual-machines/sizes/overview).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import logging
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from airflow_wandb_launch.backends.azure_ml import EXTRA, RESOURCE
from airflow_wandb_launch.errors import MISSING, MissingExtraError, ResourceArgsError

log = logging.getLogger(__name__)


# -- VM sizes ------------------------------------------------------------------------------------------------------

#: Azure's VM series families (the capitals of a size name), by type, as Azure's size overview lists them
DOCUMENTED_FAMILIES: dict[str, tuple[str, ...]] = {
    "general purpose": ("A", "B", "D", "DC", "DS"),
    "compute optimized": ("F", "FS", "FX"),
    "memory optimized": ("E", "EC", "G", "GS", "M"),
    "storage optimized": ("L", "LS"),
    "GPU": ("NC", "NCC", "ND", "NG", "NV"),
    "FPGA": ("NP",),
    "high performance compute": ("H", "HB", "HC", "HX"),
}
_SIZE = re.compile(
    r"^Standard_(?P<family>[A-Za-z]+)(?P<vcpus>[0-9]+)(?:-[0-9]+)?(?P<features>[A-Za-z]*)(?P<rest>(?:_[A-Za-z0-9]+)*)$",
    re.IGNORECASE,
)
_SIZE_SHAPE = (
    "an Azure VM size: Standard_<family><vCPUs><features>[_<accelerator>][_v<version>] "
    "(Azure's naming convention), such as 'Standard_NC6s_v3'"
)


def _repo_sizes() -> list[str]:
    """The VM sizes this repo's hardware and price tables name."""
    from airflow_wandb_launch.backends.azure_ml import hardware, pricing

    text = " ".join(
        [
            *(offering.name for offering in hardware.OFFERINGS.values()),
            *(" ".join((gap.reason, *gap.closest)) for gap in hardware.GAPS.values()),
            *pricing.PRICE_LIST.us,
        ]
    )
    return sorted(set(re.findall(r"\bStandard_[A-Za-z0-9_]+", text)))


@functools.cache
def known_sizes() -> tuple[str, ...]:
    """Sizes to suggest from: the repo's tables, and a common size of each documented family."""
    common = ("Standard_DS3_v2", "Standard_D4s_v5", "Standard_E8s_v5", "Standard_F8s_v2", "Standard_NC6s_v3")
    return tuple(sorted({*_repo_sizes(), *common}))


@functools.cache
def known_families() -> tuple[str, ...]:
    """The families of the repo's sizes and Azure's documented ones."""
    families = {f for group in DOCUMENTED_FAMILIES.values() for f in group}
    for size in _repo_sizes():
        match = _SIZE.match(size)
        if match:
            families.add(match["family"].upper())
    return tuple(sorted(families))


def check_instance_type(value: str) -> str | None:
    """What is wrong with a VM size (None: nothing)."""
    close = difflib.get_close_matches(value, known_sizes(), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    match = _SIZE.match(value)
    if not match:
        return f"{_SIZE_SHAPE}{hint}"
    family = match["family"].upper()
    if family not in known_families():
        near = difflib.get_close_matches(family, known_families(), n=1)
        hint = f"; did you mean the {near[0]} family?" if near and not close else hint
        return f"a VM size of a known family ({', '.join(known_families())}), not {match['family']!r}{hint}"
    return None


# -- azure-ai-ml's job schema ----------------------------------------------------------------------------------

#: ``command()`` keyword -> its place in the job YAML (the others keep their names)
YAML_PATHS: dict[str, tuple[str, ...]] = {
    "instance_type": ("resources", "instance_type"),
    "instance_count": ("resources", "instance_count"),
    "shm_size": ("resources", "shm_size"),
    "docker_args": ("resources", "docker_args"),
    "locations": ("resources", "locations"),
    "timeout": ("limits", "timeout"),
    "job_tier": ("queue_settings", "job_tier"),
    "priority": ("queue_settings", "priority"),
}
_NOT_IN_SET = re.compile(r"passed is not in set \[(.*)\]")


@functools.cache
def command_job_schema() -> Any:
    """azure-ai-ml's ``CommandJobSchema``, built once (None if this azure-ai-ml has it elsewhere)."""
    try:
        with _quiet_experimental():
            import azure.ai.ml  # noqa: F401
    except ImportError as err:
        raise MissingExtraError(RESOURCE, EXTRA, err) from err
    try:
        with _quiet_experimental():
            from azure.ai.ml._schema.job.command_job import CommandJobSchema
            from azure.ai.ml.constants._common import BASE_PATH_CONTEXT_KEY

            return CommandJobSchema(context={BASE_PATH_CONTEXT_KEY: Path(".")})
    except ImportError as err:
        log.warning("azure-ai-ml's CommandJobSchema was not found (%s): command jobs are not checked by it", err)
        return None


#: the loggers of azure-ai-ml's "experimental" notices (classes, and schema fields)
_EXPERIMENTAL_LOGGERS = ("azure.ai.ml._utils._experimental", "azure.ai.ml._schema.core.fields")


@contextlib.contextmanager
def _quiet_experimental() -> Iterator[None]:
    """azure-ai-ml logs "This is an experimental field" for queue_settings and distribution, and marshmallow warns
    of its own use of deprecated marshmallow features: neither is the user's news."""
    loggers = [logging.getLogger(name) for name in _EXPERIMENTAL_LOGGERS]
    were = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(marshmallow|azure)(\.|$)")  # deprecations, at import too
            yield
    finally:
        for logger, was in zip(loggers, were, strict=True):
            logger.disabled = was


def job_yaml(kwargs: Mapping[str, Any], image: str) -> dict[str, Any]:
    """``command()`` keyword arguments (and the image) as a command job YAML document."""
    doc: dict[str, Any] = {"type": "command", "environment": {"image": image}}
    for key, value in kwargs.items():
        *parents, leaf = YAML_PATHS.get(key, (key,))
        node = doc
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return doc


def check_with_sdk(resource_args: Mapping[str, Any], kwargs: Mapping[str, Any], image: str) -> None:
    """Load the command job azure-ai-ml would submit with its own schema; raise ``ResourceArgsError`` if it refuses.

    :param resource_args: the config as written (for the key paths and values in messages).
    :param kwargs: the built ``command()`` keyword arguments.
    :param image: the job's image.
    """
    schema = command_job_schema()
    if schema is None:
        return
    from marshmallow import ValidationError

    doc = job_yaml(kwargs, image)
    try:
        with _quiet_experimental():
            schema.load(doc)
    except ValidationError as err:  # a refusal, with the path of each field refused
        parts, message = first_error(err.messages)
        key_path, value = written_path(parts, resource_args, doc)
        if "Unknown field" in message:
            expected = f"one of the keys azure-ai-ml's command job schema knows there{_suggest_key(schema, parts, doc)}"
        else:
            expected = f"{_plain(message)} (azure-ai-ml's command job schema: {message})"
        raise ResourceArgsError(RESOURCE, key_path, value, expected) from None
    except Exception as err:  # the loader itself failed on this input: not a refusal, and submit does not use it
        log.warning("azure-ai-ml's command job schema could not check this job (%s: %s)", type(err).__name__, err)


#: marshmallow's messages -> what they expect, as the other messages say it
_PLAIN = {
    "Not a valid integer.": "an integer",
    "Not a valid string.": "a string",
    "Not a valid boolean.": "true or false",
    "Not a valid mapping type.": "a mapping",
    "Not a valid list.": "a list",
    "Not a valid number.": "a number",
    "Field may not be null.": "a value",
    "Missing data for required field.": "a value",
}


def _plain(message: str) -> str:
    if message in _PLAIN:
        return _PLAIN[message]
    allowed = _NOT_IN_SET.search(message)
    if allowed:
        values = [v.strip(" '\"") for v in allowed[1].split(",")]
        return f"one of {[v for v in values if v != 'null']}"
    return "a valid value"


def first_error(messages: Any, parts: tuple[str | int, ...] = ()) -> tuple[tuple[str | int, ...], str]:
    """marshmallow's error messages -> (the path of the first error, its message).

    A union field (``distribution``, ``identity``) reports one error set per schema it tried: the set of the
    schema whose ``type`` matched is the user's error; if none matched, ``type`` is, with every allowed value.
    """
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                return parts, _joined(value)
            if isinstance(value, dict) and value and set(value) <= {"key", "value"}:  # a Dict field's entry
                return (*parts, key), _joined(next(iter(value.values())))
            return first_error(value, (*parts, key))
        return parts, "invalid"
    if isinstance(messages, list):
        tried = [m for m in messages if isinstance(m, dict)]
        if not tried:
            return parts, _joined(messages)
        matched = [m for m in tried if "type" not in m]
        if matched:
            return first_error(matched[0], parts)
        allowed = [v for m in tried for v in _NOT_IN_SET.findall(_joined(m.get("type")))]
        if allowed:
            return (*parts, "type"), f"Value passed is not in set [{', '.join(allowed)}]"
        return first_error(tried[0], parts)
    return parts, str(messages)


def _joined(messages: Any) -> str:
    if isinstance(messages, list):
        return " ".join(_joined(m) for m in messages)
    if isinstance(messages, dict):
        return " ".join(f"{k}: {_joined(v)}" for k, v in messages.items())
    return str(messages)


def written_path(
    parts: tuple[str | int, ...], resource_args: Mapping[str, Any], doc: Mapping[str, Any]
) -> tuple[str, Any]:
    """A job YAML path as the user wrote it (``resources.instance_count`` -> ``instance_count``), and its value."""
    user: tuple[str | int, ...] = parts
    if parts and parts[0] == "environment":
        return "image", _value_at(doc, parts)
    for key, yaml_path in YAML_PATHS.items():
        if parts[: len(yaml_path)] == yaml_path:
            nested = key in ("job_tier", "priority") and key in (resource_args.get("queue_settings") or {})
            user = parts if nested else (key, *parts[len(yaml_path) :])
            break
    written = _value_at(resource_args, user)
    return format_path(user), (_value_at(doc, parts) if written is MISSING else written)


def _value_at(data: Any, parts: Iterable[str | int]) -> Any:
    for part in parts:
        found = isinstance(data, Mapping) and part in data
        found = found or (isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data))
        if not found:
            return MISSING
        data = data[part]
    return data


def format_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _suggest_key(schema: Any, parts: tuple[str | int, ...], doc: Mapping[str, Any]) -> str:
    """``; did you mean 'x'?`` from the fields azure-ai-ml's schema has beside an unknown key."""
    known = sorted(schema_keys(schema, parts[:-1], doc))
    close = difflib.get_close_matches(str(parts[-1]), known, n=1) if parts else []
    return f" {known}; did you mean {close[0]!r}?" if close else f" {known}"


def schema_keys(schema: Any, parts: Iterable[str | int], doc: Mapping[str, Any]) -> set[str]:
    """The keys azure-ai-ml's schema accepts at a path of ``doc`` (of a union field: its member's whose ``type``
    is the one ``doc`` gives)."""
    schemas, node = [schema], doc
    for part in parts:
        node = _value_at(node, (part,))
        kind = node.get("type") if isinstance(node, Mapping) else None
        schemas = [n for s in schemas for n in _nested_schemas(s.fields.get(part)) if _takes_type(n, kind)]
    return {name for s in schemas for name, f in s.fields.items() if not f.dump_only}


def _takes_type(schema: Any, kind: Any) -> bool:
    allowed = getattr(schema.fields.get("type"), "allowed_values", None)
    return not isinstance(kind, str) or allowed is None or kind.lower() in [str(a).lower() for a in allowed]


def _nested_schemas(field: Any) -> list[Any]:
    if field is None:
        return []
    union = getattr(field, "_union_fields", None)
    if union is not None:
        return [s for member in union for s in _nested_schemas(member)]
    inner = getattr(field, "experimental_field", None)
    if inner is not None:
        return _nested_schemas(inner)
    nested = getattr(field, "schema", None)
    return [nested] if nested is not None and hasattr(nested, "fields") else []
