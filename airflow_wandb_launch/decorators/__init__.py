"""TaskFlow decorators of the W&B Launch provider (``@task.wandb_launch``). Importing them loads no cloud SDK."""

from airflow_wandb_launch.decorators.wandb_launch import wandb_launch_task

__all__ = ["wandb_launch_task"]
