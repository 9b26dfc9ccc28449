"""DescribeTrainingJob -> the normalized JobStatus. Pure."""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.launch.job import JobState, JobStatus

#: TrainingJobStatus -> normalized state (Stopped is refined by SecondaryStatus below).
STATES: dict[str, JobState] = {
    "InProgress": JobState.RUNNING,
    "Completed": JobState.SUCCEEDED,
    "Failed": JobState.FAILED,
    "Stopping": JobState.STOPPING,
    "Stopped": JobState.STOPPED,
}
#: the TrainingJobStatus values of a job that ended.
ENDED = frozenset({"Completed", "Failed", "Stopped"})
PENDING_SECONDARY = frozenset({"Starting", "Pending", "LaunchingMLInstances", "PreparingTrainingStack"})
TIMEOUT_SECONDARY = {
    "MaxRuntimeExceeded": "StoppingCondition.MaxRuntimeInSeconds was exceeded",
    "MaxWaitTimeExceeded": "StoppingCondition.MaxWaitTimeInSeconds was exceeded (no spot capacity in time)",
}


def job_status(description: dict[str, Any]) -> JobStatus:
    """Normalize a DescribeTrainingJob response. Pure."""
    status = description["TrainingJobStatus"]
    secondary = description.get("SecondaryStatus") or ""
    state = STATES.get(status, JobState.RUNNING)
    message = description.get("FailureReason")
    if state is JobState.RUNNING and secondary in PENDING_SECONDARY:
        state = JobState.PENDING
    if state is JobState.STOPPED and secondary in TIMEOUT_SECONDARY:
        state, message = JobState.TIMED_OUT, TIMEOUT_SECONDARY[secondary]
    elif state is JobState.STOPPED:
        message = message or "the training job was stopped (StopTrainingJob)"
    details = {k: description[k] for k in ("BillableTimeInSeconds", "TrainingTimeInSeconds") if k in description}
    if secondary:
        details["SecondaryStatus"] = secondary
    return JobStatus(state, status, message, details)
