"""What a task launched, kept in Airflow's task state store so that no try chain trains twice.

The store is scoped to the task instance (dag, run, task, map index) and survives tries. One ``LaunchRecord``
lives there and moves through three phases, each written *before* the step it guards:

- ``submitting``: the run identity (and so the cloud job's name or label) is chosen and recorded, then the job
  is submitted. A worker that dies in between leaves a record a retry can look the job up by.
- ``submitted``: the job the cloud accepted; a retry reattaches to it.
- ``succeeded``: the task's result, recorded before Airflow records the success; a retry returns it.

With ``fallbacks``, a try may launch several *attempts* for one run, one after the other: the record names the
attempt it is about (``attempt``: 0, then 1, 2, ... one per fallback) and what the earlier ones came to
(``attempts``), and is rewritten (``submitting``) before each attempt's submit, so a retry after a worker death
reattaches to the right attempt's job with the right resource.

A record belongs to one *try chain*: the tries Airflow runs for one scheduling of the task, which share
``ti.max_tries``. A user's clear starts a new chain (Airflow sets ``max_tries = try_number + retries``), so a
record of another chain is not resumed: its job is stopped and the task launches anew.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from airflow.sdk import Context

from airflow_wandb_launch.launch.job import JobRef
from airflow_wandb_launch.launch.run import RunIdentity

#: task state store key of the launch record.
JOB_STATE_KEY = "wandb_launch_job"


class Phase(StrEnum):
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class LaunchRecord:
    """One try chain's launch, as the task state store keeps it.

    :param phase: how far the launch got.
    :param run: the W&B run (its id names the cloud job), chosen before submit.
    :param chain: ``ti.max_tries`` of the try chain that launched (None: unknown, written by 0.1).
    :param job_id: the cloud job's id when it is known before submit (SageMaker and Azure ML names).
    :param job: the submitted job (``submitted`` and ``succeeded``).
    :param result: the LaunchResult (``succeeded``).
    :param attempt: which attempt of the run the job is (0: the operator's own resource; n: its n-th fallback).
    :param attempts: the earlier attempts' records (``launch.result.attempt_record``: resource, job, state,
        reason, cost), oldest first.
    """

    phase: Phase
    run: RunIdentity
    chain: int | None
    job_id: str | None = None
    job: JobRef | None = None
    result: dict[str, Any] | None = None
    attempt: int = 0
    attempts: tuple[dict[str, Any], ...] = ()

    def submitted(self, job: JobRef) -> LaunchRecord:
        return replace(self, phase=Phase.SUBMITTED, job=job, job_id=job.job_id)

    def succeeded(self, result: dict[str, Any]) -> LaunchRecord:
        return replace(self, phase=Phase.SUCCEEDED, result=result)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "run": self.run.to_dict(),
            "chain": self.chain,
            "job_id": self.job_id,
            "job": self.job.to_dict() if self.job else None,
            "result": self.result,
            "attempt": self.attempt,
            "attempts": [dict(a) for a in self.attempts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LaunchRecord:
        if "phase" not in data:  # 0.1/0.2: the submitted job's reference alone
            job = JobRef.from_dict(data)
            return cls(Phase.SUBMITTED, job.run, None, job.job_id, job)
        job = JobRef.from_dict(data["job"]) if data.get("job") else None
        return cls(
            Phase(data["phase"]),
            RunIdentity.from_dict(data["run"]),
            data.get("chain"),
            data.get("job_id"),
            job,
            data.get("result"),
            int(data.get("attempt") or 0),  # absent before fallbacks: the first attempt
            tuple(dict(a) for a in data.get("attempts") or ()),
        )


def try_chain(context: Context) -> int | None:
    """The running try chain: ``ti.max_tries`` (raised by each clear, unchanged by retries); None if unknown."""
    value = getattr(context.get("ti"), "max_tries", None)
    return value if isinstance(value, int) else None


def remember(context: Context, record: LaunchRecord, log: logging.Logger | Any) -> bool:
    """Write the record; False (logged) without a store or if the write failed."""
    store = context.get("task_state_store")
    if store is None:
        return False
    try:
        store.set(JOB_STATE_KEY, record.to_dict())
    except Exception as err:
        log.warning("Could not record the launch (%s) for exactly-once retries: %s", record.phase.value, err)
        return False
    return True


def remembered(context: Context) -> LaunchRecord | None:
    """The record of an earlier try of this task instance, if any."""
    store = context.get("task_state_store")
    try:
        value = store.get(JOB_STATE_KEY) if store is not None else None
        return LaunchRecord.from_dict(value) if isinstance(value, dict) else None
    except Exception:
        return None


def forget(context: Context) -> None:
    """Drop the record (a cleared task, a finished local job)."""
    store = context.get("task_state_store")
    try:
        if store is not None and store.get(JOB_STATE_KEY):
            store.delete(JOB_STATE_KEY)
    except Exception:
        pass
