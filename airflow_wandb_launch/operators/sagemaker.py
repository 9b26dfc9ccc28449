"""WandbLaunchSageMakerOperator: a W&B Launch job as a SageMaker training job. Imports no boto3."""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.operators.launch import WandbLaunchOperator


class WandbLaunchSageMakerOperator(WandbLaunchOperator):
    """Run a W&B Launch job as a SageMaker training job. See :class:`WandbLaunchOperator`.

    :param aws_conn_id: Airflow AWS connection. :param region_name: AWS region (default: the connection's).
    """

    def __init__(self, *, aws_conn_id: str = "aws_default", region_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(resource="sagemaker", aws_conn_id=aws_conn_id, region_name=region_name, **kwargs)
