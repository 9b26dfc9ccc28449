"""An Azure ML job status (``Job.status``) -> the normalized JobStatus. Pure."""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.launch.job import JobState, JobStatus

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
