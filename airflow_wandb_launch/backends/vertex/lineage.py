"""What a CustomJob reads and writes, for OpenLineage. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_wandb_launch.lineage.datasets import (
    DatasetCollector,
    Lineage,
    command_line_datasets,
    named_values_datasets,
)


def vertex_datasets(custom_job: Mapping[str, Any]) -> Lineage:
    """A CustomJob (``aiplatform_v1``, snake_case dict): URIs its containers are given in, its base output
    directory out."""
    found = DatasetCollector()
    spec = custom_job.get("job_spec") or {}
    found.add((spec.get("base_output_directory") or {}).get("output_uri_prefix"), output=True)
    for pool in spec.get("worker_pool_specs") or ():
        for program in (pool.get("container_spec"), pool.get("python_package_spec")):
            if not program:
                continue
            command_line_datasets([*(program.get("command") or ()), *(program.get("args") or ())], found)
            named_values_datasets({e.get("name"): e.get("value") for e in program.get("env") or ()}, found)
    return found.lineage()
