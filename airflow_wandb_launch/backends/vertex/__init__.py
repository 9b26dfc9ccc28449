"""``vertex``: Vertex AI CustomJobs. The backend class loads on first use (it imports no SDK either)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

RESOURCE = "vertex"

if TYPE_CHECKING:
    from airflow_wandb_launch.backends.vertex.backend import VertexBackend


def __getattr__(name: str) -> Any:
    # Lazy, so the folder's pure data (hardware, pricing) imports without Airflow.
    if name == "VertexBackend":
        from airflow_wandb_launch.backends.vertex.backend import VertexBackend

        return VertexBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["RESOURCE", "VertexBackend"]
