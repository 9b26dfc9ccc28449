"""A CustomJob read -> the normalized JobStatus, with when it ran and on what. Pure."""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.launch.job import JobState, JobStatus

#: JobState name -> (normalized state, why it is a failure when it is one).
STATES: dict[str, tuple[JobState, str | None]] = {
    "JOB_STATE_QUEUED": (JobState.PENDING, None),
    "JOB_STATE_PENDING": (JobState.PENDING, None),
    "JOB_STATE_RUNNING": (JobState.RUNNING, None),
    "JOB_STATE_UPDATING": (JobState.RUNNING, None),
    "JOB_STATE_SUCCEEDED": (JobState.SUCCEEDED, None),
    "JOB_STATE_FAILED": (JobState.FAILED, "the CustomJob failed"),
    "JOB_STATE_CANCELLING": (JobState.STOPPING, None),
    "JOB_STATE_CANCELLED": (JobState.STOPPED, "the CustomJob was cancelled"),
    "JOB_STATE_EXPIRED": (JobState.TIMED_OUT, "Vertex AI expired the CustomJob (it passed its time limit)"),
    "JOB_STATE_PAUSED": (JobState.FAILED, "the CustomJob was paused; a paused job does not resume by itself"),
    "JOB_STATE_PARTIALLY_SUCCEEDED": (
        JobState.FAILED,
        "the CustomJob only partially succeeded: some of its work failed",
    ),
}
#: JobState names by enum value, for reads that carry the number (``enum-encoding=int``).
STATE_NAMES = (
    "JOB_STATE_UNSPECIFIED",
    "JOB_STATE_QUEUED",
    "JOB_STATE_PENDING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLING",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_PAUSED",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_UPDATING",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
)
_TIME_FIELDS = ("create_time", "start_time", "end_time", "update_time")


def job_status(custom_job: dict[str, Any]) -> JobStatus:
    """Normalize a CustomJob read (``CustomJob.to_dict()``, snake_case). Pure.

    Unknown states read as running: the deadline, not a guess, ends a job we do not understand.
    """
    state = custom_job.get("state") or "JOB_STATE_UNSPECIFIED"
    if isinstance(state, int):
        state = STATE_NAMES[state] if 0 <= state < len(STATE_NAMES) else str(state)
    normalized, why = STATES.get(state, (JobState.RUNNING, None))
    message = None
    details = _details(custom_job)
    if why is not None:
        error = custom_job.get("error") or {}
        message = error.get("message")
        message = f"{why}: {message}" if message and normalized is not JobState.FAILED else message or why
        if error.get("code") is not None:  # a google.rpc.Code (8: RESOURCE_EXHAUSTED), for ``capacity``
            details["error_code"] = int(error["code"])
    return JobStatus(normalized, state, message, details)


def _details(custom_job: dict[str, Any]) -> dict[str, Any]:
    """When it ran and on what (for cost accounting); JSON-safe."""
    details: dict[str, Any] = {key: str(custom_job[key]) for key in _TIME_FIELDS if custom_job.get(key)}
    spec = custom_job.get("job_spec") or {}
    pools = []
    for pool in spec.get("worker_pool_specs") or []:
        machine = pool.get("machine_spec") or {}
        pools.append(
            {
                "machine_type": machine.get("machine_type"),
                "accelerator_type": machine.get("accelerator_type"),
                "accelerator_count": int(machine.get("accelerator_count") or 0),
                "replica_count": int(pool.get("replica_count") or 0),
            }
        )
    if pools:
        details["worker_pools"] = pools
    strategy = (spec.get("scheduling") or {}).get("strategy")
    if strategy:
        details["scheduling_strategy"] = str(strategy)
    return details
