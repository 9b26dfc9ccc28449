"""Errors a DAG author can act on: each names the key, the value and what was expected."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from airflow.sdk.exceptions import AirflowException

#: characters of a value shown in a message.
MAX_SHOWN = 200
#: levels of a nested value shown in a message (deeper ones show as ``...``).
MAX_SHOWN_DEPTH = 6
#: words of a key name that mark its value as a secret (``WANDB_API_KEY``, ``dbPassword``, ``HF_TOKEN``).
SECRET_WORDS = frozenset({"password", "passwd", "pwd", "secret", "token", "credential", "credentials", "apikey"})
#: adjacent words that do (``api_key``, ``AccessKey``, ``private-key``).
SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("auth", "key")})
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class _Masked:
    def __repr__(self) -> str:
        return "<masked>"


#: what a secret's value shows as.
MASKED: Any = _Masked()


class ResourceArgsError(ValueError):
    """``resource_args`` (or another launch input) is invalid; raised before anything is submitted.

    The message shows the value truncated, secrets masked (values under keys such as ``WANDB_API_KEY``).
    """

    def __init__(self, resource: str, key_path: str, value: Any, expected: str) -> None:
        if is_secret_key(last_key(key_path)):
            value = MASKED
        self.resource, self.key_path, self.value, self.expected = resource, key_path, value, expected
        super().__init__(f"{resource}: {key_path} = {show_value(value)}: expected {expected}")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def is_secret_key(name: Any) -> bool:
    """Whether a key's name says its value is a secret (an API key, password, token, credential)."""
    if not isinstance(name, str):
        return False
    words = [w for w in re.split(r"[^a-z0-9]+", _WORD_BREAK.sub("_", name).lower()) if w]
    return any(w in SECRET_WORDS for w in words) or any(pair in SECRET_PAIRS for pair in itertools.pairwise(words))


def last_key(key_path: str) -> str:
    """The last key of ``a.b[0].c`` (``c``); ``""`` for a path ending in an index."""
    tail = key_path.rsplit(".", 1)[-1]
    return "" if tail.endswith("]") else tail


def show_value(value: Any, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` cut at ``limit`` characters, secrets masked; bounded for huge or deeply nested values."""
    shown, size = [], 0
    for token in _tokens(value, 0, limit):
        shown.append(token)
        size += len(token)
        if size > limit:
            break
    text = "".join(shown)
    if len(text) <= limit:
        return text
    suffix = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return text[:limit] + "..." + suffix


def _tokens(value: Any, depth: int, limit: int) -> Iterator[str]:
    """The pieces of a masked repr, lazily: a huge mapping is only read as far as it is shown."""
    if depth > MAX_SHOWN_DEPTH and isinstance(value, dict | list | tuple):
        yield "..."
    elif isinstance(value, dict):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield f"{', ' if i else ''}{_short(key, limit)}: "
            yield from [repr(MASKED)] if is_secret_key(key) else _tokens(item, depth + 1, limit)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "[" if isinstance(value, list) else "("
        for i, item in enumerate(value):
            yield ", " if i else ""
            yield from _tokens(item, depth + 1, limit)
        yield "]" if isinstance(value, list) else ")"
    else:
        yield _short(value, limit)


def _short(value: Any, limit: int) -> str:
    return repr(value[: limit + 1]) if isinstance(value, str | bytes) else repr(value)


class MissingExtraError(ImportError):
    """The cloud SDK of a resource is not installed."""

    def __init__(self, resource: str, extra: str, cause: ImportError) -> None:
        super().__init__(
            f"resource {resource!r} needs the [{extra}] extra ({cause.name or cause} is not installed): "
            f"pip install 'airflow-provider-wandb-launch[{extra}]'"
        )


class LaunchJobFailed(AirflowException):
    """The launched job, or its W&B run, did not succeed."""
