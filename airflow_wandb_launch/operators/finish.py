"""The end of a launch task, for every backend: the job's last status and its W&B run become the result or failure.

In order: the cost (a failed job costs money too), the failure (XCom ``failure`` first, for a comparison
downstream), the W&B run (it must exist and be ``finished`` when ``require_wandb_run``), the cost in the run's
summary, asset events for the artifact versions the run logged.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from airflow_wandb_launch.assets import record_artifact_events
from airflow_wandb_launch.cost.estimate import cost_dict, job_cost, write_cost_summary
from airflow_wandb_launch.errors import LaunchJobFailed
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.result import RunInfo, failure_record, launch_result

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


def finish_launch(task: LaunchTask, context: Context, ref: JobRef, status: JobStatus) -> dict[str, Any]:
    """The LaunchResult of a job that ended; raises ``LaunchJobFailed`` (after XCom ``failure``) if it did not succeed.

    :param task: the launch operator (its backend, W&B hook, log and ``require_wandb_run``).
    :param context: the task's context.
    :param ref: the job, its run resolved.
    :param status: its last status.
    """
    backend, online = task.backend, task.wandb_hook.credentials.online
    cost = job_cost(ref, status, logger=task.log)
    costs = cost_dict(cost, ref)
    resource = backend.ran_on(ref)

    def fail(message: str) -> NoReturn:
        push_failure(task, context, failure_record(ref, status, message, costs, resource=resource))
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
        write_cost_summary(task.wandb_hook, path, cost, task.log)
    result = launch_result(ref, status, run=run or RunInfo(state=None), resource=resource, cost=costs)
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
