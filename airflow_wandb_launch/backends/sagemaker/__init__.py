"""``sagemaker``: SageMaker training jobs. The backend class loads on first use (it imports no SDK either)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

RESOURCE = "sagemaker"

if TYPE_CHECKING:
    from airflow_wandb_launch.backends.sagemaker.backend import SageMakerBackend


def __getattr__(name: str) -> Any:
    # Lazy, so the folder's pure data (hardware, pricing) imports without Airflow.
    if name == "SageMakerBackend":
        from airflow_wandb_launch.backends.sagemaker.backend import SageMakerBackend

        return SageMakerBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["RESOURCE", "SageMakerBackend"]
