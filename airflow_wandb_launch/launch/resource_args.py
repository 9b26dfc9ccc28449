"""Loading ``resource_args`` (a dict, or a YAML/JSON file) and small typed accessors for validation."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from airflow_wandb_launch.errors import MISSING, ResourceArgsError

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
_MACRO = re.compile(r"\$\{(\w+)\}")


def load_resource_args(
    value: Mapping[str, Any] | str | os.PathLike | None,
    *,
    resource: str,
    resource_names: tuple[str, ...] = (),
    base_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Return ``resource_args`` as a fresh dict.

    :param value: a dict, a path to a YAML/JSON file (relative paths resolve against ``base_dir``,
        the DAG file's folder), or YAML text.
    :param resource: the resource name, for error messages.
    :param resource_names: names under which a W&B Launch ``resource_args`` may nest the config
        (``{"sagemaker": {...}}``); such a single-key wrapper is unwrapped.
    :param base_dir: folder relative paths resolve against.
    """
    if value is None:
        loaded: Any = {}
    elif isinstance(value, Mapping):
        loaded = copy.deepcopy(dict(value))
    elif isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip().endswith(CONFIG_SUFFIXES)):
        loaded = _load_file(Path(value), resource=resource, base_dir=base_dir)
    elif isinstance(value, str):
        loaded = yaml.safe_load(value) or {}
    else:
        raise ResourceArgsError(resource, "resource_args", value, "a dict or a path to a YAML/JSON file")
    if not isinstance(loaded, dict):
        raise ResourceArgsError(resource, "resource_args", loaded, "a mapping at the top level")
    if len(loaded) == 1 and next(iter(loaded)) in resource_names:
        loaded = next(iter(loaded.values())) or {}
        if not isinstance(loaded, dict):
            raise ResourceArgsError(resource, f"resource_args.{resource}", loaded, "a mapping")
    return loaded


def _load_file(path: Path, *, resource: str, base_dir: str | os.PathLike | None) -> Any:
    path = path.expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    try:
        text = path.read_text()
    except OSError as err:
        raise ResourceArgsError(resource, "resource_args", str(path), f"a readable YAML/JSON file ({err})") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ResourceArgsError(resource, "resource_args", str(path), f"valid YAML/JSON ({err})") from None


def fill_macros(value: Any, macros: Mapping[str, str]) -> Any:
    """Replace W&B Launch macros such as ``${image_uri}`` in every string of ``value`` (unknown ones stay)."""
    if isinstance(value, str):
        return _MACRO.sub(lambda m: str(macros.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [fill_macros(v, macros) for v in value]
    if isinstance(value, dict):
        return {k: fill_macros(v, macros) for k, v in value.items()}
    return value


class Args:
    """Typed reads from a nested mapping that raise ``ResourceArgsError`` naming the key path."""

    def __init__(self, resource: str, data: Mapping[str, Any], path: str = "") -> None:
        self.resource, self.data, self.path = resource, data, path

    def key(self, name: str | int) -> str:
        if isinstance(name, int):
            return f"{self.path}[{name}]"
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str | int, value: Any, expected: str) -> ResourceArgsError:
        return ResourceArgsError(self.resource, self.key(name), value, expected)

    def get(self, name: str, kind: type | tuple[type, ...], *, required: bool = False, default: Any = None) -> Any:
        value = self.data.get(name, MISSING)
        if value is MISSING or value is None:
            if required:
                raise self.error(name, MISSING, _kind_name(kind))
            return default
        if not _is_kind(value, kind):
            raise self.error(name, value, _kind_name(kind))
        return value

    def positive_int(self, name: str, *, required: bool = False, minimum: int = 1) -> int | None:
        value = self.get(name, int, required=required)
        if value is not None and value < minimum:
            raise self.error(name, value, f"an integer >= {minimum}")
        return value

    def child(self, name: str, *, required: bool = False) -> Args:
        return Args(self.resource, self.get(name, dict, required=required, default={}), self.key(name))

    def items(self, name: str, *, required: bool = False) -> list[Args]:
        values = self.get(name, list, required=required, default=[])
        children = []
        for i, item in enumerate(values):
            if not isinstance(item, dict):
                raise ResourceArgsError(self.resource, f"{self.key(name)}[{i}]", item, "a mapping")
            children.append(Args(self.resource, item, f"{self.key(name)}[{i}]"))
        return children

    def only(self, allowed: set[str] | frozenset[str]) -> None:
        """Reject keys outside ``allowed``, suggesting the closest known one."""
        import difflib

        for name in self.data:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.error(name, self.data[name], f"one of the known keys {sorted(allowed)}{hint}")


def _is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False  # True is an int in Python, never in a config
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, kinds)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        dict: "a mapping",
        list: "a list",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)
