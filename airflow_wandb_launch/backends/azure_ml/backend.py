"""``azure-ml``: an Azure Machine Learning command job through azure-ai-ml's ``MLClient``.

``resource_args`` mirror the keyword arguments of ``azure.ai.ml.command()`` (plus ``queue_settings``, as in a job
YAML). azure-ai-ml is imported only when a job is submitted or read: it takes seconds to import. A deferred job's
log files stream into the trigger's log, read on from a cursor each poll (``logs``).

Connection (type ``azure``, as Airflow's Azure provider reads it): login = client id, password = client secret,
extras ``tenantId`` (with the secret: ``ClientSecretCredential``; without: ``DefaultAzureCredential`` with
``managed_identity_client_id`` / ``workload_identity_tenant_id``), ``cloud_environment``
(``AzurePublicCloud`` | ``AzureUSGovernment`` | ``AzureChinaCloud``), ``subscriptionId``, ``resource_group``,
``workspace_name``; for private clouds and tests ``authority_host``, ``disable_instance_discovery`` and
``azure_ml_base_url`` (the workspace API base URL: see ``client.cloud_kwargs``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, ClassVar

from airflow_wandb_launch.backends.azure_ml import EXTRA, RESOURCE, capacity
from airflow_wandb_launch.backends.azure_ml.batch import (
    cloud_state,
    created_epoch,
    is_denied,
    list_statuses,
    listing_groups,
    needs_run_history,
    not_listed,
    submit_keys,
)
from airflow_wandb_launch.backends.azure_ml.client import cloud_name, connection_extra, ml_client
from airflow_wandb_launch.backends.azure_ml.compat import run_history
from airflow_wandb_launch.backends.azure_ml.links import studio_url
from airflow_wandb_launch.backends.azure_ml.logs import LogFiles, read_log_chunk
from airflow_wandb_launch.backends.azure_ml.pricing import pricing_inputs
from airflow_wandb_launch.backends.azure_ml.request import RUN_ID_TAG, build_command_job
from airflow_wandb_launch.backends.azure_ml.states import STATES, job_status
from airflow_wandb_launch.backends.base import Backend
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.logs import LogChunk
from airflow_wandb_launch.launch.pricing_inputs import PricingInputs
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity

log = logging.getLogger(__name__)

#: operator argument -> the connection extras read for it (the first is the documented one)
WORKSPACE_EXTRAS = {
    "subscription_id": ("subscriptionId", "subscription_id"),
    "resource_group": ("resource_group", "resourceGroup"),
    "workspace_name": ("workspace_name", "workspaceName"),
}


class AzureMLBackend(Backend):
    """Azure ML command jobs.

    :param azure_conn_id: Airflow Azure connection (type ``azure``).
    :param subscription_id: Azure subscription (default: the connection's ``subscriptionId`` extra).
    :param resource_group: resource group (default: the connection's ``resource_group`` extra).
    :param workspace_name: Azure ML workspace (default: the connection's ``workspace_name`` extra).
    """

    resource = RESOURCE
    aliases = ("azure-ml", "azureml")
    extra = EXTRA
    connection_params: ClassVar = {
        "azure_conn_id": "azure_default",
        "subscription_id": None,
        "resource_group": None,
        "workspace_name": None,
    }
    streams_logs = True

    def __init__(self, **connection_args: Any) -> None:
        super().__init__(**connection_args)
        self._client: Any = None
        self._conn: Any = None
        self._may_list = True
        self._log_files = LogFiles()  # the jobs' log files' SAS URLs, between reads (in memory only)

    # -- connection and client ----------------------------------------------------------------------------
    @property
    def connection(self) -> Any:
        if self._conn is None:
            from airflow.sdk import BaseHook

            self._conn = BaseHook.get_connection(self.connection_args["azure_conn_id"])
        return self._conn

    def workspace(self) -> dict[str, str]:
        """``subscription_id``, ``resource_group`` and ``workspace_name``: operator arguments, else extras."""
        found = {}
        for key, extras in WORKSPACE_EXTRAS.items():
            value = self.connection_args.get(key) or next(
                (v for v in (connection_extra(self.connection, e) for e in extras) if v), None
            )
            if not value:
                conn_id = self.connection_args["azure_conn_id"]
                raise ResourceArgsError(
                    RESOURCE, key, None, f"an operator argument, or a {extras[0]!r} extra on connection {conn_id!r}"
                )
            found[key] = str(value)
        return found

    @property
    def cloud(self) -> str:
        return cloud_name(self.connection)

    @property
    def client(self) -> Any:
        """The ``MLClient``, built once and reused by every call."""
        if self._client is None:
            self._client = ml_client(self.connection, self.workspace())
        return self._client

    def prepare_client(self) -> None:
        self.client  # noqa: B018 - the MLClient (and the connection read) built now, in the caller's thread

    # -- the job --------------------------------------------------------------------------------------------
    @classmethod
    def request_lineage(cls, payload: dict[str, Any]) -> Any:
        from airflow_wandb_launch.backends.azure_ml.lineage import azure_ml_datasets

        return azure_ml_datasets(payload)

    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        return build_command_job(request, resource_args, env)

    def submit(self, payload: dict[str, Any], run: RunIdentity) -> JobRef:
        client = self.client  # first: raises MissingExtraError without azure-ai-ml
        from azure.ai.ml import command
        from azure.ai.ml.entities import Environment
        from azure.core.exceptions import ResourceNotFoundError

        kwargs = payload["command"]
        name = kwargs["name"]
        where = {**self.workspace(), "cloud": self.cloud, "tenant_id": connection_extra(self.connection, "tenantId")}
        where = {k: v for k, v in where.items() if v}
        pricing = self._pricing(payload)
        try:
            existing = client.jobs.get(name)
        except ResourceNotFoundError:
            existing = None
        if existing is not None:
            log.info("Azure ML job %s exists already (a re-executed try): attaching to it.", name)
            listing = submit_keys(created_epoch(existing), existing.tags, RUN_ID_TAG)
        else:
            listing = submit_keys(time.time(), kwargs.get("tags"), RUN_ID_TAG)  # before the create: a lower bound
            client.jobs.create_or_update(command(environment=Environment(image=payload["image"]), **kwargs))
        return JobRef(RESOURCE, name, run, {**where, **listing}, pricing)

    def planned_job_id(self, payload: dict[str, Any]) -> str:
        """Azure ML jobs are named by the caller: a submit of the same name attaches to the existing job."""
        return payload["command"]["name"]

    def _pricing(self, payload: dict[str, Any]) -> PricingInputs:
        """The pricing inputs, with the workspace's region (best effort: None if it cannot be read)."""
        try:
            region = self.client.workspaces.get(self.workspace()["workspace_name"]).location
        except Exception as err:
            log.warning("Could not read the Azure ML workspace's region (no cost estimate): %s", err)
            region = None
        return pricing_inputs(payload, region)

    def status(self, ref: JobRef) -> JobStatus:
        state = cloud_state(self.client.jobs.get(ref.job_id))
        if not STATES.get(state, JobState.RUNNING).terminal:
            return job_status(state)
        return self._ended(ref, state)

    def _ended(self, ref: JobRef, state: str) -> JobStatus:
        """An ended job's status with Run History's error and start/end times."""
        error, details = run_history(self.client, ref.job_id)
        return job_status(state, error if state == "Failed" else None, details)

    async def astatus_many(self, refs: list[JobRef]) -> dict[str, JobStatus | BaseException]:
        """``jobs.list`` pages (per listing tag) for jobs with a recorded creation, ``jobs.get`` for the rest;
        job by job if the caller may not list jobs."""
        groups = listing_groups(refs)
        if not self._may_list or not groups:
            return await super().astatus_many(refs)
        listed: dict[str, JobStatus] = {}
        try:
            for tag, wanted in groups.items():
                listed.update(await asyncio.to_thread(self._list, wanted, tag))
        except Exception as err:
            if not is_denied(err):
                raise
            log.warning("Listing Azure ML jobs is denied (%s): reading each job with jobs.get instead.", err)
            self._may_list = False
            return await super().astatus_many(refs)
        read = await super().astatus_many(not_listed(refs, listed))
        return {**listed, **read}

    def _list(self, wanted: dict[str, float], tag: str | None) -> dict[str, JobStatus]:
        """The listed statuses of ``wanted`` (name -> created_at): blocking, for a thread."""
        return list_statuses(self.client, wanted, tag)[0]

    def final_status(self, ref: JobRef, status: JobStatus) -> JobStatus:
        """A listed end lacks Run History's error and start/end times: one Run History read, on the worker."""
        if not needs_run_history(status):
            return status  # read job by job already, or not an end Azure ML reported (a deadline, a pending timeout)
        return self._ended(ref, status.cloud_state)

    def log_lines(self, ref: JobRef, cursor: dict[str, Any] | None, limit: int, *, final: bool = False) -> LogChunk:
        """The job's log files' lines since ``cursor``, prefixed by node or process (``[node_0] ...``); see
        ``logs``. Blocking: Run History and the files' SAS URLs through the backend's one ``MLClient``."""
        nodes = ref.pricing.machine_count if ref.pricing else None
        files, now = self._log_files, time.time()
        return read_log_chunk(
            self.client, ref.job_id, cursor, limit, final=final, files=files, now=now, expected_files=nodes
        )

    def cancel(self, ref: JobRef) -> None:
        """Ask Azure ML to cancel; the request is the cancel, so do not wait on the poller (30 s a poll)."""
        from azure.core.exceptions import HttpResponseError

        try:
            self.client.jobs.begin_cancel(ref.job_id, polling=False)
        except HttpResponseError:
            # Canceling a job that already ended is refused (400): not an error worth failing a kill over.
            if self.status(ref).state.terminal:
                return
            raise

    def fallback_reason(self, status: JobStatus) -> str | None:
        """A spent quota or an allocation failure, from Run History's error: see ``capacity``."""
        return capacity.is_capacity_failure(status)

    def refusal_reason(self, error: BaseException) -> str | None:
        """A create refused for quota or capacity (``HttpResponseError`` saying so)."""
        return capacity.classify(str(error))

    def job_url(self, ref: JobRef) -> str | None:
        where = ref.cloud
        if set(WORKSPACE_EXTRAS) <= set(where):
            return studio_url(ref.job_id, where, where.get("cloud"), where.get("tenant_id"))
        return studio_url(ref.job_id, self.workspace(), self.cloud, connection_extra(self.connection, "tenantId"))

    def close(self) -> None:
        self._client = None
