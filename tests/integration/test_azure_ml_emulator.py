"""The Azure ML emulator, driven through the real ``azure.ai.ml.MLClient`` on loopback only."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from azure.ai.ml import MLClient, PyTorchDistribution, command
from azure.ai.ml.entities import Environment, JobResourceConfiguration, QueueSettings
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.emulators.azure_ml import AzureMLEmulator
from tests.emulators.lifecycle import Lifecycle

IMAGE = "ghcr.io/acme/trainer:1.2"
WS_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any name lookup other than loopback, so a stray call to Azure cannot leave the machine."""
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            raise OSError(f"test tried to reach {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    monkeypatch.delenv("ARM_CLOUD_METADATA_URL", raising=False)  # else MLClient fetches cloud metadata
    monkeypatch.setenv("AZUREML_CURRENT_CLOUD", "AzureCloud")  # MLClient writes it; restore afterwards


def _client(aml: AzureMLEmulator, monkeypatch: pytest.MonkeyPatch, **kwargs) -> MLClient:
    monkeypatch.setenv("AZUREML_DEV_URL_MFE", aml.base_url)  # read when MLClient is built
    if aml.ca_file:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", aml.ca_file)
    return MLClient(aml.credential(), aml.subscription_id, aml.resource_group, aml.workspace, **kwargs)


@pytest.fixture
def aml() -> Iterator[AzureMLEmulator]:
    with AzureMLEmulator() as emulator:
        yield emulator


@pytest.fixture
def ml(aml: AzureMLEmulator, monkeypatch: pytest.MonkeyPatch) -> MLClient:
    return _client(aml, monkeypatch)


def _job(name: str = "job-1", **kwargs):
    kwargs.setdefault("compute", "gpu-cluster")
    return command(
        name=name,
        command="python train.py --epochs 3",
        environment=Environment(image=IMAGE),
        environment_variables={"WANDB_PROJECT": "demo", "WANDB_RUN_ID": "r1"},
        tags={"wandb_run_id": "r1"},
        experiment_name="wandb-launch",
        **kwargs,
    )


def test_create_records_body_and_status_walks_the_lifecycle(aml: AzureMLEmulator, ml: MLClient) -> None:
    job = _job(distribution=PyTorchDistribution(process_count_per_instance=2))
    job.queue_settings = QueueSettings(job_tier="Spot")
    created = ml.jobs.create_or_update(job)

    assert created.name == "job-1" and created.status == "Queued"  # PUT reports without reading
    body = aml.create_request("job-1")["properties"]
    assert body["jobType"] == "Command"
    assert body["command"] == "python train.py --epochs 3"
    assert (
        body["computeId"]
        == f"{WS_ID}/providers/Microsoft.MachineLearningServices/workspaces/ws-test/computes/gpu-cluster"
    )
    assert body["environmentVariables"] == {"WANDB_PROJECT": "demo", "WANDB_RUN_ID": "r1"}
    assert body["tags"] == {"wandb_run_id": "r1"}
    assert body["experimentName"] == "wandb-launch"
    assert body["queueSettings"] == {"jobTier": "Spot"}
    assert body["distribution"] == {"distributionType": "PyTorch", "processCountPerInstance": 2}
    assert "/environments/CliV2AnonymousEnvironment/versions/" in body["environmentId"]
    assert [e["properties"]["image"] for e in aml.environment_requests()] == [IMAGE]

    statuses = [ml.jobs.get("job-1").status for _ in range(4)]
    assert statuses == ["Queued", "Running", "Completed", "Completed"]
    assert aml.get_count("job-1") == 4 and aml.job_names() == ["job-1"]
    assert ml.jobs.get("job-1").studio_url.startswith("https://ml.azure.com/runs/job-1")


def test_serverless_job_sends_resources(aml: AzureMLEmulator, ml: MLClient) -> None:
    job = _job("job-serverless", compute=None)
    job.resources = JobResourceConfiguration(instance_type="Standard_NC6s_v3", instance_count=2)
    ml.jobs.create_or_update(job)

    body = aml.create_request("job-serverless")["properties"]
    assert body["resources"]["instanceType"] == "Standard_NC6s_v3"
    assert body["resources"]["instanceCount"] == 2
    assert "computeId" not in body


def test_scripts_by_name_and_fifo(aml: AzureMLEmulator, ml: MLClient) -> None:
    aml.script(Lifecycle("Running"), name="job-b")
    aml.script(Lifecycle(("Preparing", 1), "Completed"))
    ml.jobs.create_or_update(_job("job-a"))
    ml.jobs.create_or_update(_job("job-b"))
    ml.jobs.create_or_update(_job("job-c"))

    assert [ml.jobs.get("job-a").status for _ in range(2)] == ["Preparing", "Completed"]
    assert ml.jobs.get("job-b").status == "Running"
    assert ml.jobs.get("job-c").status == "Queued"  # default lifecycle
    assert aml.lifecycle("job-a").reads == 2


def test_failed_job_error_lives_in_run_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """Azure keeps a failed job's error in Run History; MLClient reaches it only over https."""
    with AzureMLEmulator(tls=True) as aml:
        ml = _client(aml, monkeypatch)
        aml.script(Lifecycle(("Running", 1), ("Failed", None, {"error": "CUDA out of memory"})), "job-f")
        ml.jobs.create_or_update(_job("job-f"))

        assert [ml.jobs.get("job-f").status for _ in range(2)] == ["Running", "Failed"]
        details = ml.jobs._runs_operations.get_run_details("job-f")
        assert details.error["error"]["message"] == "CUDA out of memory"
        assert ("GET", "/discovery") in aml.requests  # workspace GET -> discoveryUrl -> run history host


def test_cancel_polls_location_then_job_reads_canceled(aml: AzureMLEmulator, ml: MLClient) -> None:
    aml.script(Lifecycle("Running"), "job-x")
    ml.jobs.create_or_update(_job("job-x"))
    assert ml.jobs.get("job-x").status == "Running"

    started = time.monotonic()
    # No Retry-After on the 202s, so the poller sleeps polling_interval (default 30 s) before each poll.
    assert ml.jobs.begin_cancel("job-x", polling_interval=0.05).result() is None
    assert time.monotonic() - started < 2
    assert aml.cancel_calls() == ["job-x"]
    assert sum(path.startswith("/operationResults/cancel/") for _, path in aml.requests) == 2
    assert [ml.jobs.get("job-x").status for _ in range(3)] == ["CancelRequested", "Canceled", "Canceled"]


def test_cancel_of_terminal_or_unknown_job_is_an_error(aml: AzureMLEmulator, ml: MLClient) -> None:
    aml.script(Lifecycle("Completed"), "job-done")
    ml.jobs.create_or_update(_job("job-done"))

    with pytest.raises(HttpResponseError) as info:
        ml.jobs.begin_cancel("job-done")
    assert info.value.status_code == 400 and "terminal state Completed" in info.value.message
    with pytest.raises(ResourceNotFoundError):
        ml.jobs.begin_cancel("nope")
    with pytest.raises(ResourceNotFoundError):
        ml.jobs.get("nope")


@pytest.mark.parametrize(("status", "retry_after", "minimum"), [(429, 1, 1.0), (503, 0, 0.0), (500, 0, 0.0)])
def test_retry_policy_absorbs_one_fault_on_get(
    aml: AzureMLEmulator, ml: MLClient, status: int, retry_after: int, minimum: float
) -> None:
    ml.jobs.create_or_update(_job())
    aml.retry_after = retry_after
    aml.faults.inject(status, method="GET")

    started = time.monotonic()
    assert ml.jobs.get("job-1").status == "Queued"
    elapsed = time.monotonic() - started
    assert minimum <= elapsed < minimum + 1.0  # first retry: Retry-After if > 0, else no backoff
    assert aml.faults.served == [status] and aml.get_count("job-1") == 1


def test_retry_policy_gives_up_after_three_status_retries(
    aml: AzureMLEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ml = _client(aml, monkeypatch, retry_backoff_factor=0.01)  # default 0.8 s: waits 0 + 1.6 + 3.2 s
    ml.jobs.create_or_update(_job())
    aml.retry_after = 0
    aml.faults.inject(503, times=5, method="GET")

    with pytest.raises(HttpResponseError) as info:
        ml.jobs.get("job-1")
    assert info.value.status_code == 503 and "Injected fault" in info.value.message
    assert aml.faults.served == [503] * 4  # one try + retry_status=3


def test_fault_on_create_is_retried(aml: AzureMLEmulator, ml: MLClient) -> None:
    aml.retry_after = 0
    aml.faults.inject(429, method="PUT")
    assert ml.jobs.create_or_update(_job()).name == "job-1"
    assert aml.faults.served == [429] and aml.job_names() == ["job-1"]


def test_slow_answer_and_reset(aml: AzureMLEmulator, ml: MLClient) -> None:
    ml.jobs.create_or_update(_job())
    aml.faults.inject(200, delay=0.3, method="GET")
    started = time.monotonic()
    assert ml.jobs.get("job-1").status == "Queued"
    assert time.monotonic() - started >= 0.3

    aml.reset()
    assert aml.job_names() == [] and aml.cancel_calls() == [] and aml.environment_requests() == []
    with pytest.raises(ResourceNotFoundError):
        ml.jobs.get("job-1")
