"""The azure-ai-ml calls outside its public API, kept in one place.

An ended job's error and its start and end times are not on the job resource (``MLClient.jobs.get``: the ARM
``JobBase`` properties carry status, services and display fields, no error or timing): Azure ML keeps them in Run
History. azure-ai-ml reads Run History only internally, through ``JobOperations._runs_operations`` (a
``RunOperations`` over the workspace's discovered Run History endpoint), as ``jobs.stream()`` does for its
execution summary. Checked against azure-ai-ml 1.35.2; if a release renames it, :func:`run_history` returns
nothing (a failed job then reads "Azure ML gave no error" and gets no cost estimate) rather than failing the task.

The same run details carry the job's ``log_files`` (path -> SAS URL), which ``jobs.stream()`` downloads through
``JobOperations._requests_pipeline`` (the client's general-purpose pipeline, without a credential: the SAS URL is
the authorization); ``logs`` reads them the same way (:func:`run_details`, :func:`requests_pipeline`), and raises if
a release renames them (the trigger reports it and keeps waiting for the job).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def run_history(client: Any, name: str) -> tuple[str | None, dict[str, str]]:
    """An ended job's error message and its ``start_time`` / ``end_time`` (ISO 8601) from Run History.

    Best effort: ``(None, {})`` if Run History cannot be read.

    :param client: the ``MLClient``.
    :param name: the job's name.
    """
    try:
        run = run_details(client, name)
    except Exception as err:
        log.warning("Could not read Azure ML job %s from Run History: %s", name, err)
        return None, {}
    times = {"start_time": run.start_time_utc, "end_time": run.end_time_utc}
    details = {key: value.isoformat() for key, value in times.items() if value is not None}
    return (run.error or {}).get("error", {}).get("message") or None, details


def run_details(client: Any, name: str) -> Any:
    """The job's Run History ``RunDetails`` (status, error, times, ``log_files``).

    :param client: the ``MLClient``.
    :param name: the job's name.
    """
    return client.jobs._runs_operations.get_run_details(name)


def requests_pipeline(client: Any) -> Any:
    """The ``MLClient``'s requests pipeline (``HttpPipeline``: ``.get(url, headers=...)``), its transport (one
    connection pool) shared with the client's other plain requests.

    Its retries are, in practice, the SDK's download policy (3 retries, 0.4 s backoff: what ``jobs.stream()`` reads
    log files with): the workspace discovery that precedes any Run History call derives such a pipeline from it
    with ``with_policies``, which re-links the policy instances the two share (azure-ai-ml 1.35.2).
    """
    return client.jobs._requests_pipeline
