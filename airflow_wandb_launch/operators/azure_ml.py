"""WandbLaunchAzureMLOperator: a W&B Launch job as an Azure ML command job. Imports no azure.ai.ml."""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.operators.launch import WandbLaunchOperator


class WandbLaunchAzureMLOperator(WandbLaunchOperator):
    """Run a W&B Launch job as an Azure ML command job. See :class:`WandbLaunchOperator`.

    ``resource_args`` are the keyword arguments of ``azure.ai.ml.command()``: ``compute`` (a cluster) or
    ``instance_type`` / ``instance_count`` (serverless), ``distribution``, ``queue_settings.job_tier``
    (``Spot`` for spot capacity), ``experiment_name``, ``environment_variables``, ``shm_size``, ``timeout``, ...

    :param azure_conn_id: Airflow Azure connection (client secret with ``tenantId``, or DefaultAzureCredential).
    :param subscription_id: Azure subscription (default: the connection's ``subscriptionId`` extra).
    :param resource_group: resource group (default: the connection's ``resource_group`` extra).
    :param workspace_name: Azure ML workspace (default: the connection's ``workspace_name`` extra).
    """

    def __init__(
        self,
        *,
        azure_conn_id: str = "azure_default",
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            resource="azure-ml",
            azure_conn_id=azure_conn_id,
            subscription_id=subscription_id,
            resource_group=resource_group,
            workspace_name=workspace_name,
            **kwargs,
        )
