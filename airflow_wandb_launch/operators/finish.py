"""The end of a launch task, for every backend: the job's last status and its W&B run become the result or failure.

In order: the cost (a failed job costs money too), the failure (XCom ``failure`` first, for a comparison
downstream), the W&B run (it must exist and be ``finished`` when ``require_wandb_run``), the cost in the run's
summary, asset events for the artifact versions the run logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from airflow_wandb_launch.assets import record_artifact_events
from airflow_wandb_launch.cost.estimate import cost_dict, job_cost, write_cost_summary
from airflow_wandb_launch.errors import LaunchJobFailed
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.result import RunInfo, attempt_record, failure_record, launch_result, total_cost

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_wandb_launch.backends import Backend
    from airflow_wandb_launch.hooks.wandb import WandbHook

#: how long a finished job's W&B run may still read "running" while its last data lands.
RUN_SETTLE_SECONDS = 60
FAILURE_WORDS = {
    JobState.FAILED: "failed",
    JobState.STOPPED: "was stopped",
    JobState.TIMED_OUT: "timed out",
}


class LaunchTask(Protocol):
    """What finishing needs of a launch task (``WandbLaunchOperator``)."""

    backend: Backend
    wandb_hook: WandbHook
    log: logging.Logger
    require_wandb_run: bool
    task_id: str


def finish_launch(
    task: LaunchTask,
    context: Context,
    ref: JobRef,
    status: JobStatus,
    *,
    backend: Backend | None = None,
    attempt: int = 0,
    past: Sequence[dict[str, Any]] = (),
    reason: str | None = None,
) -> dict[str, Any]:
    """The LaunchResult of a job that ended; raises ``LaunchJobFailed`` (after XCom ``failure``) if it did not succeed.

    :param task: the launch operator (its backend, W&B hook, log and ``require_wandb_run``).
    :param context: the task's context.
    :param ref: the job, its run resolved.
    :param status: its last status.
    :param backend: the job's backend (default ``task.backend``: a fallback's attempt may run elsewhere).
    :param attempt: which attempt of the run the job is (0: the operator's own resource; n: its n-th fallback).
    :param past: the earlier attempts' records (``launch.result.attempt_record``); the result's and the failure's
        ``attempts`` are these and this job's, and their ``cost_usd`` the attempts' total.
    :param reason: the capacity kind of the job's failure (``capacity``, ...), when it is one (no fallback left).
    """
    backend = backend or task.backend
    online = task.wandb_hook.credentials.online
    cost = job_cost(ref, status, logger=task.log)
    costs = cost_dict(cost, ref)
    resource = backend.ran_on(ref)
    failed = status.state is not JobState.SUCCEEDED
    attempts = [
        *past,
        attempt_record(
            attempt,
            resource,
            ref.job_id,
            status.state.value,
            reason=reason if failed else None,
            message=status.message if failed else None,
            cost=costs,
            job_url=ref.job_url,
        ),
    ]

    def fail(message: str) -> NoReturn:
        if past:
            message += f" {attempts_summary(attempts)}"
        push_failure(task, context, failure_record(ref, status, message, costs, resource=resource, attempts=attempts))
        links = f" Job: {ref.job_url or ref.job_id}. W&B run: {ref.run_url or ref.run.run_path}."
        raise LaunchJobFailed(f"{message}{links}")

    if status.state is not JobState.SUCCEEDED:
        word = FAILURE_WORDS.get(status.state, status.state.value)
        reason = f" ({status.cloud_state}): {status.message}" if status.message else f" ({status.cloud_state})"
        spent = f" Estimated cost: ${cost.usd:.2f}." if cost else ""
        fail(f"{backend.describe(ref)} {word}{reason}.{spent}")
    run = read_run(task, ref)
    path = ref.run.run_path
    if task.require_wandb_run and run is None:
        fail(
            f"{backend.describe(ref)} succeeded but W&B has no run {path}: did the job call wandb.init() with "
            f"WANDB_RUN_ID from its environment?"
        )
    if task.require_wandb_run and run is not None and run.state != "finished":
        fail(f"{backend.describe(ref)} succeeded but its W&B run {path} is {run.state!r}, not 'finished'.")
    if run is not None and cost is not None and online:
        if past:  # the run's cost is every attempt's: airflow/cost_usd is their sum, like the result's cost_usd
            cost = replace(cost, usd=total_cost(attempts) or cost.usd)
        write_cost_summary(task.wandb_hook, path, cost, task.log)
    result = launch_result(
        ref, status, run=run or RunInfo(state=None), resource=resource, cost=costs, attempts=attempts
    )
    record_artifact_events(task, context, result)  # wandb-artifact outlets: an event only for logged versions
    artifacts = [a["uri"] for a in result["artifacts"]]
    task.log.info("W&B run %s %s; summary %s; artifacts %s", path, result["run_state"], result["summary"], artifacts)
    return result


def read_run(task: LaunchTask, ref: JobRef) -> RunInfo | None:
    """What W&B knows of the job's run: from W&B (waiting up to RUN_SETTLE_SECONDS for a ``running`` run to
    settle), or from the offline run's log on this worker."""
    hook = task.wandb_hook
    if not hook.credentials.online:
        from airflow_wandb_launch.wandb_api.offline import find_offline_run, read_offline_run

        run_dir = find_offline_run(ref.cloud.get("wandb_dir") or "", ref.run.run_id)
        return read_offline_run(run_dir, ref.run.entity) if run_dir else None
    deadline = time.monotonic() + RUN_SETTLE_SECONDS
    while True:
        run = hook.get_run(ref.run.run_path)
        if run is None or run.state != "running" or time.monotonic() > deadline:
            return run
        time.sleep(5)


def attempts_summary(attempts: Sequence[dict[str, Any]]) -> str:
    """``Attempts: sagemaker job a (failed, capacity); sagemaker job b (failed).`` for a failure message."""
    said = []
    for entry in attempts:
        what = f"{entry['resource']} job {entry['job_id']}" if entry.get("job_id") else f"{entry['resource']}"
        why = ", ".join(str(w) for w in (entry.get("job_state"), entry.get("reason")) if w)
        said.append(f"{what} ({why})")
    return f"Attempts: {'; '.join(said)}."


def push_failure(task: LaunchTask, context: Context, record: dict[str, Any]) -> None:
    """XCom ``failure``: why the task failed (the W&B API key redacted), for a comparison downstream."""
    try:
        key = task.wandb_hook.credentials.api_key
    except Exception:  # the failure may be the credentials themselves
        key = None
    if key and key in str(record.get("reason")):
        record = {**record, "reason": str(record["reason"]).replace(key, "***")}
    try:
        context["ti"].xcom_push(key="failure", value=record)
    except Exception as err:
        task.log.warning("Could not push XCom 'failure': %s", err)
