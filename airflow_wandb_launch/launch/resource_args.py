"""Loading ``resource_args`` (a dict, or a YAML/JSON file or text) and small typed accessors for validation.

Shared by every backend: an empty string counts as missing, unparsable YAML names the line, nesting and size
are bounded (no RecursionError), and :class:`KeySpelling` reports key paths as the user wrote them when a
backend renames keys (SageMaker's snake_case -> CamelCase).
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from airflow_wandb_launch.errors import MISSING, ResourceArgsError, is_secret_key

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
_MACRO = re.compile(r"\$\{(\w+)\}")
#: levels of nesting a config may have (SageMaker's deepest key is 6 levels down).
MAX_DEPTH = 32
#: keys and list items a config may hold in all.
MAX_ITEMS = 100_000
#: characters of YAML/JSON text (inline or in a file).
MAX_TEXT = 1_000_000

KeyPath = tuple[str | int, ...]


def load_resource_args(
    value: Mapping[str, Any] | str | os.PathLike | None,
    *,
    resource: str,
    resource_names: tuple[str, ...] = (),
    base_dir: str | os.PathLike | None = None,
    max_depth: int = MAX_DEPTH,
    max_items: int = MAX_ITEMS,
) -> dict[str, Any]:
    """Return ``resource_args`` as a fresh dict.

    :param value: a dict, a path to a YAML/JSON file (relative paths resolve against ``base_dir``,
        the DAG file's folder), or YAML text.
    :param resource: the resource name, for error messages.
    :param resource_names: names under which a W&B Launch ``resource_args`` may nest the config
        (``{"sagemaker": {...}}``); such a single-key wrapper is unwrapped.
    :param base_dir: folder relative paths resolve against.
    :param max_depth: levels of nesting allowed.
    :param max_items: keys and list items allowed in all.
    """
    if value is None:
        loaded: Any = {}
    elif isinstance(value, Mapping):
        check_limits(value, resource=resource, max_depth=max_depth, max_items=max_items)
        loaded = copy.deepcopy(dict(value))
    elif isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip().endswith(CONFIG_SUFFIXES)):
        loaded = _load_file(Path(value), resource=resource, base_dir=base_dir)
    elif isinstance(value, str):
        loaded = parse_text(value, resource=resource)
    else:
        raise ResourceArgsError(resource, "resource_args", value, "a dict or a path to a YAML/JSON file")
    if not isinstance(value, Mapping):
        check_limits(loaded, resource=resource, max_depth=max_depth, max_items=max_items)
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
        if path.stat().st_size > MAX_TEXT:
            raise ResourceArgsError(resource, "resource_args", str(path), f"a file of at most {MAX_TEXT} bytes")
        text = path.read_text()
    except OSError as err:
        raise ResourceArgsError(resource, "resource_args", str(path), f"a readable YAML/JSON file ({err})") from None
    return parse_text(text, resource=resource, source=str(path))


def parse_text(text: str, *, resource: str, source: str | None = None) -> Any:
    """YAML/JSON text -> data (``{}`` when empty). A syntax error names ``resource_args``, the line and the column.

    :param source: the file the text came from, named in errors.
    """
    where = f"{source}, " if source else ""
    if len(text) > MAX_TEXT:
        expected = f"YAML/JSON of at most {MAX_TEXT} characters"
        raise ResourceArgsError(resource, "resource_args", source or text, expected)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader) or {}  # a SafeLoader
    except yaml.MarkedYAMLError as err:
        line, expected = _yaml_problem(err, text)
        raise ResourceArgsError(resource, "resource_args", line, f"valid YAML/JSON ({where}{expected})") from None
    except yaml.YAMLError as err:
        raise ResourceArgsError(resource, "resource_args", source or text, f"valid YAML/JSON ({err})") from None
    except RecursionError:
        raise ResourceArgsError(
            resource, "resource_args", source or text, f"YAML/JSON nested at most {MAX_DEPTH} levels deep"
        ) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a key written twice in one mapping (YAML keeps the last one silently).

    Keys a merge (``<<: *base``) brings in may be overridden: only the keys written in the mapping count.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key_node.value!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(err: yaml.MarkedYAMLError, text: str) -> tuple[str, str]:
    """The offending line's text (a secret's value masked), and where and what the problem is."""
    lines = text.splitlines()
    mark = err.problem_mark or err.context_mark
    if mark is None:
        return "", str(err.problem or err)
    number = mark.line
    if (number >= len(lines) or not lines[number].strip()) and err.context_mark is not None:
        number = err.context_mark.line  # a problem at the end of the text: show where the open construct began
    line = lines[number] if number < len(lines) else ""
    expected = f"{err.problem} at line {mark.line + 1}, column {mark.column + 1}"
    if err.context and err.context_mark is not None:
        expected += f", {err.context} at line {err.context_mark.line + 1}"
    return _mask_line(line), expected


def _mask_line(line: str) -> str:
    key, sep, _ = line.partition(":")
    return f"{key}{sep} <masked>" if sep and is_secret_key(key.strip().strip("\"'- ")) else line


def check_limits(
    value: Any,
    *,
    resource: str,
    max_depth: int = MAX_DEPTH,
    max_items: int = MAX_ITEMS,
    spelling: KeySpelling | None = None,
) -> None:
    """Raise ``ResourceArgsError`` if ``value`` nests deeper than ``max_depth`` levels or holds more than
    ``max_items`` keys and items. Iterative: safe for any depth, a self-referencing value, and YAML aliases."""
    stack: list[tuple[Any, KeyPath]] = [(value, ())]
    count = 0
    while stack:
        item, parts = stack.pop()
        if isinstance(item, Mapping):
            children: Iterable[tuple[Any, Any]] = item.items()
        elif isinstance(item, list | tuple):
            children = enumerate(item)
        else:
            continue
        if len(parts) >= max_depth:
            path = format_path(parts) if spelling is None else spelling.path(parts)
            raise ResourceArgsError(resource, path, item, f"at most {max_depth} levels of nesting")
        count += len(item)
        if count > max_items:
            path = format_path(parts) or "resource_args"
            raise ResourceArgsError(resource, path, item, f"at most {max_items} keys and list items in all")
        pushed = [(child, (*parts, key if isinstance(key, int | str) else str(key))) for key, child in children]
        stack.extend(reversed(pushed))  # popped in document order: the first offending path is named


def format_path(parts: Iterable[str | int]) -> str:
    """``("a", 0, "b")`` -> ``a[0].b``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def is_blank(value: Any) -> bool:
    """None, or a string of only whitespace: a missing value."""
    return value is None or (isinstance(value, str) and not value.strip())


