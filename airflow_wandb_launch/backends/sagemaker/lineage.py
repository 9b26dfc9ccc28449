"""What a CreateTrainingJob body reads and writes, for OpenLineage. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_wandb_launch.lineage.datasets import (
    DatasetCollector,
    Lineage,
    command_line_datasets,
    named_values_datasets,
)


def sagemaker_datasets(body: Mapping[str, Any]) -> Lineage:
    """A CreateTrainingJob body: its S3 channels and what its container is given in, its model artifacts out."""
    found = DatasetCollector()
    for channel in body.get("InputDataConfig") or ():
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        found.add(source.get("S3Uri"))
    output_path = (body.get("OutputDataConfig") or {}).get("S3OutputPath")
    if isinstance(output_path, str) and output_path and body.get("TrainingJobName"):
        found.add(f"{output_path.rstrip('/')}/{body['TrainingJobName']}/output/model.tar.gz", output=True)
    spec = body.get("AlgorithmSpecification") or {}
    command_line_datasets([*(spec.get("ContainerEntrypoint") or ()), *(spec.get("ContainerArguments") or ())], found)
    named_values_datasets(body.get("HyperParameters"), found)
    named_values_datasets(body.get("Environment"), found)
    return found.lineage()
