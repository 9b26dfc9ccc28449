"""The ``MLClient`` and its credential, from an Airflow Azure connection (azure-ai-ml imported only here, lazily)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from airflow_wandb_launch.errors import MissingExtraError

RESOURCE, EXTRA = "azure-ml", "azure"
#: Airflow's ``cloud_environment`` extra -> azure-ai-ml's cloud name
CLOUDS = {
    "AzurePublicCloud": "AzureCloud",
    "AzureUSGovernment": "AzureUSGovernment",
    "AzureChinaCloud": "AzureChinaCloud",
}
MFE_URL_VAR = "AZUREML_DEV_URL_MFE"
_MFE_LOCK = threading.Lock()


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


def ml_client(conn: Any, workspace: dict[str, str]) -> Any:
    """An ``MLClient`` for ``workspace`` (subscription_id, resource_group, workspace_name) as ``conn``.

    The connection's ``azure_ml_base_url`` extra points it at another workspace API (``AZUREML_DEV_URL_MFE``,
    which MLClient reads once, when built: set for that moment only, under a lock).
    """
    try:
        from azure.ai.ml import MLClient
    except ImportError as err:
        raise MissingExtraError(RESOURCE, EXTRA, err) from err
    credential = credential_from_connection(conn)
    quiet_http_logging()
    base_url = connection_extra(conn, "azure_ml_base_url")
    with _MFE_LOCK:
        saved = os.environ.get(MFE_URL_VAR)
        if base_url:
            os.environ[MFE_URL_VAR] = base_url
        try:
            return MLClient(
                credential,
                workspace["subscription_id"],
                workspace["resource_group"],
                workspace["workspace_name"],
                cloud=cloud_name(conn),
            )
        finally:
            if base_url and saved is None:
                os.environ.pop(MFE_URL_VAR, None)
            elif base_url:
                os.environ[MFE_URL_VAR] = saved  # type: ignore[assignment]
