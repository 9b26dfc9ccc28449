"""``azure-ml``: an Azure Machine Learning command job through azure-ai-ml's ``MLClient``.

``resource_args`` mirror the keyword arguments of ``azure.ai.ml.command()`` (plus ``queue_settings``, as in a job
YAML). azure-ai-ml is imported only when a job is submitted or read: it takes seconds to import.

Connection (type ``azure``, as Airflow's Azure provider reads it): login = client id, password = client secret,
extras ``tenantId`` (with the secret: ``ClientSecretCredential``; without: ``DefaultAzureCredential`` with
``managed_identity_client_id`` / ``workload_identity_tenant_id``), ``cloud_environment``
(``AzurePublicCloud`` | ``AzureUSGovernment`` | ``AzureChinaCloud``), ``subscriptionId``, ``resource_group``,
``workspace_name``; for private clouds and tests ``authority_host``, ``disable_instance_discovery`` and
``azure_ml_base_url`` (the workspace API base URL, as the ``AZUREML_DEV_URL_MFE`` variable sets it).
"""

from __future__ import annotations

import logging
import re
import shlex
from typing import Any, ClassVar

from airflow_wandb_launch.backends.azure_ml_client import cloud_name, connection_extra, ml_client
from airflow_wandb_launch.backends.base import Backend
from airflow_wandb_launch.cost.inputs import Machine, PricingInputs
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import Args
from airflow_wandb_launch.launch.run import RunIdentity

RESOURCE = "azure-ml"
EXTRA = "azure"
log = logging.getLogger(__name__)

#: Azure ML job (run) and experiment names: letters, digits, ``_`` and ``-``, starting with a letter or digit.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
SHM_SIZE = re.compile(r"^\d+[bkmg]?$", re.IGNORECASE)
JOB_TIERS = {t.lower(): t for t in ("Spot", "Basic", "Standard", "Premium")}
PRIORITIES = ("low", "medium", "high")
#: distribution ``type`` -> the keys it takes (azure.ai.ml's distribution schemas)
DISTRIBUTIONS: dict[str, frozenset[str]] = {
    "pytorch": frozenset({"type", "process_count_per_instance"}),
    "mpi": frozenset({"type", "process_count_per_instance"}),
    "tensorflow": frozenset({"type", "worker_count", "parameter_server_count"}),
}
#: identity ``type`` -> the keys it takes
IDENTITIES: dict[str, frozenset[str]] = {
    "managed": frozenset({"type", "client_id", "object_id", "msi_resource_id"}),
    "managed_identity": frozenset({"type", "client_id", "object_id", "msi_resource_id"}),
    "user_identity": frozenset({"type"}),
    "aml_token": frozenset({"type"}),
}
#: the ``azure.ai.ml.command()`` keyword arguments accepted (``queue_settings`` as in a job YAML)
COMMAND_KEYS = frozenset((
    "name", "display_name", "description", "experiment_name", "command", "compute", "instance_type", "instance_count",
    "shm_size", "docker_args", "locations", "timeout", "distribution", "queue_settings", "job_tier", "priority",
    "environment_variables", "tags", "properties", "identity",
))  # fmt: skip
RUN_ID_TAG = "wandb-run-id"

PENDING_STATES = ("NotStarted", "Queued", "Preparing", "Provisioning", "Starting")
STATES: dict[str, JobState] = {
    **dict.fromkeys(PENDING_STATES, JobState.PENDING),
    "Running": JobState.RUNNING,
    "Finalizing": JobState.RUNNING,
    "CancelRequested": JobState.STOPPING,
    "Completed": JobState.SUCCEEDED,
    "Failed": JobState.FAILED,
    "Canceled": JobState.STOPPED,
    "NotResponding": JobState.FAILED,
    "Paused": JobState.FAILED,
}
EXPLAINED = {
    "Canceled": "the job was canceled (jobs.begin_cancel, or in Azure ML studio)",
    "NotResponding": "Azure ML reports the job NotResponding: its compute stopped answering; the job is left as is",
    "Paused": "the job is Paused in Azure ML and would not finish on its own; resume or cancel it in Azure ML studio",
}
#: the studio host per cloud (azure.ai.ml's ``AML_RESOURCE_ID``)
STUDIO_HOSTS = {
    "AzureCloud": "https://ml.azure.com",
    "AzureUSGovernment": "https://ml.azure.us",
    "AzureChinaCloud": "https://studio.ml.azure.cn",
}
#: operator argument -> the connection extras read for it (the first is the documented one)
WORKSPACE_EXTRAS = {
    "subscription_id": ("subscriptionId", "subscription_id"),
    "resource_group": ("resource_group", "resourceGroup"),
    "workspace_name": ("workspace_name", "workspaceName"),
}


# -- build (pure) ---------------------------------------------------------------------------------------------


