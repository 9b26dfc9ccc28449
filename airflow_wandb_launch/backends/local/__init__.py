"""``local-process`` and ``local-container``: the job on the worker itself, its output in the task log.

The backend classes load on first use, so the registry can look through this folder without Airflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_wandb_launch.backends.local.container import LocalContainerBackend
    from airflow_wandb_launch.backends.local.process import LocalProcessBackend


def __getattr__(name: str) -> Any:
    if name == "LocalProcessBackend":
        from airflow_wandb_launch.backends.local.process import LocalProcessBackend

        return LocalProcessBackend
    if name == "LocalContainerBackend":
        from airflow_wandb_launch.backends.local.container import LocalContainerBackend

        return LocalContainerBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LocalContainerBackend", "LocalProcessBackend"]
