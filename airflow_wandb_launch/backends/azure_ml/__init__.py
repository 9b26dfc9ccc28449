"""``azure-ml``: Azure Machine Learning command jobs. The backend class loads on first use (it imports no SDK)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

RESOURCE = "azure-ml"
#: the pip extra (and Airflow connection type) of this resource
EXTRA = "azure"

if TYPE_CHECKING:
    from airflow_wandb_launch.backends.azure_ml.backend import AzureMLBackend


def __getattr__(name: str) -> Any:
    # Lazy, so the folder's pure data (hardware, pricing) imports without Airflow.
    if name == "AzureMLBackend":
        from airflow_wandb_launch.backends.azure_ml.backend import AzureMLBackend

        return AzureMLBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EXTRA", "RESOURCE", "AzureMLBackend"]
