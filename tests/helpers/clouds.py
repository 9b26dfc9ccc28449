"""Vertex AI and Azure ML emulator fixtures for any test module (a pytest plugin registered in tests/conftest.py).

- ``vertex``: the Vertex emulator (fresh jobs, scripts and log entries) behind an anonymous ``google_cloud_default``
  connection (project :data:`VERTEX_PROJECT`, region :data:`VERTEX_REGION`; JobService and Cloud Logging endpoint).
- ``aml``: the Azure ML emulator (https on loopback, which also serves Entra's token endpoint) behind
  ``azure_default`` with a client secret; any non-loopback host lookup fails the test.

Each emulator runs once per session; the fixtures reset it around every test. The ``container`` that plays a
job's W&B run stays in each test module (each module hooks it to its own cloud).
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.emulators.azure_ml import AzureMLEmulator
from tests.emulators.vertex import VertexEmulator

VERTEX_PROJECT, VERTEX_REGION = "test-project", "us-central1"
LOOPBACK = {"127.0.0.1", "localhost", socket.gethostname(), socket.getfqdn()}


@pytest.fixture(scope="session")
def _vertex_server():
    # Import the SDK once up front: a cold import takes seconds, which short execution_timeouts would measure.
    import airflow.providers.google.common.hooks.base_google  # noqa: F401
    import google.cloud.aiplatform_v1  # noqa: F401

    with VertexEmulator() as emulator:
        yield emulator


@pytest.fixture
def vertex(_vertex_server, monkeypatch):
    """The Vertex emulator (no jobs, no scripts) behind an anonymous ``google_cloud_default`` connection."""
    _vertex_server.reset()
    extra = {
        "is_anonymous": True,
        "project": VERTEX_PROJECT,
        "region": VERTEX_REGION,
        "api_endpoint": _vertex_server.endpoint,
        "logging_api_endpoint": _vertex_server.endpoint,  # it serves Cloud Logging's entries.list too
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "google_cloud_platform", "extra": extra})
    )
    monkeypatch.setattr("airflow_wandb_launch.backends.vertex.client.RETRY_INITIAL", 0.05)
    yield _vertex_server
    _vertex_server.reset()


@pytest.fixture(scope="session")
def _aml_server():
    with AzureMLEmulator(tls=True) as emulator:
        yield emulator


def azure_conn(aml: AzureMLEmulator, **extra) -> str:
    """An ``azure`` connection with a client secret whose authority is the emulator (no Entra, no network)."""
    extras = {
        "tenantId": "tenant-1",
        "authority_host": aml.base_url,
        "disable_instance_discovery": True,
        "subscriptionId": aml.subscription_id,
        "resource_group": aml.resource_group,
        "workspace_name": aml.workspace,
        **extra,
    }
    conn = {"conn_type": "azure", "login": "emulator-client", "password": "emulator-secret", "extra": extras}
    return json.dumps(conn)


@pytest.fixture
def aml(_aml_server, monkeypatch):
    """The emulator (fresh jobs and scripts) behind ``azure_default``; any non-loopback lookup fails."""
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in LOOPBACK:
            raise OSError(f"test tried to reach {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    monkeypatch.delenv("ARM_CLOUD_METADATA_URL", raising=False)  # else MLClient fetches cloud metadata
    monkeypatch.setenv("AZUREML_CURRENT_CLOUD", "AzureCloud")  # MLClient writes it; restored afterwards
    monkeypatch.setenv("AZUREML_DEV_URL_MFE", _aml_server.base_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", _aml_server.ca_file)
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_DEFAULT", azure_conn(_aml_server))
    _aml_server.reset()
    _aml_server.retry_after = 0
    yield _aml_server
    _aml_server.reset()
