"""``vertex``: a Vertex AI CustomJob through ``google.cloud.aiplatform_v1``'s REST JobService clients.

``request.build_custom_job`` turns W&B Launch's Vertex queue config into the CustomJob; ``states.job_status``
normalizes a CustomJob read. Both are pure. The clients load lazily (``client``), only when a job runs. The
triggerer reads many jobs of one connection with a few ``ListCustomJobs`` pages (``batch``), and a running job's
lines from Cloud Logging (``logs``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, ClassVar

from airflow_wandb_launch.backends.base import Backend
from airflow_wandb_launch.backends.vertex import RESOURCE, capacity
from airflow_wandb_launch.backends.vertex.batch import (
    CREATED_AT,
    cannot_list,
    creation_epoch,
    list_statuses,
    listing_start,
    needs_get,
    plan,
)
from airflow_wandb_launch.backends.vertex.client import (
    CALL_TIMEOUT,
    DEFAULT_ENDPOINT,
    aiplatform_v1,
    as_dict,
    read_retry,
    retry_on,
)
from airflow_wandb_launch.backends.vertex.links import console_url
from airflow_wandb_launch.backends.vertex.logs import (
    DEFAULT_LOGGING_ENDPOINT,
    MAX_JOBS_PER_QUERY,
    JobLogs,
    read_log_chunk,
    read_log_chunks,
)
from airflow_wandb_launch.backends.vertex.pricing import pricing_inputs
from airflow_wandb_launch.backends.vertex.request import RUN_ID_LABEL, build_custom_job
from airflow_wandb_launch.backends.vertex.states import job_status
from airflow_wandb_launch.errors import MissingExtraError, ResourceArgsError
from airflow_wandb_launch.launch.job import JobRef, JobStatus
from airflow_wandb_launch.launch.logs import LogChunk, LogRead
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity

log = logging.getLogger(__name__)

_CLOSING: set[asyncio.Task] = set()


#: the label a fallback's attempt (1, 2, ...) carries: its jobs share the first attempt's ``wandb-run-id``.
ATTEMPT_LABEL = "airflow-attempt"
#: ``_find_by_run_id``: a job of any attempt.
ANY_ATTEMPT = object()


class VertexBackend(Backend):
    """Vertex AI CustomJobs.

    :param gcp_conn_id: Airflow Google Cloud connection (credentials; extras ``project``, ``region``
        or ``location``, and ``api_endpoint`` are read from it).
    :param project_id: GCP project; default: the connection's ``project`` extra, else the credentials'.
    :param region: Vertex AI region; default: the connection's ``region`` (or ``location``) extra.
    :param impersonation_chain: service account(s) to impersonate, as in the Google provider.
    :param api_endpoint: the JobService endpoint (default ``{region}-aiplatform.googleapis.com``):
        Private Service Connect, or an emulator at ``http://127.0.0.1:PORT``.
    :param logging_api_endpoint: the Cloud Logging endpoint a running job's lines are read from (default: the
        connection's ``logging_api_endpoint`` extra, else ``https://logging.googleapis.com``).
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
        "logging_api_endpoint": None,
    }
    streams_logs = True
    batches_log_reads = True  # Cloud Logging rations entries.list per project: one query reads many jobs

    def __init__(self, **connection_args: Any) -> None:
        super().__init__(**connection_args)
        self._hook: Any = None
        self._client: Any = None
        self._async_client: Any = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._may_list = True
        self._logging: Any = None
        self._logging_lock = threading.Lock()

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
        from airflow.providers.google.common.hooks.base_google import get_field

        value = self.connection_args.get(name)
        for extra in extras:
            value = value or get_field(self.hook.extras, extra)
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
            self._client = aiplatform_v1().JobServiceClient(**self._client_kwargs("rest"))
        return self._client

    def prepare_client(self) -> None:
        self.client  # noqa: B018 - the sync client the listing reads with (and the connection read), built now

    @property
    def logging_client(self) -> Any:
        """The connection's Cloud Logging client (JSON over HTTP), built on first use: the triggerer builds it in a
        thread, once per backend, so every trigger of the connection shares it."""
        with self._logging_lock:
            if self._logging is None:
                try:
                    from google.cloud import logging as cloud_logging
                except ImportError as err:
                    raise MissingExtraError(RESOURCE, "google", err) from err
                endpoint = self._setting("logging_api_endpoint", "logging_api_endpoint") or DEFAULT_LOGGING_ENDPOINT
                client = cloud_logging.Client(
                    project=self.project,
                    credentials=self.hook.get_credentials_and_project_id()[0],
                    _use_grpc=False,
                    client_options={"api_endpoint": endpoint},
                )
                client.logging_api  # noqa: B018 - its JSON API, built now rather than by racing threads
                self._logging = client
            return self._logging

    async def _aclient(self) -> Any:
        """The async JobServiceClient (REST over aiohttp), built once in the running event loop."""
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._async_loop is not loop:
            v1 = await asyncio.to_thread(aiplatform_v1)  # a first import takes seconds: not on the event loop
            kwargs = await asyncio.to_thread(self._client_kwargs, "rest_asyncio")  # may read files or metadata
            self._async_client = v1.JobServiceAsyncClient(**kwargs)
            self._async_loop = loop
        return self._async_client

    # -- the four verbs -----------------------------------------------------------------------------------

    @classmethod
    def request_lineage(cls, payload: dict[str, Any]) -> Any:
        from airflow_wandb_launch.backends.vertex.lineage import vertex_datasets

        return vertex_datasets(payload)

    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        return build_custom_job(request, resource_args, env)

    def submit(self, payload: dict[str, Any], run: RunIdentity) -> JobRef:
        v1 = aiplatform_v1()
        try:
            custom_job = v1.CustomJob(payload)
        except (ValueError, KeyError, TypeError) as err:  # an enum name Vertex does not know, say
            raise ResourceArgsError(RESOURCE, "spec", payload.get("job_spec"), f"a valid CustomJob ({err})") from err
        created = self._create(self._parent, custom_job, payload["labels"])
        return self._ref(created, run, pricing_inputs(payload, self.region))

    @property
    def _parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def _ref(self, custom_job: Any, run: RunIdentity, pricing: Any) -> JobRef:
        where = {"project": self.project, "region": self.region, CREATED_AT: creation_epoch(custom_job)}
        return JobRef(RESOURCE, custom_job.name, run, where, pricing)

    def find_submitted(self, payload: dict[str, Any], run: RunIdentity) -> JobRef | None:
        """Vertex assigns job ids: an interrupted submit's job is found by its ``wandb-run-id`` label (and, for a
        fallback's attempt, which shares the run, its ``airflow-attempt`` label)."""
        labels = payload["labels"]
        found = self._find_by_run_id(self._parent, labels[RUN_ID_LABEL], labels.get(ATTEMPT_LABEL))
        return self._ref(found, run, pricing_inputs(payload, self.region)) if found is not None else None

    def find_launched(self, run: RunIdentity, job_id: str | None) -> JobRef | None:
        found = self._find_by_run_id(self._parent, run.run_id)
        return self._ref(found, run, None) if found is not None else None

    def _create(self, parent: str, custom_job: Any, labels: dict[str, str]) -> Any:
        """Create the job. A 429 is retried; after a 500/503 (which may have created it) look before retrying."""
        from google.api_core import exceptions

        retry = retry_on(exceptions.TooManyRequests)
        try:
            return self.client.create_custom_job(
                parent=parent, custom_job=custom_job, retry=retry, timeout=CALL_TIMEOUT
            )
        except (exceptions.InternalServerError, exceptions.ServiceUnavailable) as err:
            existing = self._find_by_run_id(parent, labels[RUN_ID_LABEL], labels.get(ATTEMPT_LABEL))
            if existing is not None:
                self.hook.log.info("Create answered %s but job %s exists: attaching to it.", err, existing.name)
                return existing
            self.hook.log.warning("Creating the CustomJob failed (%s); trying once more.", err)
            return self.client.create_custom_job(
                parent=parent, custom_job=custom_job, retry=retry, timeout=CALL_TIMEOUT
            )

    def _find_by_run_id(self, parent: str, run_id: str, attempt: str | object | None = ANY_ATTEMPT) -> Any:
        """The job labelled with ``run_id`` (and, unless ``ANY_ATTEMPT``, ``airflow-attempt`` ``attempt``)."""
        jobs = self.client.list_custom_jobs(
            request={"parent": parent, "filter": f'labels.{RUN_ID_LABEL}="{run_id}"'},
            retry=read_retry(),
            timeout=CALL_TIMEOUT,
        )
        return next(
            (
                job
                for job in jobs
                if job.labels.get(RUN_ID_LABEL) == run_id
                and (attempt is ANY_ATTEMPT or job.labels.get(ATTEMPT_LABEL) == attempt)
            ),
            None,
        )

    def status(self, ref: JobRef) -> JobStatus:
        job = self.client.get_custom_job(name=ref.job_id, retry=read_retry(), timeout=CALL_TIMEOUT)
        return job_status(as_dict(job))

    async def astatus(self, ref: JobRef) -> JobStatus:
        client = await self._aclient()  # the rest_asyncio transport retries 429/500/503 itself
        return job_status(as_dict(await client.get_custom_job(name=ref.job_id, timeout=CALL_TIMEOUT)))

    async def astatus_many(self, refs: list[JobRef]) -> dict[str, JobStatus | BaseException]:
        """ListCustomJobs pages for the jobs created since the oldest one, GetCustomJob for those not listed;
        job by job if the listing is refused (no ``aiplatform.customJobs.list`` permission, say)."""
        listings, singles = plan(refs) if self._may_list else ({}, refs)
        listed: dict[str, JobStatus] = {}
        for parent, group in listings.items():
            try:
                listed |= await asyncio.to_thread(self._list, parent, group)
            except Exception as err:
                if not cannot_list(err):
                    raise
                log.warning("ListCustomJobs is refused (%s): reading each job with GetCustomJob instead.", err)
                self._may_list = False
                return await super().astatus_many(refs)
        unlisted = needs_get([ref for group in listings.values() for ref in group], listed)
        return {**listed, **await super().astatus_many(singles + unlisted)}

    def _list(self, parent: str, refs: list[JobRef]) -> dict[str, JobStatus]:
        """The listed statuses of ``refs`` (jobs of ``parent``), by name. Blocking."""
        wanted = {ref.job_id for ref in refs}
        return list_statuses(self.client, parent, listing_start(refs), wanted, retry=read_retry(), timeout=CALL_TIMEOUT)

    def cancel(self, ref: JobRef) -> None:
        from google.api_core import exceptions

        try:
            self.client.cancel_custom_job(name=ref.job_id, retry=read_retry(), timeout=CALL_TIMEOUT)
        except (exceptions.BadRequest, exceptions.FailedPrecondition) as err:
            self.hook.log.info("CustomJob %s was not cancelled: it has already ended (%s).", ref.job_id, err)

    async def acancel(self, ref: JobRef) -> None:
        from google.api_core import exceptions

        client = await self._aclient()
        try:
            await client.cancel_custom_job(name=ref.job_id, timeout=CALL_TIMEOUT)
        except (exceptions.BadRequest, exceptions.FailedPrecondition) as err:
            self.hook.log.info("CustomJob %s was not cancelled: it has already ended (%s).", ref.job_id, err)

    def log_lines(self, ref: JobRef, cursor: dict[str, Any] | None, limit: int, *, final: bool = False) -> LogChunk:
        """The job's Cloud Logging lines since ``cursor``, prefixed by replica (``[workerpool0-0] ...``); see
        ``logs``. Blocking."""
        project = ref.cloud.get("project") or self.project
        return read_log_chunk(self.logging_client, ref.job_id, project, cursor, limit, now=time.time())

    async def alog_many(self, reads: list[LogRead]) -> dict[str, LogChunk | BaseException]:
        """Many jobs' lines: one Cloud Logging query per project per ``MAX_JOBS_PER_QUERY`` jobs, each in a thread
        (``MAX_CONCURRENT_READS`` at a time); a failed query fails only its jobs' reads."""
        groups: dict[str, list[JobLogs]] = {}
        for one in reads:
            project = one.ref.cloud.get("project") or await asyncio.to_thread(lambda: self.project)
            created_at = one.ref.cloud.get(CREATED_AT)
            groups.setdefault(project, []).append(JobLogs(one.ref.job_id, one.cursor, one.limit, created_at))
        queries = [
            (project, jobs[i : i + MAX_JOBS_PER_QUERY])
            for project, jobs in groups.items()
            for i in range(0, len(jobs), MAX_JOBS_PER_QUERY)
        ]

        async def query(project: str, jobs: list[JobLogs]) -> dict[str, LogChunk | BaseException]:
            async with self.log_read_slots():
                try:
                    return await asyncio.to_thread(
                        lambda: read_log_chunks(self.logging_client, project, jobs, now=time.time())
                    )
                except Exception as err:
                    return dict.fromkeys((job.job_name for job in jobs), err)

        results: dict[str, LogChunk | BaseException] = {}
        for answered in await asyncio.gather(*(query(project, jobs) for project, jobs in queries)):
            results.update(answered)
        return results

    def fallback_reason(self, status: JobStatus) -> str | None:
        """A stockout or a spent quota (``error.code`` 8, RESOURCE_EXHAUSTED, and its message): see ``capacity``."""
        return capacity.is_capacity_failure(status)

    def refusal_reason(self, error: BaseException) -> str | None:
        """CreateCustomJob refused with RESOURCE_EXHAUSTED for a quota (not a throttle)."""
        return capacity.refusal_reason(*capacity.error_status(error))

    def job_url(self, ref: JobRef) -> str | None:
        return console_url(ref.job_id, ref.cloud.get("project"))

    def close(self) -> None:
        """Drop the clients (the logging one's HTTP session closed); the async one's HTTP session is closed in its
        own event loop."""
        client, loop = self._async_client, self._async_loop
        self._client = self._async_client = self._async_loop = None
        with self._logging_lock:
            logging_client, self._logging = self._logging, None
        if logging_client is not None:
            logging_client.close()
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
