"""What W&B knows of a run at the end, and the LaunchResult (and failure record) handed to XCom."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_wandb_launch.launch.job import JobRef, JobStatus
from airflow_wandb_launch.launch.run import RunIdentity


@dataclass(frozen=True)
class RunInfo:
    """What W&B knows of a run once the job ended."""

    state: str | None
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    url: str | None = None
    offline: bool = False


def artifact_uri(entity: str | None, project: str, name: str, version: str) -> str:
    """``wandb-artifact://entity/project/name:version`` (the entity left out when unknown)."""
    path = "/".join(p for p in (entity, project) if p)
    return f"wandb-artifact://{path}/{name}:{version}"


#: the LaunchResult's job fields (None in a result about a run alone, such as WandbRunSensor's).
JOB_FIELDS = ("resource", "job_id", "job_url", "job_state")


def run_fields(run_identity: RunIdentity, run: RunInfo, run_url: str | None = None) -> dict[str, Any]:
    """The LaunchResult's run fields: ``run_id``, ``run_path``, ``run_url``, ``run_state``, ``summary``, ``artifacts``.

    :param run_identity: the run.
    :param run: what W&B knows of it.
    :param run_url: its page, when ``run`` does not say (W&B's answer wins).
    """
    return {
        "run_id": run_identity.run_id,
        "run_path": run_identity.run_path,
        "run_url": run.url or run_url,
        "run_state": run.state,
        "summary": run.summary,
        "artifacts": run.artifacts,
    }


def launch_result(
    ref: JobRef,
    status: JobStatus,
    *,
    run: RunInfo,
    resource: str | None = None,
    cost: dict[str, Any] | None = None,
    attempts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The task's return value (CONTRACT.md's LaunchResult, plus ``cost_usd`` and ``cost``: the estimate, or None).

    :param ref: the job (its run identity and URLs computed at submit).
    :param status: its last status.
    :param run: what W&B knows of the run.
    :param resource: where it ran, when not ``ref.resource`` (a queue's resource).
    :param cost: the job's estimated cost (``cost.estimate.cost_dict``), None when there is none.
    :param attempts: every attempt of the run, this job's last (``attempt_record``): the result then lists them
        as ``attempts`` and ``cost_usd`` is their sum (``total_cost``); ``cost`` stays this job's.
    """
    job = (resource or ref.resource, ref.job_id, ref.job_url, status.state.value)
    result: dict[str, Any] = {
        **dict(zip(JOB_FIELDS, job, strict=True)),
        **run_fields(ref.run, run, ref.run_url),
        "cost_usd": cost["usd"] if cost else None,
        "cost": cost,
    }
    if attempts is not None:
        result["cost_usd"] = total_cost(attempts)
        result["attempts"] = attempts
    if run.offline:
        result["offline"] = True
    return result


def attempt_record(
    attempt: int,
    resource: str,
    job_id: str | None,
    state: str,
    *,
    reason: str | None = None,
    message: str | None = None,
    cost: dict[str, Any] | None = None,
    job_url: str | None = None,
) -> dict[str, Any]:
    """One attempt of a launch (an entry of the LaunchResult's and XCom ``failure``'s ``attempts``).

    :param attempt: 0 for the operator's own resource, n for its n-th fallback.
    :param resource: where it ran.
    :param job_id: its job (None: the cloud refused the submit).
    :param state: the job's end (a ``JobState`` value), or ``refused`` (the cloud refused the submit).
    :param reason: the capacity kind of its failure (``capacity``, ``quota``, ``spot-wait``, ``pending-timeout``):
        why the next attempt was made, or for the last one why it failed; None for a success or another failure.
    :param message: the cloud's word on the failure.
    :param cost: its estimated cost (``cost.estimate.cost_dict``), or None.
    :param job_url: its console page.
    """
    return {
        "attempt": attempt,
        "resource": resource,
        "job_id": job_id,
        "job_url": job_url,
        "job_state": state,
        "reason": reason,
        "message": message,
        "cost_usd": cost["usd"] if cost else None,
    }


def total_cost(attempts: list[dict[str, Any]]) -> float | None:
    """The attempts' estimated costs added up (those with an estimate); None when none has one."""
    known = [a["cost_usd"] for a in attempts if a.get("cost_usd") is not None]
    return round(sum(known), 2) if known else None


def run_result(run_identity: RunIdentity, run: RunInfo) -> dict[str, Any]:
    """A LaunchResult about a run alone (no job): the job fields None."""
    return {**dict.fromkeys(JOB_FIELDS), **run_fields(run_identity, run)}


def failure_record(
    ref: JobRef,
    status: JobStatus,
    reason: str,
    cost: dict[str, Any] | None,
    *,
    resource: str | None = None,
    attempts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """XCom ``failure`` of a launch task that failed after its job ended: which job, why, and what it cost.

    :param ref: the job.
    :param status: its last status.
    :param reason: the task's failure message (without links).
    :param cost: its estimated cost (``cost.estimate.cost_dict``), or None.
    :param resource: where it ran, when not ``ref.resource``.
    :param attempts: every attempt of the run, this job's last: listed as ``attempts``, and ``cost_usd`` is their sum.
    """
    record = {
        "failed": True,
        "resource": resource or ref.resource,
        "job_id": ref.job_id,
        "job_state": status.state.value,
        "cloud_state": status.cloud_state,
        "run_id": ref.run.run_id,
        "run_path": ref.run.run_path,
        "reason": reason,
        "cost_usd": cost["usd"] if cost else None,
        "cost": cost,
    }
    if attempts is not None:
        record["cost_usd"] = total_cost(attempts)
        record["attempts"] = attempts
    return record
