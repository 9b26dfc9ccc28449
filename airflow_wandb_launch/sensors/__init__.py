"""Sensors of the W&B Launch provider. Importing them loads no cloud SDK and no wandb."""

from airflow_wandb_launch.sensors.wandb import WandbArtifactSensor, WandbRunFailed, WandbRunSensor

__all__ = ["WandbArtifactSensor", "WandbRunFailed", "WandbRunSensor"]
