"""Operators of the W&B Launch provider. Importing them loads no cloud SDK and no wandb."""

from airflow_wandb_launch.operators.launch import WandbLaunchOperator, WandbLaunchSageMakerOperator

__all__ = ["WandbLaunchOperator", "WandbLaunchSageMakerOperator"]
