"""Errors a DAG author can act on: each names the key, the value and what was expected."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException


class ResourceArgsError(ValueError):
    """``resource_args`` (or another launch input) is invalid; raised before anything is submitted."""

    def __init__(self, resource: str, key_path: str, value: Any, expected: str) -> None:
        self.resource, self.key_path, self.value, self.expected = resource, key_path, value, expected
        shown = "<missing>" if value is MISSING else repr(value)
        if len(shown) > 200:
            shown = shown[:200] + "..."
        super().__init__(f"{resource}: {key_path} = {shown}: expected {expected}")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


class MissingExtraError(ImportError):
    """The cloud SDK of a resource is not installed."""

    def __init__(self, resource: str, extra: str, cause: ImportError) -> None:
        super().__init__(
            f"resource {resource!r} needs the [{extra}] extra ({cause.name or cause} is not installed): "
            f"pip install 'airflow-provider-wandb-launch[{extra}]'"
        )


class LaunchJobFailed(AirflowException):
    """The launched job, or its W&B run, did not succeed."""