def build_command_job(request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Validate ``resource_args`` and return ``{"image": ..., "command": {command() kwargs}}``. Pure.

    :param request: the launch; its image becomes the job's environment, its entry point the command.
    :param resource_args: ``azure.ai.ml.command()`` keyword arguments (``${...}`` macros filled).
    :param env: the W&B environment; ``environment_variables`` of the same name win.
    """
    args = Args(RESOURCE, resource_args)
    args.only(COMMAND_KEYS)
    if not request.image:
        raise ResourceArgsError(RESOURCE, "image", None, "a container image (the operator's image, or a W&B job's)")
    kwargs: dict[str, Any] = {
        "name": _name(args, "name", request.job_name),
        "display_name": args.get("display_name", str) or request.run.name or request.run.run_id,
        "experiment_name": _name(args, "experiment_name", _experiment_default(request.run.project)),
        "command": _command(args, request),
        "environment_variables": _environment(args, env),
        "tags": _tags(args, request),
    }
    kwargs.update(_compute(args))
    kwargs.update(_queue_settings(args))
    kwargs["distribution"] = _typed(args, "distribution", DISTRIBUTIONS)
    kwargs["identity"] = _typed(args, "identity", IDENTITIES)
    kwargs["timeout"] = args.positive_int("timeout")
    kwargs["description"] = args.get("description", str)
    kwargs["properties"] = _strings(args, "properties") or None
    return {"image": request.image, "command": {k: v for k, v in kwargs.items() if v is not None}}


def _name(args: Args, key: str, default: str) -> str:
    value = args.get(key, str) or default
    if not NAME.match(value):
        raise args.error(key, value, "1-255 letters, digits, '_' or '-', starting with a letter or digit")
    return value


def _experiment_default(project: str) -> str:
    """The W&B project as an Azure experiment name (other characters become ``-``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", project).lstrip("-_")[:255] or "wandb-launch"


def _command(args: Args, request: LaunchRequest) -> str:
    """The entry point (operator's or W&B job's) wins; ``command`` in resource_args is the fallback."""
    if request.entry_point:
        return shlex.join(request.entry_point)
    command = args.get("command", str)
    if not command or not command.strip():
        raise ResourceArgsError(
            RESOURCE,
            "entry_point",
            None,
            "a command to run: Azure ML runs a command in the image, not its own entry point "
            "(give the operator entry_point, or 'command' in resource_args)",
        )
    return command


def _strings(args: Args, key: str) -> dict[str, str]:
    values = args.get(key, dict, default={})
    for name, value in values.items():
        if not isinstance(value, (str, int, float, bool)):
            raise args.error(f"{key}.{name}", value, "a string, number or boolean")
    return {str(k): str(v) for k, v in values.items()}


def _environment(args: Args, env: dict[str, str]) -> dict[str, str]:
    return {**env, **_strings(args, "environment_variables")}


def _tags(args: Args, request: LaunchRequest) -> dict[str, str]:
    tags = _strings(args, "tags")
    tags[RUN_ID_TAG] = request.run.run_id
    for key, value in request.airflow_ids.items():
        tags["airflow-" + key.replace("_", "-")] = str(value)
    return tags


def _compute(args: Args) -> dict[str, Any]:
    """A compute cluster (``compute``), or serverless compute sized by ``instance_type`` / ``instance_count``."""
    compute = args.get("compute", str)
    instance_type = args.get("instance_type", str)
    if not (compute or instance_type):
        raise args.error("compute", None, "a compute cluster name, or instance_type for serverless compute")
    shm_size = args.get("shm_size", str)
    if shm_size is not None and not SHM_SIZE.match(shm_size):
        raise args.error("shm_size", shm_size, "a size such as '8g' (a number, then b, k, m or g)")
    locations = args.get("locations", list)
    if locations is not None and not all(isinstance(x, str) for x in locations):
        raise args.error("locations", locations, "a list of Azure region names")
    return {
        "compute": compute,
        "instance_type": instance_type,
        "instance_count": args.positive_int("instance_count"),
        "shm_size": shm_size,
        "docker_args": args.get("docker_args", str),
        "locations": locations,
    }


def _queue_settings(args: Args) -> dict[str, str]:
    """``queue_settings: {job_tier, priority}`` (job YAML) or top-level ``job_tier`` / ``priority`` (command())."""
    queue = args.child("queue_settings")
    queue.only(frozenset({"job_tier", "priority"}))
    out = {}
    for key, choices in (("job_tier", JOB_TIERS), ("priority", dict(zip(PRIORITIES, PRIORITIES, strict=True)))):
        nested, top = queue.get(key, str), args.get(key, str)
        if nested and top and nested.lower() != top.lower():
            raise args.error(key, top, f"the same value as queue_settings.{key} ({nested!r}), or only one")
        value, where = (nested, queue) if nested else (top, args)
        if value is None:
            continue
        if value.lower() not in choices:
            raise where.error(key, value, f"one of {sorted(choices.values())} (any case)")
        out[key] = choices[value.lower()]
    return out


def _typed(args: Args, key: str, kinds: dict[str, frozenset[str]]) -> dict[str, Any] | None:
    """A ``{"type": ..., ...}`` mapping (distribution, identity) whose keys fit its type."""
    if args.get(key, dict) is None:
        return None
    child = args.child(key)
    kind = child.get("type", str, required=True)
    if kind.lower() not in kinds:
        raise child.error("type", kind, f"one of {sorted(kinds)} (any case)")
    child.only(kinds[kind.lower()])
    for name in child.data:
        if "_count" in name:
            child.positive_int(name)
        elif name != "type":
            child.get(name, str)
    return {**child.data, "type": kind.lower()}


# -- states (pure) --------------------------------------------------------------------------------------------


def job_status(status: str, error: str | None = None, details: dict[str, Any] | None = None) -> JobStatus:
    """Normalize an Azure ML job status (``Job.status``).

    :param status: ``Job.status``.
    :param error: a failed job's message from Run History.
    :param details: an ended job's ``start_time`` / ``end_time`` (ISO 8601) from Run History, for its cost.
    """
    state = STATES.get(status, JobState.RUNNING)
    message = None
    if status == "Failed":
        message = error or "the job failed (Azure ML gave no error; see the job's logs in Azure ML studio)"
    elif status in EXPLAINED:
        message = EXPLAINED[status]
    return JobStatus(state, status, message, dict(details or {}))


def pricing_inputs(payload: dict[str, Any], region: str | None) -> PricingInputs:
    """What a cost estimate needs from a built command job (see ``airflow_wandb_launch.cost.estimate``). Pure.

    On a ``compute`` cluster the VM size is the cluster's, not in the job: ``instance_type`` is then ``None``.

    :param payload: ``build_command_job``'s result.
    :param region: the workspace's Azure region.
    """
    kwargs = payload["command"]
    count = int(kwargs.get("instance_count") or 1)
    compute = kwargs.get("compute")
    machine = Machine(None, count, compute) if compute else Machine(kwargs.get("instance_type"), count)
    spot = kwargs.get("job_tier") == "Spot"
    return PricingInputs(RESOURCE, region, spot, (machine,))


def studio_url(job_name: str, workspace: dict[str, str], cloud: str | None = None, tenant: str | None = None) -> str:
    """The job's page in Azure ML studio (azure.ai.ml's ``studio_url_from_job_id`` format, ``&tid=`` if known)."""
    host = STUDIO_HOSTS.get(cloud or "AzureCloud", STUDIO_HOSTS["AzureCloud"])
    url = (
        f"{host}/runs/{job_name}?wsid=/subscriptions/{workspace['subscription_id']}"
        f"/resourcegroups/{workspace['resource_group']}/workspaces/{workspace['workspace_name']}"
    )
    return f"{url}&tid={tenant}" if tenant else url


# -- the backend ----------------------------------------------------------------------------------------------


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

    def __init__(self, **connection_args: Any) -> None:
        super().__init__(**connection_args)
        self._client: Any = None
        self._conn: Any = None

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

    # -- the job --------------------------------------------------------------------------------------------
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
        ref = JobRef(RESOURCE, name, run, {k: v for k, v in where.items() if v}, self._pricing(payload))
        try:
            client.jobs.get(name)
            log.info("Azure ML job %s exists already (a re-executed try): attaching to it.", name)
            return ref
        except ResourceNotFoundError:
            pass
        job = command(environment=Environment(image=payload["image"]), **kwargs)
        client.jobs.create_or_update(job)
        return ref

    def _pricing(self, payload: dict[str, Any]) -> PricingInputs:
        """The pricing inputs, with the workspace's region (best effort: None if it cannot be read)."""
        try:
            region = self.client.workspaces.get(self.workspace()["workspace_name"]).location
        except Exception as err:
            log.warning("Could not read the Azure ML workspace's region (no cost estimate): %s", err)
            region = None
        return pricing_inputs(payload, region)

    def status(self, ref: JobRef) -> JobStatus:
        job = self.client.jobs.get(ref.job_id)
        state = str(getattr(job.status, "value", job.status))
        if not STATES.get(state, JobState.RUNNING).terminal:
            return job_status(state)
        error, details = self._run_history(ref.job_id)
        return job_status(state, error if state == "Failed" else None, details)

    def _run_history(self, name: str) -> tuple[str | None, dict[str, str]]:
        """An ended job's error and start/end times: Azure keeps them in Run History, not on the job. Best effort."""
        try:
            run = self.client.jobs._runs_operations.get_run_details(name)
        except Exception as err:
            log.warning("Could not read Azure ML job %s from Run History: %s", name, err)
            return None, {}
        times = {"start_time": run.start_time_utc, "end_time": run.end_time_utc}
        details = {key: value.isoformat() for key, value in times.items() if value is not None}
        return (run.error or {}).get("error", {}).get("message") or None, details

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

    def job_url(self, ref: JobRef) -> str | None:
        where = ref.cloud
        if set(WORKSPACE_EXTRAS) <= set(where):
            return studio_url(ref.job_id, where, where.get("cloud"), where.get("tenant_id"))
        return studio_url(ref.job_id, self.workspace(), self.cloud, connection_extra(self.connection, "tenantId"))

    def close(self) -> None:
        self._client = None
