"""What a local process or container reads and writes, for OpenLineage. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_wandb_launch.lineage.datasets import (
    DatasetCollector,
    Lineage,
    command_line_datasets,
    named_values_datasets,
)


def local_datasets(payload: Mapping[str, Any]) -> Lineage:
    """A local process or container: the storage URIs on its command line and in its environment (in, unless
    named as outputs)."""
    found = DatasetCollector()
    command_line_datasets(payload.get("argv") or (), found)
    named_values_datasets(payload.get("env"), found)
    return found.lineage()