class KeySpelling:
    """The key paths of a renamed config as the user wrote them.

    ``rename_keys`` builds it: ``names[parent][renamed] = written`` for every mapping key. A key the user did
    not write (a missing one, or a suggestion) is spelled like its siblings: ``unrename(key)`` where they
    were renamed (snake_case written), the key itself where not.

    :param original: the config as written.
    :param verbatim: renamed keys whose mappings hold data (``Environment``): their keys are never renamed.
    :param unrename: renamed key -> the user's style (``VolumeSizeInGB`` -> ``volume_size_in_gb``).
    """

    def __init__(
        self, original: Any, *, verbatim: frozenset[str] = frozenset(), unrename: Callable[[str], str] | None = None
    ) -> None:
        self.original, self.verbatim, self.unrename = original, verbatim, unrename
        self.names: dict[KeyPath, dict[str, str]] = {}

    def path(self, parts: KeyPath) -> str:
        """The renamed path ``parts`` as written (``ResourceConfig.InstanceTyp``, ``resource_config.instance_typ``)."""
        return format_path(
            part if isinstance(part, int) else self.name(parts[:i], part) for i, part in enumerate(parts)
        )

    def name(self, parent: KeyPath, key: str) -> str:
        """``key`` under ``parent`` as written, or in the user's style if not written."""
        if parent and parent[-1] in self.verbatim:
            return key
        written = self.names.get(parent, {})
        if key in written:
            return written[key]
        return self.unrename(key) if self.unrename and self._renamed_style(parent) else key

    def value(self, parts: KeyPath, default: Any = MISSING) -> Any:
        """The value at ``parts`` as written; ``default`` if the user wrote none there."""
        node = self.original
        for i, part in enumerate(parts):
            if isinstance(part, int):
                if not isinstance(node, list) or not 0 <= part < len(node):
                    return default
                node = node[part]
            else:
                key = self.names.get(parts[:i], {}).get(part, part)
                if not isinstance(node, Mapping) or key not in node:
                    return default
                node = node[key]
        return node

    def _renamed_style(self, parent: KeyPath) -> bool:
        """Whether the user's keys nearest ``parent`` were mostly renamed (written in another style)."""
        for level in range(len(parent), -1, -1):
            written = self.names.get(parent[:level])
            if written:
                renamed = sum(new != old for new, old in written.items())
                return renamed * 2 > len(written)
        return False


