"""The one azure-ai-ml call outside its public API, kept in one place.

An ended job's error and its start and end times are not on the job resource (``MLClient.jobs.get``: the ARM
``JobBase`` properties carry status, services and display fields, no error or timing): Azure ML keeps them in Run
History. azure-ai-ml reads Run History only internally, through ``JobOperations._runs_operations`` (a
``RunOperations`` over the workspace's discovered Run History endpoint), as ``jobs.stream()`` does for its
execution summary. Checked against azure-ai-ml 1.35.2; if a release renames it, :func:`run_history` returns
nothing (a failed job then reads "Azure ML gave no error" and gets no cost estimate) rather than failing the task.
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
        run = client.jobs._runs_operations.get_run_details(name)
    except Exception as err:
        log.warning("Could not read Azure ML job %s from Run History: %s", name, err)
        return None, {}
    times = {"start_time": run.start_time_utc, "end_time": run.end_time_utc}
    details = {key: value.isoformat() for key, value in times.items() if value is not None}
    return (run.error or {}).get("error", {}).get("message") or None, details
