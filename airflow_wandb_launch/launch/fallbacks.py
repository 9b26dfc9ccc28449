"""Fallbacks: where a launch goes next when its job fails for capacity or quota. Pure (but for reading a file).

An operator's ``fallbacks`` is an ordered list; each item is one more *attempt* of the same W&B run, tried when the
one before failed for capacity or quota (the backend's ``fallback_reason``), and is one of:

- a **partial** ``resource_args``: ``{"ResourceConfig": {"InstanceType": "ml.p3.8xlarge"}}``,
  ``{"EnableManagedSpotTraining": False}``. It is merged deeply over the current attempt's ``resource_args`` (the
  operator's, then each fallback's in turn): mappings merge key by key (a key matches however the current config
  spells it, ``ResourceConfig`` or ``resource_config``), anything else (lists too) replaces, and ``None`` removes
  the key. A cloud's folder may fix the merge up (``backends/<cloud>/capacity.py``'s ``after_merge``: SageMaker
  drops ``MaxWaitTimeInSeconds`` when spot is turned off);
- the same with keys of its own (:data:`KEYS`), which stays on the current resource: ``resource_args`` (the
  partial), the resource's connection arguments (``{"region_name": "us-west-2"}``, merged over the current ones),
  ``hardware`` (below);
- a **whole other resource**: ``{"resource": "vertex", "resource_args": {...} or "vertex.yaml", "region": ...}``.
  Its ``resource_args`` replace the current ones (a dict, or a YAML/JSON file relative to the DAG file; omitted:
  ``{}``, or the current ones when the resource is the current one) and its connection arguments are its own
  (the current ones, updated, when it is the current resource).

``hardware`` (``"1x V100"``, ``"8x A100-40GB"``; with ``count``, machines, default 1, and ``spot``, default False)
names machines instead of a machine type: the equivalent-hardware table (``cost.hardware``) writes the resource's
offering into the attempt's ``resource_args``, after any partial (``"1x A100"``, no memory named, is whichever A100
the resource has). A request the resource has no equivalent for fails when the DAG is parsed.

Every attempt but the last must be on a resource whose backend classifies capacity failures (its
``fallback_reason``), and none may run on the worker (local resources). :func:`parse_fallbacks` checks all of this
when the DAG is parsed; :func:`plan_attempt` computes an attempt's resource, connection and ``resource_args``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import check_limits, suggest
from airflow_wandb_launch.launch.run import RUN_ID_LENGTH

#: a fallback's own keys (any other key is a connection argument of its resource, or makes it a bare partial).
KEYS = ("resource", "resource_args", "hardware", "count", "spot")
#: the ``airflow_ids`` key (and so the SageMaker tag ``AirflowAttempt``, the Vertex/Azure label ``airflow-attempt``)
#: an attempt after the first carries.
ATTEMPT_ID = "attempt"
#: a cloud job name's length limit (Vertex display names and SageMaker names alike: 63).
MAX_JOB_NAME = 63

#: loads a resource's ``resource_args`` value (dict, file or text) as a fresh dict: ``load(resource, value)``.
Loader = Callable[[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class Fallback:
    """One parsed item of ``fallbacks``.

    :param index: its position in ``fallbacks`` (its attempt is ``index + 1``).
    :param resource: the resource it moves to (None: stays on the current attempt's).
    :param resource_args: the whole config (with ``resource``) or the partial merged over the current one.
    :param connection_args: connection arguments for its resource.
    :param hardware: a hardware request (``cost.hardware``), canonical.
    :param count: machines for ``hardware``.
    :param spot: spot capacity for ``hardware``.
    """

    index: int
    resource: str | None = None
    resource_args: Any = None
    connection_args: Mapping[str, Any] = field(default_factory=dict)
    hardware: str | None = None
    count: int = 1
    spot: bool = False

    @property
    def path(self) -> str:
        return f"fallbacks[{self.index}]"

    def describe(self) -> str:
        """How log lines name it: ``vertex``, ``hardware 1x V100``, ``resource_args {...}``."""
        parts = [self.resource] if self.resource else []
        if self.hardware:
            machines = f" on {self.count} machines" if self.count > 1 else ""
            parts.append(f"hardware {self.hardware}{machines}{' (spot)' if self.spot else ''}")
        if self.connection_args:
            parts.append(", ".join(f"{k}={v!r}" for k, v in self.connection_args.items()))
        if self.resource_args is not None and not self.resource:
            parts.append(f"resource_args {self.resource_args!r}"[:160])
        return "; ".join(parts) or "the same config"


@dataclass(frozen=True)
class Attempt:
    """What one attempt launches.

    :param index: 0 for the operator's own resource and config, n for the n-th fallback.
    :param resource: its resource.
    :param connection_args: its backend's connection arguments.
    :param resource_args: its config: the operator's value as given for attempt 0 (a dict, a file or text), a dict
        after.
    """

    index: int
    resource: str
    connection_args: dict[str, Any]
    resource_args: Any


def parse_fallbacks(
    resource: str, fallbacks: Sequence[Mapping[str, Any]] | None, *, who: str | None = None
) -> tuple[Fallback, ...]:
    """Check ``fallbacks`` when the DAG is parsed and return them parsed.

    :param resource: the operator's resource (canonical).
    :param fallbacks: the operator's argument.
    :param who: the resource named in errors (default ``resource``).
    :raises ResourceArgsError: naming ``fallbacks[i]...``, the value and what was expected.
    """
    from airflow_wandb_launch.backends import Backend, backend_class, canonical_resource, foreign_connection_arg

    who = who or resource
    if fallbacks is None:
        return ()
    if isinstance(fallbacks, str | bytes | Mapping) or not isinstance(fallbacks, Sequence):
        raise ResourceArgsError(who, "fallbacks", fallbacks, "a list of dicts, one per fallback, in order")
    parsed: list[Fallback] = []
    current = resource
    for index, item in enumerate(fallbacks):
        path = f"fallbacks[{index}]"
        if not isinstance(item, Mapping) or not item:
            expected = f"a non-empty dict: a partial resource_args, or keys of {list(KEYS)}"
            raise ResourceArgsError(who, path, item, expected)
        if backend_class(current).fallback_reason is Backend.fallback_reason:
            expected = f"no fallback: {current} reports no capacity or quota failure to fall back on"
            raise ResourceArgsError(who, path, item, expected)
        target = current
        if "resource" in item:
            try:
                target = canonical_resource(str(item["resource"]))
            except ResourceArgsError as err:
                raise ResourceArgsError(who, f"{path}.resource", item["resource"], err.expected) from None
        target_class = backend_class(target)
        if target_class.runs_on_worker:
            expected = "a cloud resource: a local one runs on the worker, with nothing to fall back to"
            raise ResourceArgsError(who, f"{path}.resource", target, expected)
        params = {k for k in target_class.connection_params if k != "wandb_conn_id"}
        own = [k for k in item if k in KEYS or k in params]
        if not own:  # a bare partial resource_args
            parsed.append(Fallback(index, resource_args=_checked_args(who, path, dict(item), partial=True)))
            continue
        for key in item:
            if key not in KEYS and key not in params:
                other = foreign_connection_arg(target, str(key))
                if other:
                    expected = f"a key of {list(KEYS)} or a connection argument of {target} ({key} is {other}'s)"
                else:
                    close = suggest(str(key), [*KEYS, *params])
                    hint = f" (did you mean {close!r}?)" if close else ""
                    expected = (
                        f"a key of {list(KEYS)} or a connection argument of {target} {sorted(params)}{hint}; "
                        "put a partial config's keys under 'resource_args'"
                    )
                raise ResourceArgsError(who, f"{path}.{key}", item[key], expected)
        whole = "resource" in item
        args = item.get("resource_args")
        if args is not None:
            args = _checked_args(who, f"{path}.resource_args", args, partial=not whole)
        hardware, count, spot = _hardware(who, path, target, item)
        parsed.append(
            Fallback(
                index,
                resource=target if whole else None,
                resource_args=args,
                connection_args={k: item[k] for k in item if k in params},
                hardware=hardware,
                count=count,
                spot=spot,
            )
        )
        current = target
    return tuple(parsed)


def _checked_args(who: str, path: str, value: Any, *, partial: bool) -> Any:
    if isinstance(value, Mapping):
        check_limits(value, resource=who)
        return copy.deepcopy(dict(value))
    if not partial and isinstance(value, str | os.PathLike):
        return value  # a file (or YAML text), read at execute time like the operator's own
    expected = "a dict (the keys to change)" if partial else "a dict, or a YAML/JSON file path"
    raise ResourceArgsError(who, path, value, expected)


def _hardware(who: str, path: str, resource: str, item: Mapping[str, Any]) -> tuple[str | None, int, bool]:
    from airflow_wandb_launch.cost.hardware import HardwareRequestError, NoEquivalentHardware, offering, parse_request

    hardware, count, spot = item.get("hardware"), item.get("count", 1), item.get("spot", False)
    if hardware is None:
        for key in ("count", "spot"):
            if key in item:
                raise ResourceArgsError(who, f"{path}.{key}", item[key], "nothing without 'hardware'")
        return None, 1, False
    try:
        request = parse_request(hardware)
        offering(resource, request)
    except (HardwareRequestError, NoEquivalentHardware, ValueError) as err:
        raise ResourceArgsError(who, f"{path}.hardware", hardware, f"hardware {resource} offers ({err})") from None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ResourceArgsError(who, f"{path}.count", count, "a number of machines, an integer >= 1")
    if not isinstance(spot, bool):
        raise ResourceArgsError(who, f"{path}.spot", spot, "true or false")
    return request, count, spot


def attempt_target(
    index: int, resource: str, connection_args: Mapping[str, Any], fallbacks: Sequence[Fallback]
) -> tuple[str, dict[str, Any]]:
    """Attempt ``index``'s resource and connection arguments (without reading any ``resource_args``)."""
    current, conn = resource, dict(connection_args)
    for fallback in fallbacks[:index]:
        current, conn = _target(current, conn, fallback)
    return current, conn


def _target(current: str, conn: dict[str, Any], fallback: Fallback) -> tuple[str, dict[str, Any]]:
    target = fallback.resource or current
    if target == current:
        return target, {**conn, **fallback.connection_args}
    return target, dict(fallback.connection_args)


def plan_attempt(
    index: int,
    *,
    resource: str,
    connection_args: Mapping[str, Any],
    resource_args: Any,
    fallbacks: Sequence[Fallback],
    load: Loader,
) -> Attempt:
    """Attempt ``index``: the operator's own for 0, else each fallback up to the ``index``-th applied in turn.

    :param resource: the operator's resource.
    :param connection_args: its connection arguments.
    :param resource_args: its ``resource_args`` (rendered).
    :param fallbacks: the parsed fallbacks.
    :param load: reads a ``resource_args`` value for a resource (a ``{resource: ...}`` wrapper unwrapped).
    :raises ResourceArgsError: for an index past the fallbacks, a config that does not load, or hardware the
        config cannot take.
    """
    if not 0 <= index <= len(fallbacks):
        raise ResourceArgsError(resource, "fallbacks", index, f"an attempt of 0..{len(fallbacks)}")
    attempt = Attempt(0, resource, dict(connection_args), resource_args)
    for fallback in fallbacks[:index]:
        attempt = next_attempt(attempt, fallback, load)
    return attempt


def next_attempt(current: Attempt, fallback: Fallback, load: Loader) -> Attempt:
    """The attempt ``fallback`` makes after ``current``."""
    from airflow_wandb_launch.backends import resource_module
    from airflow_wandb_launch.cost.hardware import resource_args_for

    target, conn = _target(current.resource, current.connection_args, fallback)
    if fallback.resource is None:  # a partial over the current config
        args = load(target, current.resource_args)
        if fallback.resource_args is not None:
            partial = load(target, fallback.resource_args)
            args = deep_merge(args, partial)
            fixup = getattr(resource_module(target, "capacity"), "after_merge", None)
            if fixup is not None:
                fixup(args, partial)
    elif fallback.resource_args is not None:
        args = load(target, fallback.resource_args)
    else:
        args = load(target, current.resource_args) if target == current.resource else {}
    if fallback.hardware:
        try:
            args = resource_args_for(target, fallback.hardware, args, count=fallback.count, spot=fallback.spot)
        except (LookupError, ValueError) as err:
            raise ResourceArgsError(target, f"{fallback.path}.hardware", fallback.hardware, str(err)) from None
    return Attempt(current.index + 1, target, conn, args)


def deep_merge(base: Mapping[str, Any], partial: Mapping[str, Any]) -> dict[str, Any]:
    """``partial`` over ``base``, recursively, as a new dict: mappings merge, anything else replaces, None removes.

    A key of ``partial`` the base spells differently (``resource_config`` for ``ResourceConfig``) updates the base's.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in partial.items():
        existing = _spelled(merged, key)
        if value is None:
            merged.pop(existing, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(existing), Mapping):
            merged[existing] = deep_merge(merged[existing], value)
        else:
            merged[existing] = copy.deepcopy(value)
    return merged


def _spelled(mapping: Mapping[str, Any], key: Any) -> Any:
    """The key of ``mapping`` that is ``key``: itself, else the one key spelt alike but for case and underscores."""
    if key in mapping or not isinstance(key, str):
        return key
    folded = key.replace("_", "").lower()
    alike = [k for k in mapping if isinstance(k, str) and k.replace("_", "").lower() == folded]
    return alike[0] if len(alike) == 1 else key


@dataclass(frozen=True)
class AttemptRequest(LaunchRequest):
    """A launch request of a fallback's attempt: its cloud job name is the first attempt's with ``-a<n>``.

    The W&B run is the same for every attempt (so is ``WANDB_RUN_ID``): the name (SageMaker's and Azure ML's job
    name, Vertex's display name) must differ for the cloud to take a second job of the run.
    """

    attempt: int = 0

    @property
    def job_name(self) -> str:
        return attempt_job_name(super().job_name, self.attempt)


def attempt_job_name(name: str, attempt: int) -> str:
    """``name`` (``<stem>-<run id>``) with ``-a<attempt>`` (none for attempt 0), the stem cut to stay within 63."""
    if not attempt:
        return name
    suffix = f"-a{attempt}"
    if len(name) + len(suffix) > MAX_JOB_NAME:
        stem, run_id = name[: -RUN_ID_LENGTH - 1], name[-RUN_ID_LENGTH:]
        stem = stem[: MAX_JOB_NAME - RUN_ID_LENGTH - 1 - len(suffix)].rstrip("-")
        name = f"{stem}-{run_id}"
    return f"{name}{suffix}"


def attempt_request(request: LaunchRequest, attempt: int) -> LaunchRequest:
    """``request`` for attempt ``attempt``: unchanged for 0, else named ``-a<n>`` and tagged ``attempt: n``."""
    if not attempt:
        return request
    ids = {**request.airflow_ids, ATTEMPT_ID: str(attempt)}
    fields = {f: getattr(request, f) for f in LaunchRequest.__dataclass_fields__}
    return AttemptRequest(**{**fields, "airflow_ids": ids}, attempt=attempt)


__all__ = [
    "KEYS",
    "Attempt",
    "AttemptRequest",
    "Fallback",
    "attempt_job_name",
    "attempt_request",
    "attempt_target",
    "deep_merge",
    "next_attempt",
    "parse_fallbacks",
    "plan_attempt",
]