def rename_keys(
    value: Any,
    rename: Callable[[str], str],
    *,
    resource: str,
    verbatim: frozenset[str] = frozenset(),
    unrename: Callable[[str], str] | None = None,
) -> tuple[Any, KeySpelling]:
    """Rename every mapping key (but those of ``verbatim`` data maps), remembering how each was written.

    Rejects a key that is not a string and two keys that rename alike (``RoleArn`` and ``role_arn``).
    ``value`` must be bounded (``check_limits``): this recurses.
    """
    spelling = KeySpelling(value, verbatim=verbatim, unrename=unrename)

    def walk(item: Any, parts: KeyPath) -> Any:
        if isinstance(item, list):
            return [walk(v, (*parts, i)) for i, v in enumerate(item)]
        if not isinstance(item, Mapping):
            return item
        out: dict[str, Any] = {}
        seen = spelling.names.setdefault(parts, {})
        for key, child in item.items():
            if not isinstance(key, str):
                path = format_path(((spelling.path(parts),) if parts else ()) + (str(key),))
                raise ResourceArgsError(resource, path, child, f"a string key, not {type(key).__name__} {key!r}")
            new = rename(key)
            if new in seen:
                raise ResourceArgsError(
                    resource, spelling.path((*parts, new)), child, f"one key, not both {seen[new]!r} and {key!r}"
                )
            seen[new] = key
            out[new] = child if new in verbatim else walk(child, (*parts, new))
        return out

    return walk(value, ()), spelling


def suggest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt ``name``, if one is close."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = difflib.get_close_matches(name.lower().replace("_", ""), sorted(lowered), n=1)
        close = [lowered[close[0]]] if close else []
    return close[0] if close else None


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
    """Typed reads from a nested mapping that raise ``ResourceArgsError`` naming the key path.

    An empty (or blank) string counts as missing, as None does.

    :param path: the key path of ``data`` (for messages), when no ``spelling`` is given.
    :param parts: the key path of ``data`` as a tuple, in the (renamed) keys of ``data``.
    :param spelling: how the user wrote renamed keys: messages then name paths and values as written.
    """

    def __init__(
        self,
        resource: str,
        data: Mapping[str, Any],
        path: str = "",
        *,
        parts: KeyPath | None = None,
        spelling: KeySpelling | None = None,
    ) -> None:
        self.resource, self.data, self.spelling = resource, data, spelling
        self.parts: KeyPath = parts if parts is not None else ((path,) if path else ())
        self.path = path or (format_path(self.parts) if spelling is None else spelling.path(self.parts))

    def key(self, name: str | int) -> str:
        if self.spelling is not None:
            return self.spelling.path((*self.parts, name))
        return format_path((*self.parts, name))

    def error(self, name: str | int, value: Any, expected: str) -> ResourceArgsError:
        if self.spelling is not None:
            value = self.spelling.value((*self.parts, name), value)
        return ResourceArgsError(self.resource, self.key(name), value, expected)

    def get(self, name: str, kind: type | tuple[type, ...], *, required: bool = False, default: Any = None) -> Any:
        value = self.data.get(name, MISSING)
        if value is MISSING or is_blank(value):
            if required:
                written = self.spelling.value((*self.parts, name), value) if self.spelling else value
                if isinstance(written, str):
                    raise self.error(name, written, f"{_kind_name(kind)}, not empty")
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
        data = self.get(name, dict, required=required, default={})
        return self._sub(name, data)

    def items(self, name: str, *, required: bool = False) -> list[Args]:
        values = self.get(name, list, required=required, default=[])
        children = []
        for i, item in enumerate(values):
            if not isinstance(item, dict):
                raise self._sub(name, {}).error(i, item, "a mapping")
            children.append(self._sub(name, {})._sub(i, item))
        return children

    def only(self, allowed: set[str] | frozenset[str]) -> None:
        """Reject keys outside ``allowed``, suggesting the closest known one."""
        for name in self.data:
            if name not in allowed:
                close = suggest(str(name), allowed)
                hint = f"; did you mean {self.spell(close)!r}?" if close else ""
                known = sorted(self.spell(k) for k in allowed)
                raise self.error(name, self.data[name], f"one of the known keys {known}{hint}")

    def _sub(self, name: str | int, data: Mapping[str, Any]) -> Args:
        return Args(self.resource, data, parts=(*self.parts, name), spelling=self.spelling)

    def spell(self, key: str) -> str:
        """``key`` (a key of ``data``) as the user wrote it, or would have."""
        return key if self.spelling is None else self.spelling.name(self.parts, key)


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


def text(args: Args, name: str, *, required: bool = False, expected: str = "a string") -> str | None:
    """A string setting; an empty string counts as missing (an error when ``required``, else None)."""
    value = args.data.get(name, MISSING)
    if value is MISSING or value is None:
        if required:
            raise args.error(name, MISSING, expected)
        return None
    if not isinstance(value, str):
        raise args.error(name, value, expected)
    if not value.strip():
        if required:
            raise args.error(name, value, f"{expected} (an empty string counts as missing)")
        return None
    return value
