"""Backends by resource name. Modules load lazily: a DAG file that names a resource imports no cloud SDK."""

from __future__ import annotations

import importlib
from typing import Any

from airflow_wandb_launch.errors import ResourceArgsError

from .base import Backend

#: resource name -> "module:Class"
BACKENDS: dict[str, str] = {
    "local-process": "airflow_wandb_launch.backends.local:LocalProcessBackend",
    "local-container": "airflow_wandb_launch.backends.local_container:LocalContainerBackend",
    "sagemaker": "airflow_wandb_launch.backends.sagemaker:SageMakerBackend",
    "vertex": "airflow_wandb_launch.backends.vertex:VertexBackend",
    "azure-ml": "airflow_wandb_launch.backends.azure_ml:AzureMLBackend",
}
#: other names W&B Launch and its docs use for a resource
ALIASES: dict[str, str] = {"gcp-vertex": "vertex", "vertex-ai": "vertex", "azureml": "azure-ml"}


def canonical_resource(resource: str) -> str:
    """The resource's canonical name; raises a clear error for an unknown one."""
    name = ALIASES.get(resource, resource)
    if name not in BACKENDS:
        known = sorted([*BACKENDS, *ALIASES])
        raise ResourceArgsError("operator", "resource", resource, f"one of {known}")
    return name


def backend_class(resource: str) -> type[Backend]:
    module_name, _, class_name = BACKENDS[canonical_resource(resource)].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_backend(resource: str, connection_args: dict[str, Any] | None = None) -> Backend:
    """Build the backend for ``resource`` from serializable connection arguments."""
    return backend_class(resource)(**(connection_args or {}))


__all__ = ["ALIASES", "BACKENDS", "Backend", "backend_class", "canonical_resource", "make_backend"]
