"""Echo Cloud's job states -> the normalized JobStatus. Pure."""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.launch.job import JobState, JobStatus

STATES: dict[str, JobState] = {
    "QUEUED": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "HALTING": JobState.STOPPING,
    "DONE": JobState.SUCCEEDED,
    "ERROR": JobState.FAILED,
    "HALTED": JobState.STOPPED,
}


def job_status(job: dict[str, Any]) -> JobStatus:
    """Normalize a job record ``{"state", "error"?, "start_time"?, "end_time"?}``. Pure."""
    state = STATES.get(job["state"], JobState.RUNNING)
    details = {k: job[k] for k in ("start_time", "end_time") if job.get(k)} if state.terminal else {}
    return JobStatus(state, job["state"], job.get("error"), details)
