"""``vertex``: a Vertex AI CustomJob through ``google.cloud.aiplatform_v1``'s REST JobService clients.

``build_custom_job`` (in ``vertex_spec``) turns W&B Launch's Vertex queue config into the CustomJob;
``job_status`` here normalizes a CustomJob read. Both are pure. The clients load lazily: importing
``google.cloud.aiplatform`` costs ~10 s, so only ``aiplatform_v1`` is imported, and only when a job runs.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar

from airflow_wandb_launch.backends.base import Backend
from airflow_wandb_launch.backends.vertex_spec import RESOURCE, RUN_ID_LABEL, build_custom_job
from airflow_wandb_launch.cost.hardware import vertex_instance_type
from airflow_wandb_launch.cost.inputs import Machine, PricingInputs
from airflow_wandb_launch.errors import MissingExtraError, ResourceArgsError
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity

DEFAULT_ENDPOINT = "{region}-aiplatform.googleapis.com"
#: the CustomJob's console page, as aiplatform 2.7's ``CustomJob._dashboard_uri()`` composes it.
CONSOLE_URL = "https://console.cloud.google.com/agent-platform/locations/{region}/training/{job}?project={project}"
JOB_NAME = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/customJobs/(?P<job>[^/]+)$")
#: seconds one API call may take before it is abandoned (a hung endpoint must not hang the task).
CALL_TIMEOUT = 60.0
#: back-off of sync calls over transient faults (the sync REST client does not retry by itself).
RETRY_INITIAL, RETRY_MAXIMUM, RETRY_DEADLINE = 0.5, 8.0, 60.0

#: JobState name -> (normalized state, why it is a failure when it is one).
STATES: dict[str, tuple[JobState, str | None]] = {
    "JOB_STATE_QUEUED": (JobState.PENDING, None),
    "JOB_STATE_PENDING": (JobState.PENDING, None),
    "JOB_STATE_RUNNING": (JobState.RUNNING, None),
    "JOB_STATE_UPDATING": (JobState.RUNNING, None),
    "JOB_STATE_SUCCEEDED": (JobState.SUCCEEDED, None),
    "JOB_STATE_FAILED": (JobState.FAILED, "the CustomJob failed"),
    "JOB_STATE_CANCELLING": (JobState.STOPPING, None),
    "JOB_STATE_CANCELLED": (JobState.STOPPED, "the CustomJob was cancelled"),
    "JOB_STATE_EXPIRED": (JobState.TIMED_OUT, "Vertex AI expired the CustomJob (it passed its time limit)"),
    "JOB_STATE_PAUSED": (JobState.FAILED, "the CustomJob was paused; a paused job does not resume by itself"),
    "JOB_STATE_PARTIALLY_SUCCEEDED": (
        JobState.FAILED,
        "the CustomJob only partially succeeded: some of its work failed",
    ),
}
#: JobState names by enum value, for reads that carry the number (``enum-encoding=int``).
STATE_NAMES = (
    "JOB_STATE_UNSPECIFIED",
    "JOB_STATE_QUEUED",
    "JOB_STATE_PENDING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLING",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_PAUSED",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_UPDATING",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
)
_TIME_FIELDS = ("create_time", "start_time", "end_time", "update_time")
_CLOSING: set[asyncio.Task] = set()


def job_status(custom_job: dict[str, Any]) -> JobStatus:
    """Normalize a CustomJob read (``CustomJob.to_dict()``, snake_case). Pure.

    Unknown states read as running: the deadline, not a guess, ends a job we do not understand.
    """
    state = custom_job.get("state") or "JOB_STATE_UNSPECIFIED"
    if isinstance(state, int):
        state = STATE_NAMES[state] if 0 <= state < len(STATE_NAMES) else str(state)
    normalized, why = STATES.get(state, (JobState.RUNNING, None))
    message = None
    if why is not None:
        error = (custom_job.get("error") or {}).get("message")
        message = f"{why}: {error}" if error and normalized is not JobState.FAILED else error or why
    return JobStatus(normalized, state, message, _details(custom_job))


def _details(custom_job: dict[str, Any]) -> dict[str, Any]:
    """When it ran and on what (for cost accounting); JSON-safe."""
    details: dict[str, Any] = {key: str(custom_job[key]) for key in _TIME_FIELDS if custom_job.get(key)}
    spec = custom_job.get("job_spec") or {}
    pools = []
    for pool in spec.get("worker_pool_specs") or []:
        machine = pool.get("machine_spec") or {}
        pools.append(
            {
                "machine_type": machine.get("machine_type"),
                "accelerator_type": machine.get("accelerator_type"),
                "accelerator_count": int(machine.get("accelerator_count") or 0),
                "replica_count": int(pool.get("replica_count") or 0),
            }
        )
    if pools:
        details["worker_pools"] = pools
    strategy = (spec.get("scheduling") or {}).get("strategy")
    if strategy:
        details["scheduling_strategy"] = str(strategy)
    return details


def pricing_inputs(payload: dict[str, Any], region: str | None) -> PricingInputs:
    """What a cost estimate needs from a built CustomJob (see ``airflow_wandb_launch.cost.estimate``). Pure.

    Replicas are counted over all worker pools, per machine (``vertex_instance_type``): pools of one machine add
    up, and a job whose pools use different machines lists each, to be priced at its own rate.

    :param payload: the built CustomJob (``build_custom_job``'s snake_case dict).
    :param region: the Vertex AI region.
    """
    spec = payload.get("job_spec") or {}
    counts: dict[str, int] = {}
    for pool in spec.get("worker_pool_specs") or []:
        if pool.get("machine_spec"):  # an empty pool only holds a position
            key = vertex_instance_type(pool["machine_spec"])
            counts[key] = counts.get(key, 0) + int(pool.get("replica_count") or 1)
    spot = str((spec.get("scheduling") or {}).get("strategy") or "").upper() == "SPOT"
    machines = tuple(Machine(key, count) for key, count in counts.items())
    return PricingInputs(RESOURCE, region, spot, machines)


def console_url(job_name: str, project: str | None = None) -> str | None:
    """The CustomJob's page in the Google Cloud console, from its resource name."""
    match = JOB_NAME.match(job_name)
    if not match:
        return None
    return CONSOLE_URL.format(region=match["region"], job=match["job"], project=project or match["project"])


class VertexBackend(Backend):
    """Vertex AI CustomJobs.

    :param gcp_conn_id: Airflow Google Cloud connection (credentials; extras ``project``, ``region``
        or ``location``, and ``api_endpoint`` are read from it).
    :param project_id: GCP project; default: the connection's ``project`` extra, else the credentials'.
    :param region: Vertex AI region; default: the connection's ``region`` (or ``location``) extra.
    :param impersonation_chain: service account(s) to impersonate, as in the Google provider.
    :param api_endpoint: the JobService endpoint (default ``{region}-aiplatform.googleapis.com``):
        Private Service Connect, or an emulator at ``http://127.0.0.1:PORT``.
    """

    resource = RESOURCE
    aliases = ("vertex", "gcp-vertex", "vertex-ai")
    extra = "google"
    connection_params: ClassVar = {
        "gcp_conn_id": "google_cloud_default",
        "project_id": None,
        "region": None,
        "impersonation_chain": None,
        "api_endpoint": None,
    }

    def __init__(self, **connection_args: Any) -> None:
        super().__init__(**connection_args)
        self._hook: Any = None
        self._client: Any = None
        self._async_client: Any = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    # -- connection ---------------------------------------------------------------------------------------

    @property
    def hook(self) -> Any:
        if self._hook is None:
            try:
                from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
            except ImportError as err:
                raise MissingExtraError(RESOURCE, "google", err) from err
            self._hook = GoogleBaseHook(
                gcp_conn_id=self.connection_args["gcp_conn_id"],
                impersonation_chain=self.connection_args["impersonation_chain"],
            )
        return self._hook

    def _setting(self, name: str, *extras: str) -> Any:
        """A connection argument, else the first of the connection's ``extras`` that is set."""
        value = self.connection_args.get(name)
        for extra in extras:
            value = value or self.hook._get_field(extra, None)
        return value

    @property
    def region(self) -> str:
        region = self._setting("region", "region", "location")
        if not region:
            raise ResourceArgsError(
                RESOURCE, "region", None, f"a Vertex AI region (or a 'region' extra on {self._conn_name()})"
            )
        return region

    @property
    def project(self) -> str:
        project = self.connection_args.get("project_id") or self.hook.get_credentials_and_project_id()[1]
        if not project:
            raise ResourceArgsError(
                RESOURCE, "project_id", None, f"a GCP project (or a 'project' extra on {self._conn_name()})"
            )
        return project

    def _conn_name(self) -> str:
        return f"connection {self.connection_args['gcp_conn_id']!r}"

    def _client_kwargs(self, transport: str) -> dict[str, Any]:
        endpoint = self._setting("api_endpoint", "api_endpoint") or DEFAULT_ENDPOINT.format(region=self.region)
        credentials = self.hook.get_credentials_and_project_id()[0]
        return {"credentials": credentials, "transport": transport, "client_options": {"api_endpoint": endpoint}}

    @property
    def client(self) -> Any:
        """The sync JobServiceClient (REST), built once."""
        if self._client is None:
            self._client = _v1().JobServiceClient(**self._client_kwargs("rest"))
        return self._client

    async def _aclient(self) -> Any:
        """The async JobServiceClient (REST over aiohttp), built once in the running event loop."""
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._async_loop is not loop:
            v1 = await asyncio.to_thread(_v1)  # a first import takes seconds: not on the event loop
            kwargs = await asyncio.to_thread(self._client_kwargs, "rest_asyncio")  # may read files or metadata
            self._async_client = v1.JobServiceAsyncClient(**kwargs)
            self._async_loop = loop
        return self._async_client

    # -- the four verbs -----------------------------------------------------------------------------------

    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        return build_custom_job(request, resource_args, env)

    def submit(self, payload: dict[str, Any], run: RunIdentity) -> JobRef:
        v1 = _v1()
        try:
            custom_job = v1.CustomJob(payload)
        except (ValueError, KeyError, TypeError) as err:  # an enum name Vertex does not know, say
            raise ResourceArgsError(RESOURCE, "spec", payload.get("job_spec"), f"a valid CustomJob ({err})") from err
        parent = f"projects/{self.project}/locations/{self.region}"
        created = self._create(parent, custom_job, payload["labels"][RUN_ID_LABEL])
        pricing = pricing_inputs(payload, self.region)
        return JobRef(RESOURCE, created.name, run, {"project": self.project, "region": self.region}, pricing)

    def _create(self, parent: str, custom_job: Any, run_id: str) -> Any:
        """Create the job. A 429 is retried; after a 500/503 (which may have created it) look before retrying."""
        from google.api_core import exceptions

        retry = _retry(exceptions.TooManyRequests)
        try:
            return self.client.create_custom_job(
                parent=parent, custom_job=custom_job, retry=retry, timeout=CALL_TIMEOUT
            )
        except (exceptions.InternalServerError, exceptions.ServiceUnavailable) as err:
            existing = self._find_by_run_id(parent, run_id)
            if existing is not None:
                self.hook.log.info("Create answered %s but job %s exists: attaching to it.", err, existing.name)
                return existing
            self.hook.log.warning("Creating the CustomJob failed (%s); trying once more.", err)
            return self.client.create_custom_job(
                parent=parent, custom_job=custom_job, retry=retry, timeout=CALL_TIMEOUT
            )

    def _find_by_run_id(self, parent: str, run_id: str) -> Any:
        jobs = self.client.list_custom_jobs(
            request={"parent": parent, "filter": f'labels.{RUN_ID_LABEL}="{run_id}"'},
            retry=_read_retry(),
            timeout=CALL_TIMEOUT,
        )
        return next((job for job in jobs if job.labels.get(RUN_ID_LABEL) == run_id), None)

    def status(self, ref: JobRef) -> JobStatus:
        job = self.client.get_custom_job(name=ref.job_id, retry=_read_retry(), timeout=CALL_TIMEOUT)
        return job_status(_as_dict(job))

    async def astatus(self, ref: JobRef) -> JobStatus:
        client = await self._aclient()  # the rest_asyncio transport retries 429/500/503 itself
        status = job_status(_as_dict(await client.get_custom_job(name=ref.job_id, timeout=CALL_TIMEOUT)))
        if status.state.terminal:
            await self._aclose()  # the trigger stops polling now; not every runner calls cleanup()
        return status

    def cancel(self, ref: JobRef) -> None:
        from google.api_core import exceptions

        try:
            self.client.cancel_custom_job(name=ref.job_id, retry=_read_retry(), timeout=CALL_TIMEOUT)
        except (exceptions.BadRequest, exceptions.FailedPrecondition) as err:
            self.hook.log.info("CustomJob %s was not cancelled: it has already ended (%s).", ref.job_id, err)

    async def acancel(self, ref: JobRef) -> None:
        from google.api_core import exceptions

        client = await self._aclient()
        try:
            await client.cancel_custom_job(name=ref.job_id, timeout=CALL_TIMEOUT)
        except (exceptions.BadRequest, exceptions.FailedPrecondition) as err:
            self.hook.log.info("CustomJob %s was not cancelled: it has already ended (%s).", ref.job_id, err)
        finally:
            await self._aclose()  # a cancel ends the trigger (kill, deadline): release the HTTP session

    async def _aclose(self) -> None:
        client, self._async_client, self._async_loop = self._async_client, None, None
        if client is not None:
            await client.transport.close()

    def job_url(self, ref: JobRef) -> str | None:
        return console_url(ref.job_id, ref.cloud.get("project"))

    def close(self) -> None:
        """Drop the clients; the async one's HTTP session is closed in its own event loop."""
        client, loop = self._async_client, self._async_loop
        self._client = self._async_client = self._async_loop = None
        if client is None or loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task = loop.create_task(client.transport.close())
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)


def _v1() -> Any:
    try:
        from google.cloud import aiplatform_v1
    except ImportError as err:
        raise MissingExtraError(RESOURCE, "google", err) from err
    return aiplatform_v1


def _as_dict(custom_job: Any) -> dict[str, Any]:
    return type(custom_job).to_dict(custom_job, use_integers_for_enums=False)


def _retry(*errors: type[BaseException]) -> Any:
    from google.api_core.retry import Retry, if_exception_type

    return Retry(
        predicate=if_exception_type(*errors),
        initial=RETRY_INITIAL,
        maximum=RETRY_MAXIMUM,
        multiplier=2.0,
        timeout=RETRY_DEADLINE,
    )


def _read_retry() -> Any:
    """Idempotent calls ride over 429/500/503 and dropped connections."""
    import requests
    from google.api_core import exceptions

    return _retry(
        exceptions.TooManyRequests,
        exceptions.InternalServerError,
        exceptions.ServiceUnavailable,
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
    )


__all__ = ["STATES", "VertexBackend", "build_custom_job", "console_url", "job_status", "pricing_inputs"]
