"""Backends by resource name. Modules load lazily: a DAG file that names a resource imports no cloud SDK.

A resource is one folder (``backends/<name>/``) and one :data:`BACKENDS` line. Its backend class carries the
resource's other names (``aliases``). A cloud's folder may also hold ``hardware.py`` (its offerings for the
cross-cloud hardware requests, see ``cost.hardware``) and ``pricing.py`` (its price list, see ``cost.pricing``):
those find them through :func:`resource_module`, by the folder the registry names.

Importing this package loads neither Airflow nor a cloud SDK (``cost`` reads the registry without Airflow).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .base import Backend

#: resource name -> "module:Class"
BACKENDS: dict[str, str] = {
    "local-process": "airflow_wandb_launch.backends.local.process:LocalProcessBackend",
    "local-container": "airflow_wandb_launch.backends.local.container:LocalContainerBackend",
    "sagemaker": "airflow_wandb_launch.backends.sagemaker.backend:SageMakerBackend",
    "vertex": "airflow_wandb_launch.backends.vertex.backend:VertexBackend",
    "azure-ml": "airflow_wandb_launch.backends.azure_ml.backend:AzureMLBackend",
    "wandb-queue": "airflow_wandb_launch.backends.wandb_queue.backend:WandbQueueBackend",
}


def register_backend(resource: str, target: str) -> None:
    """Add (or replace) a resource: ``target`` is ``"package.module:BackendClass"``, imported when first used."""
    module_name, sep, class_name = target.partition(":")
    if not (resource and module_name and sep and class_name):
        raise ValueError(f"register_backend({resource!r}, {target!r}): expected a name and 'module:Class'")
    BACKENDS[resource] = target


def _load(target: str) -> type[Backend]:
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def _importable_classes() -> dict[str, type[Backend]]:
    """The registered backend classes, skipping those that cannot be imported (a missing extra, or Airflow)."""
    found = {}
    for resource, target in list(BACKENDS.items()):
        try:
            found[resource] = _load(target)
        except ImportError:
            continue
    return found


def resolve_resource(name: str) -> str | None:
    """The registered resource ``name`` names (itself, or an alias on its backend class); None if none does."""
    if name in BACKENDS:
        return name
    for resource, cls in _importable_classes().items():
        if name == cls.resource or name in cls.aliases:
            return resource
    return None


def resource_names(resource: str) -> tuple[str, ...]:
    """``resource`` and its aliases (only the name when its backend class cannot be imported)."""
    try:
        cls = _load(BACKENDS[resource])
    except ImportError:
        return (resource,)
    return (resource, *(alias for alias in cls.aliases if alias != resource))


def known_names() -> list[str]:
    """Every registered resource and alias that can be imported, sorted (for error messages)."""
    names = set(BACKENDS)
    for cls in _importable_classes().values():
        names.update(cls.aliases)
    return sorted(names)


def canonical_resource(resource: str) -> str:
    """The resource's canonical name; raises a clear error for an unknown one."""
    name = resolve_resource(resource)
    if name is None:
        from airflow_wandb_launch.errors import ResourceArgsError

        raise ResourceArgsError("operator", "resource", resource, f"one of {known_names()}")
    return name


def backend_class(resource: str) -> type[Backend]:
    return _load(BACKENDS[canonical_resource(resource)])


def make_backend(resource: str, connection_args: dict[str, Any] | None = None) -> Backend:
    """Build the backend for ``resource`` from serializable connection arguments."""
    return backend_class(resource)(**(connection_args or {}))


def foreign_connection_arg(resource: str, name: str) -> str | None:
    """The other resource whose connection argument ``name`` is, if it is not ``resource``'s (for a clear error)."""
    for other, cls in _importable_classes().items():
        if (
            other != resource
            and name in cls.connection_params
            and name not in backend_class(resource).connection_params
        ):
            return other
    return None


def resource_module(resource: str, name: str) -> ModuleType | None:
    """The ``name`` module (``hardware``, ``pricing``) of the folder ``resource`` is registered from, if it has one.

    None when the folder has no such module, or cannot be imported here (a module it needs, such as Airflow for
    a backend that is not a cloud's, is missing).
    """
    package = _folder(BACKENDS[resource].partition(":")[0])
    try:
        return importlib.import_module(f"{package}.{name}")
    except ModuleNotFoundError:
        return None


def _folder(module_name: str) -> str:
    """The package of a registered module: itself if it is one (``pkg:Class``), else its parent (``pkg.backend``)."""
    import importlib.util

    spec = importlib.util.find_spec(module_name)
    is_package = spec is not None and spec.submodule_search_locations is not None
    return module_name if is_package else module_name.rpartition(".")[0]


__all__ = [
    "BACKENDS",
    "Backend",
    "backend_class",
    "canonical_resource",
    "foreign_connection_arg",
    "known_names",
    "make_backend",
    "register_backend",
    "resolve_resource",
    "resource_module",
    "resource_names",
]
