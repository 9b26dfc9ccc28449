"""A queue item and its run, read as one job state. Pure."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from airflow_wandb_launch.launch.job import JobState, JobStatus

#: how each terminal W&B run state ends the job.
RUN_OUTCOMES: dict[str, tuple[JobState, str | None]] = {
    "finished": (JobState.SUCCEEDED, None),
    "failed": (JobState.FAILED, "failed"),
    "crashed": (JobState.FAILED, "crashed"),
    "killed": (JobState.STOPPED, "was killed"),
}
#: the agent requeues a preempted run with the same run id: it waits again, as a job waiting to start does.
PREEMPTED_STATES = frozenset({"preempting", "preempted"})


def item_status(item: dict[str, Any] | None, where: str, error: str | None = None) -> JobStatus | None:
    """The job's state from its queue item alone, or None once an agent picked it up (its run tells then).

    :param item: ``{"id", "state", "associatedRunId"}``; None when the queue has no such item.
    :param where: ``item X of queue Y``, for messages.
    :param error: why the agent failed the item.
    """
    if item is None:
        return JobStatus(JobState.FAILED, "missing", f"{where} is no longer there")
    if item.get("state") == "FAILED":
        message = f"the W&B Launch agent failed {where}"
        return JobStatus(JobState.FAILED, "FAILED", f"{message}: {error}" if error else message)
    if not item.get("associatedRunId"):
        return JobStatus(JobState.PENDING, str(item.get("state") or "PENDING"))
    return None


def run_status(state: str | None, run_path: str) -> JobStatus:
    """The job's state from its W&B run's (``None``: the agent picked the item up, the run has not started)."""
    if state is None:
        return JobStatus(JobState.RUNNING, "claimed")
    if state in PREEMPTED_STATES:
        return JobStatus(JobState.PENDING, state, f"W&B run {run_path} was preempted")
    if state not in RUN_OUTCOMES:
        return JobStatus(JobState.RUNNING, state)
    job_state, word = RUN_OUTCOMES[state]
    return JobStatus(job_state, state, f"W&B run {run_path} {word}" if word else None)


def needs_run(item: dict[str, Any] | None) -> bool:
    """Whether the job's state depends on its run: an agent picked the item up, or the item is gone (its run may
    have run all the same). A pending or failed item says it all alone."""
    return item is None or item_status(item, "") is None


def job_status(
    item: dict[str, Any] | None, where: str, error: str | None, run_path: str, run: dict[str, Any] | None
) -> JobStatus:
    """The job's state from its queue item and (where ``needs_run``) its run: one answer for the worker's single
    read and the triggerer's batched rounds.

    :param item: the queue item as read (None: the queue has no such item).
    :param where: ``item X of queue Y``, for messages.
    :param error: why the agent failed the item (read only for a FAILED item).
    :param run_path: ``entity/project/run_id`` of the run the item names (the spec's, or the agent's).
    :param run: that run's ``{"state", ...}``; None if there is no such run (yet), or it was not read.
    """
    waiting = item_status(item, where, error)
    if waiting is not None and (item is not None or run is None):
        return waiting  # not picked up or failed; or gone, and no run ever started
    status = run_status(run["state"] if run else None, run_path)
    return replace(status, details={**status.details, "run_id": run_path.rsplit("/", 1)[1]})
