"""Operators of the W&B Launch provider. Importing them loads no cloud SDK and no wandb."""

from airflow_wandb_launch.operators.azure_ml import WandbLaunchAzureMLOperator
from airflow_wandb_launch.operators.compare import WandbCompareRunsOperator
from airflow_wandb_launch.operators.launch import WandbLaunchOperator
from airflow_wandb_launch.operators.queue import WandbLaunchQueueOperator
from airflow_wandb_launch.operators.sagemaker import WandbLaunchSageMakerOperator
from airflow_wandb_launch.operators.vertex import WandbLaunchVertexAIOperator

__all__ = [
    "WandbCompareRunsOperator",
    "WandbLaunchAzureMLOperator",
    "WandbLaunchOperator",
    "WandbLaunchQueueOperator",
    "WandbLaunchSageMakerOperator",
    "WandbLaunchVertexAIOperator",
]
