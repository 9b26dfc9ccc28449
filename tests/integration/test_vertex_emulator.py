"""The Vertex AI emulator, driven through the real ``aiplatform_v1`` REST clients."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import unquote

import google.auth.aio.credentials as aio_credentials
import google.auth.exceptions
import pytest
import requests
from google.api_core import exceptions
from google.api_core.retry import Retry, if_exception_type
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1

from tests.emulators.lifecycle import Lifecycle
from tests.emulators.vertex import JOB_STATES, VertexEmulator

PARENT = "projects/p/locations/us-central1"
S = v1.JobState


@pytest.fixture(scope="module")
def server() -> Iterator[VertexEmulator]:
    with VertexEmulator() as emulator:
        yield emulator


@pytest.fixture
def vertex(server: VertexEmulator) -> VertexEmulator:
    server.reset()
    return server


@pytest.fixture
def client(vertex: VertexEmulator) -> v1.JobServiceClient:
    options = {"api_endpoint": vertex.endpoint}
    return v1.JobServiceClient(credentials=AnonymousCredentials(), transport="rest", client_options=options)


def async_client(vertex: VertexEmulator, credentials=None) -> v1.JobServiceAsyncClient:
    return v1.JobServiceAsyncClient(
        credentials=credentials or aio_credentials.AnonymousCredentials(),
        transport="rest_asyncio",
        client_options={"api_endpoint": vertex.endpoint},
    )


def custom_job(display_name: str = "train") -> v1.CustomJob:
    machine = v1.MachineSpec(
        machine_type="n1-standard-4", accelerator_type=v1.AcceleratorType.NVIDIA_TESLA_T4, accelerator_count=1
    )
    env = [v1.EnvVar(name="WANDB_RUN_ID", value="r1")]
    container = v1.ContainerSpec(image_uri="us-docker.pkg.dev/p/r/train:1", env=env)
    pool = v1.WorkerPoolSpec(machine_spec=machine, replica_count=1, container_spec=container)
    return v1.CustomJob(
        display_name=display_name,
        labels={"wandb-run-id": "r1"},
        job_spec=v1.CustomJobSpec(
            worker_pool_specs=[pool],
            base_output_directory=v1.GcsDestination(output_uri_prefix="gs://bucket/out"),
        ),
    )


def create(client: v1.JobServiceClient, display_name: str = "train") -> v1.CustomJob:
    return client.create_custom_job(parent=PARENT, custom_job=custom_job(display_name))


def states(client: v1.JobServiceClient, name: str, reads: int) -> list[v1.JobState]:
    return [client.get_custom_job(name=name).state for _ in range(reads)]


def test_job_states_match_the_sdk() -> None:
    assert {s.name: s.value for s in v1.JobState} == JOB_STATES


def test_create_then_get_walks_queued_running_succeeded(vertex, client) -> None:
    job = create(client)
    assert job.name.startswith(f"{PARENT}/customJobs/")
    assert job.state == S.JOB_STATE_QUEUED and job.create_time

    body = vertex.create_request(job.name)
    pool = body["jobSpec"]["workerPoolSpecs"][0]
    assert pool["containerSpec"]["env"] == [{"name": "WANDB_RUN_ID", "value": "r1"}]
    machine = {"machineType": "n1-standard-4", "acceleratorType": 5, "acceleratorCount": 1}
    assert pool["machineSpec"] == machine  # enums as ints
    assert pool["replicaCount"] == "1"  # int64 as a string
    assert body["labels"] == {"wandb-run-id": "r1"}
    assert body["jobSpec"]["baseOutputDirectory"] == {"outputUriPrefix": "gs://bucket/out"}
    assert "$alt=json;enum-encoding=int" in unquote(vertex.calls[0][1])

    queued, running, succeeded = (client.get_custom_job(name=job.name) for _ in range(3))
    assert [queued.state, running.state, succeeded.state] == [
        S.JOB_STATE_QUEUED,
        S.JOB_STATE_RUNNING,
        S.JOB_STATE_SUCCEEDED,
    ]
    assert not queued.start_time and running.start_time and not running.end_time
    assert succeeded.end_time >= succeeded.start_time
    assert vertex.job_names() == [job.name] and vertex.get_count(job.name) == 3


@pytest.mark.parametrize("credentials", [aio_credentials.AnonymousCredentials(), AnonymousCredentials()])
async def test_async_rest_client_gets_the_job(vertex, client, credentials) -> None:
    vertex.default_lifecycle = Lifecycle(("JOB_STATE_RUNNING", 1), "JOB_STATE_SUCCEEDED")
    name = create(client).name
    async with async_client(vertex, credentials) as aclient:
        assert (await aclient.get_custom_job(name=name)).state == S.JOB_STATE_RUNNING
        assert (await aclient.get_custom_job(name=name)).state == S.JOB_STATE_SUCCEEDED
    assert vertex.calls[-1][0] == "GET"
    assert "enum-encoding=int" in unquote(vertex.calls[-1][1])


def test_scripts_go_by_display_name_then_fifo(vertex, client) -> None:
    vertex.script(Lifecycle("JOB_STATE_PENDING"))
    vertex.script(Lifecycle("JOB_STATE_PAUSED"), display_name="special")
    special, plain, default = create(client, "special"), create(client, "a"), create(client, "b")
    assert special.state == S.JOB_STATE_PAUSED and plain.state == S.JOB_STATE_PENDING
    assert default.state == S.JOB_STATE_QUEUED
    assert vertex.job_names() == [special.name, plain.name, default.name]
    listed = client.list_custom_jobs(parent=PARENT)
    assert [j.name for j in listed] == vertex.job_names()
    assert vertex.get_count(special.name) == 0  # listing reads no lifecycle


def test_failed_job_carries_the_error(vertex, client) -> None:
    error = {"code": 3, "message": "Replica workerpool0-0 exited with a non-zero status of 1."}
    vertex.script(Lifecycle(("JOB_STATE_RUNNING", 1), ("JOB_STATE_FAILED", None, {"error": error})))
    name = create(client).name
    assert client.get_custom_job(name=name).state == S.JOB_STATE_RUNNING
    failed = client.get_custom_job(name=name)
    assert failed.state == S.JOB_STATE_FAILED and failed.end_time
    assert (failed.error.code, failed.error.message) == (3, error["message"])


def test_cancel_walks_cancelling_to_cancelled(vertex, client) -> None:
    vertex.script(Lifecycle("JOB_STATE_RUNNING"))
    name = create(client).name
    assert client.get_custom_job(name=name).state == S.JOB_STATE_RUNNING
    assert client.cancel_custom_job(name=name) is None
    assert states(client, name, 3) == [S.JOB_STATE_CANCELLING, S.JOB_STATE_CANCELLED, S.JOB_STATE_CANCELLED]
    cancelled = client.get_custom_job(name=name)
    assert cancelled.error.code == 1 and cancelled.end_time  # Vertex reports CANCELED (code 1)
    assert vertex.cancel_calls() == [name]


def test_cancel_finished_job_is_failed_precondition_as_bad_request(vertex, client) -> None:
    vertex.script(Lifecycle("JOB_STATE_SUCCEEDED"))
    name = create(client).name
    # REST maps errors by HTTP status only: 400 is BadRequest, never FailedPrecondition.
    with pytest.raises(exceptions.BadRequest) as raised:
        client.cancel_custom_job(name=name)
    assert type(raised.value) is exceptions.BadRequest
    assert raised.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert vertex.cancel_calls() == [name]


async def test_unknown_job_is_not_found(vertex, client) -> None:
    missing = f"{PARENT}/customJobs/42"
    with pytest.raises(exceptions.NotFound):
        client.get_custom_job(name=missing)
    with pytest.raises(exceptions.NotFound):
        client.cancel_custom_job(name=missing)
    async with async_client(vertex) as aclient:
        with pytest.raises(exceptions.NotFound):
            await aclient.get_custom_job(name=missing)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, exceptions.TooManyRequests),
        (500, exceptions.InternalServerError),
        (503, exceptions.ServiceUnavailable),
    ],
)
def test_sync_client_raises_faults_without_retrying(vertex, client, status, error) -> None:
    name = create(client).name
    vertex.faults.inject(status, times=2, method="GET")
    with pytest.raises(error) as raised:
        client.get_custom_job(name=name)
    assert raised.value.response.json()["error"]["code"] == status
    assert vertex.faults.served == [status] and vertex.get_count(name) == 0
    # An explicit retry rides over the next one.
    retry = Retry(predicate=if_exception_type(error), initial=0.01, maximum=0.05, timeout=5)
    assert client.get_custom_job(name=name, retry=retry).state == S.JOB_STATE_QUEUED
    assert vertex.faults.served == [status, status] and vertex.get_count(name) == 1


async def test_async_session_retries_transient_faults_three_attempts(vertex, client) -> None:
    name = create(client).name
    async with async_client(vertex) as aclient:
        vertex.faults.inject(503, times=3, method="GET")
        started = time.monotonic()
        with pytest.raises(exceptions.ServiceUnavailable):
            await aclient.get_custom_job(name=name)
        assert vertex.faults.served == [503] * 3
        assert time.monotonic() - started > 2.5  # backoff ~1 s then ~2 s
        vertex.faults.inject(429, method="GET")
        assert (await aclient.get_custom_job(name=name)).state == S.JOB_STATE_QUEUED
        assert vertex.faults.served == [503, 503, 503, 429]


async def test_slow_answer(vertex, client) -> None:
    name = create(client).name
    vertex.faults.inject(200, delay=0.3, method="GET")
    started = time.monotonic()
    assert client.get_custom_job(name=name).state == S.JOB_STATE_QUEUED
    assert time.monotonic() - started >= 0.3

    vertex.faults.inject(200, delay=1.0, method="GET")
    with pytest.raises(requests.exceptions.ReadTimeout):  # not wrapped in a GoogleAPICallError
        client.get_custom_job(name=name, timeout=0.2)
    async with async_client(vertex) as aclient:
        vertex.faults.inject(200, delay=1.0, method="GET")
        with pytest.raises(google.auth.exceptions.TimeoutError):
            await aclient.get_custom_job(name=name, timeout=0.2)
