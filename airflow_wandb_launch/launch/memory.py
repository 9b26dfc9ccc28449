"""The job a task submitted, kept in Airflow's task state store so a retry reattaches instead of resubmitting.

The store is scoped to the task instance (dag, run, task, map index) and survives tries; the entry is
removed when the task succeeds, so a cleared task trains anew.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Context

from airflow_wandb_launch.launch.job import JobRef

#: task state store key of the submitted job.
JOB_STATE_KEY = "wandb_launch_job"


def remember_job(context: Context, ref: JobRef, log: logging.Logger | Any) -> None:
    """Record the submitted job (best effort: without a store, retries simply submit anew)."""
    store = context.get("task_state_store")
    if store is None:
        return
    try:
        store.set(JOB_STATE_KEY, ref.to_dict())
    except Exception as err:
        log.warning("Could not record job %s for reattach on retry: %s", ref.job_id, err)


def remembered_job(context: Context) -> dict[str, Any] | None:
    """The job an earlier try of this task submitted, as ``JobRef.to_dict()``, if any."""
    store = context.get("task_state_store")
    try:
        value = store.get(JOB_STATE_KEY) if store is not None else None
    except Exception:
        return None
    return value if isinstance(value, dict) else None


def forget_job(context: Context) -> None:
    """Drop the record once the task succeeded."""
    store = context.get("task_state_store")
    try:
        if store is not None and store.get(JOB_STATE_KEY):
            store.delete(JOB_STATE_KEY)
    except Exception:
        pass
