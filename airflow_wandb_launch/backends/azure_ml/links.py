"""A job's page in Azure ML studio."""

from __future__ import annotations

#: the studio host per cloud (azure.ai.ml's ``AML_RESOURCE_ID``)
STUDIO_HOSTS = {
    "AzureCloud": "https://ml.azure.com",
    "AzureUSGovernment": "https://ml.azure.us",
    "AzureChinaCloud": "https://studio.ml.azure.cn",
}


def studio_url(job_name: str, workspace: dict[str, str], cloud: str | None = None, tenant: str | None = None) -> str:
    """The job's page in Azure ML studio (azure.ai.ml's ``studio_url_from_job_id`` format, ``&tid=`` if known)."""
    host = STUDIO_HOSTS.get(cloud or "AzureCloud", STUDIO_HOSTS["AzureCloud"])
    url = (
        f"{host}/runs/{job_name}?wsid=/subscriptions/{workspace['subscription_id']}"
        f"/resourcegroups/{workspace['resource_group']}/workspaces/{workspace['workspace_name']}"
    )
    return f"{url}&tid={tenant}" if tenant else url
