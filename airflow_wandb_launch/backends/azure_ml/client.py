"""The ``MLClient`` and its credential, from an Airflow Azure connection (azure-ai-ml imported only here, lazily)."""

from __future__ import annotations

import logging
from typing import Any

from airflow_wandb_launch.backends.azure_ml import EXTRA, RESOURCE
from airflow_wandb_launch.errors import MissingExtraError

#: Airflow's ``cloud_environment`` extra -> azure-ai-ml's cloud name
CLOUDS = {
    "AzurePublicCloud": "AzureCloud",
    "AzureUSGovernment": "AzureUSGovernment",
    "AzureChinaCloud": "AzureChinaCloud",
}
#: each cloud's endpoints but Resource Manager's, as azure-ai-ml 1.35.2 lists them (``_azure_environments``): the
#: rest of a cloud whose Resource Manager endpoint a connection's ``azure_ml_base_url`` replaces.
CLOUD_ENDPOINTS = {
    "AzureCloud": {
        "azure_portal": "https://portal.azure.com/",
        "active_directory": "https://login.microsoftonline.com/",
        "aml_resource_id": "https://ml.azure.com/",
        "storage_endpoint": "core.windows.net",
        "registry_discovery_endpoint": "https://eastus.api.azureml.ms/",
    },
    "AzureChinaCloud": {
        "azure_portal": "https://portal.azure.cn/",
        "active_directory": "https://login.chinacloudapi.cn/",
        "aml_resource_id": "https://ml.azure.cn/",
        "storage_endpoint": "core.chinacloudapi.cn",
        "registry_discovery_endpoint": "https://chinaeast2.api.ml.azure.cn/",
    },
    "AzureUSGovernment": {
        "azure_portal": "https://portal.azure.us/",
        "active_directory": "https://login.microsoftonline.us/",
        "aml_resource_id": "https://ml.azure.us/",
        "storage_endpoint": "core.usgovcloudapi.net",
        "registry_discovery_endpoint": "https://usgovarizona.api.ml.azure.us/",
    },
}


def connection_extra(conn: Any, name: str) -> Any:
    """An extra of an Azure connection (also under its old ``extra__azure__`` name), as the Azure provider reads it."""
    try:
        from airflow.providers.microsoft.azure.utils import get_field
    except ImportError as err:
        raise MissingExtraError(RESOURCE, EXTRA, err) from err
    return get_field(conn_id=conn.conn_id, conn_type="azure", extras=conn.extra_dejson, field_name=name)


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def credential_from_connection(conn: Any) -> Any:
    """A token credential from an Azure connection, chosen as ``AzureBaseHook.get_credential()`` chooses.

    Client id (login), secret (password) and ``tenantId`` -> ``ClientSecretCredential`` (authority from
    ``authority_host`` or ``cloud_environment``); otherwise ``DefaultAzureCredential`` with the connection's
    managed / workload identity options. Always azure-identity objects: ``MLClient`` needs ``get_token()``.
    """
    try:
        from airflow.providers.microsoft.azure.utils import get_sync_default_azure_credential
        from azure.identity import AzureAuthorityHosts, ClientSecretCredential
    except ImportError as err:
        raise MissingExtraError(RESOURCE, EXTRA, err) from err
    tenant = connection_extra(conn, "tenantId")
    if conn.login and conn.password and tenant:
        authorities = {
            "AzurePublicCloud": AzureAuthorityHosts.AZURE_PUBLIC_CLOUD,
            "AzureUSGovernment": AzureAuthorityHosts.AZURE_GOVERNMENT,
            "AzureChinaCloud": AzureAuthorityHosts.AZURE_CHINA,
        }
        cloud = connection_extra(conn, "cloud_environment") or "AzurePublicCloud"
        options: dict[str, Any] = {"authority": connection_extra(conn, "authority_host") or authorities.get(cloud)}
        if _truthy(connection_extra(conn, "disable_instance_discovery")):
            options["disable_instance_discovery"] = True
        return ClientSecretCredential(tenant_id=tenant, client_id=conn.login, client_secret=conn.password, **options)
    return get_sync_default_azure_credential(
        managed_identity_client_id=connection_extra(conn, "managed_identity_client_id"),
        workload_identity_tenant_id=connection_extra(conn, "workload_identity_tenant_id"),
    )


def quiet_http_logging() -> None:
    """azure-core logs every request and response at INFO: keep task logs readable unless configured."""
    for name in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def cloud_name(conn: Any) -> str:
    """azure-ai-ml's cloud name for the connection's ``cloud_environment`` extra."""
    return CLOUDS.get(connection_extra(conn, "cloud_environment") or "AzurePublicCloud", "AzureCloud")


def cloud_kwargs(conn: Any) -> dict[str, Any]:
    """``MLClient``'s cloud keyword arguments for the connection.

    The cloud is the ``cloud_environment`` extra's. With an ``azure_ml_base_url`` extra it is that cloud with its
    Resource Manager endpoint (the base URL of every workspace call, and so also the token's audience) replaced:
    a cloud of its own name, which ``MLClient`` registers from ``cloud_metadata`` (its keyword for clouds beyond
    the built-in three), so no process-wide setting such as ``AZUREML_DEV_URL_MFE`` is needed.
    """
    cloud = cloud_name(conn)
    base_url = connection_extra(conn, "azure_ml_base_url")
    if not base_url:
        return {"cloud": cloud}
    metadata = {**CLOUD_ENDPOINTS[cloud], "resource_manager": str(base_url)}
    return {"cloud": f"{cloud}@{base_url}", "cloud_metadata": metadata}


def ml_client(conn: Any, workspace: dict[str, str]) -> Any:
    """An ``MLClient`` for ``workspace`` (subscription_id, resource_group, workspace_name) as ``conn``.

    The connection's ``azure_ml_base_url`` extra points it at another workspace API (see :func:`cloud_kwargs`).
    """
    try:
        from azure.ai.ml import MLClient
    except ImportError as err:
        raise MissingExtraError(RESOURCE, EXTRA, err) from err
    credential = credential_from_connection(conn)
    quiet_http_logging()
    return MLClient(
        credential,
        workspace["subscription_id"],
        workspace["resource_group"],
        workspace["workspace_name"],
        **cloud_kwargs(conn),
    )
