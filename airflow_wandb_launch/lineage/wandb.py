"""The W&B side of a launch as OpenLineage datasets: the job artifact and artifacts used in, logged ones out. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_wandb_launch.lineage.datasets import DatasetRef, Lineage, unique

#: the namespace scheme of W&B artifacts (``wandb://wandb.ai``).
WANDB_SCHEME = "wandb"
DEFAULT_WANDB_HOST = "wandb.ai"
#: ``ExternalQueryRunFacet.source`` of the W&B run.
WANDB_SOURCE = "wandb"


def wandb_namespace(host: str) -> str:
    return f"{WANDB_SCHEME}://{host}"


def wandb_host(run_url: str | None, base_url: str | None = None) -> str:
    """The W&B server's host, as artifacts' namespace names it: the run page's host, else the web app of
    ``base_url`` (the API: ``api.wandb.ai`` -> ``wandb.ai``), else ``wandb.ai``."""
    if run_url and (host := urlsplit(run_url).netloc.rpartition("@")[2]):
        return host.lower()
    if base_url:
        from airflow_wandb_launch.launch.run import app_url

        if host := urlsplit(app_url(base_url)).netloc.rpartition("@")[2]:
            return host.lower()
    return DEFAULT_WANDB_HOST


def artifact_dataset(artifact: Any, host: str) -> DatasetRef | None:
    """A W&B artifact as a dataset: ``wandb://<host>``, ``entity/project/name:version``.

    :param artifact: a LaunchResult ``artifacts`` entry (its ``uri``), a ``wandb-artifact://`` URI or an
        ``entity/project/name:alias`` path.
    :param host: the W&B server's host.
    """
    uri = artifact.get("uri") if isinstance(artifact, Mapping) else artifact
    if not isinstance(uri, str) or not uri.strip():
        return None
    path = uri.strip()
    prefix = "wandb-artifact://"
    if path.lower().startswith(prefix):
        path = path[len(prefix) :]
    path = path.strip("/")
    return DatasetRef(wandb_namespace(host), path) if path else None


def result_datasets(result: Mapping[str, Any] | None, host: str, job: str | None = None) -> Lineage:
    """The W&B side of a launch: the job artifact and the artifacts the run used in, those it logged out.

    :param result: the LaunchResult (None: the run's artifacts are unknown).
    :param host: the W&B server's host.
    :param job: the operator's W&B job (``entity/project/name:alias``), if it ran one.
    """
    used = [job] if job else []
    used += list((result or {}).get("used_artifacts") or ())
    logged = (result or {}).get("artifacts") or ()
    inputs = [d for d in (artifact_dataset(a, host) for a in used) if d is not None]
    outputs = [d for d in (artifact_dataset(a, host) for a in logged) if d is not None]
    return Lineage(unique(inputs), unique(outputs))


#: the ``wandbLaunch`` facet's fields -> the LaunchResult (or XCom) keys they are read from.
FACET_FIELDS = {
    "runId": "run_id",
    "runPath": "run_path",
    "runUrl": "run_url",
    "runState": "run_state",
    "resource": "resource",
    "jobId": "job_id",
    "jobUrl": "job_url",
    "jobState": "job_state",
    "costUsd": "cost_usd",
}


def facet_fields(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The ``wandbLaunch`` run facet's fields from a LaunchResult (or what XCom holds of it)."""
    return {name: facts.get(key) for name, key in FACET_FIELDS.items()}
