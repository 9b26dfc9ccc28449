"""What an Azure ML command job reads and writes, for OpenLineage. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_wandb_launch.lineage.datasets import (
    DatasetCollector,
    Lineage,
    command_line_datasets,
    named_values_datasets,
    split_command,
)


def azure_ml_datasets(payload: Mapping[str, Any]) -> Lineage:
    """An Azure ML command job (``{"image", "command": {command() kwargs}}``): its ``inputs`` and the URIs on its
    command line and in its environment in, its ``outputs`` out."""
    kwargs = payload["command"] if isinstance(payload.get("command"), Mapping) else payload
    found = DatasetCollector()
    for value in (kwargs.get("inputs") or {}).values():
        found.add(_azure_io_path(value))
    for value in (kwargs.get("outputs") or {}).values():
        found.add(_azure_io_path(value), output=True)
    command = kwargs.get("command")
    if isinstance(command, str):
        command_line_datasets(split_command(command), found)
    named_values_datasets(kwargs.get("environment_variables"), found)
    return found.lineage()


def _azure_io_path(value: Any) -> Any:
    """An Azure ML input or output: a path, or ``{"type": ..., "path": ...}`` (an ``Input``/``Output``)."""
    if isinstance(value, Mapping):
        return value.get("path")
    return getattr(value, "path", value)
