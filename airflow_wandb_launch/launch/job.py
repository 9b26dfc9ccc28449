"""A submitted job: its reference (typed, it crosses the deferral) and its normalized state."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from airflow_wandb_launch.launch.pricing_inputs import PricingInputs
from airflow_wandb_launch.launch.run import RunIdentity


class JobState(StrEnum):
    """A job's state, the same words for every resource."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    TIMED_OUT = "timed_out"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED, JobState.TIMED_OUT})


@dataclass(frozen=True)
class JobRef:
    """Enough to find a submitted job again; it travels in trigger kwargs, events and the task state store.

    :param resource: the backend that runs it (``sagemaker``, ``vertex``, ...).
    :param job_id: the cloud's name or id of the job.
    :param run: the W&B run the job logs to.
    :param cloud: where the job lives, as its backend needs it to read it again (region, project, workspace, pid).
    :param pricing: what a cost estimate needs, recorded at submit (None: the resource is not priced).
    :param job_url: the job's console page, computed once at submit.
    :param run_url: the run's W&B page (None offline).
    """

    resource: str
    job_id: str
    run: RunIdentity
    cloud: dict[str, Any] = field(default_factory=dict)
    pricing: PricingInputs | None = None
    job_url: str | None = None
    run_url: str | None = None

    def with_urls(self, *, job_url: str | None, run_url: str | None) -> JobRef:
        return replace(self, job_url=job_url, run_url=run_url)

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "job_id": self.job_id,
            "run": self.run.to_dict(),
            "cloud": dict(self.cloud),
            "pricing": self.pricing.to_dict() if self.pricing else None,
            "job_url": self.job_url,
            "run_url": self.run_url,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRef:
        if "run" not in data:  # written by 0.1.0 (one ``extra`` dict): a task deferred across the upgrade
            data = _from_0_1(data)
        pricing = data.get("pricing")
        return cls(
            resource=data["resource"],
            job_id=data["job_id"],
            run=RunIdentity.from_dict(data["run"]),
            cloud=dict(data.get("cloud") or {}),
            pricing=PricingInputs.from_dict(pricing) if pricing else None,
            job_url=data.get("job_url"),
            run_url=data.get("run_url"),
        )


def _from_0_1(data: dict[str, Any]) -> dict[str, Any]:
    """A 0.1.0 job reference (``{"resource", "job_id", "extra": {run_id, run_path, pricing...}}``) in today's shape."""
    extra = dict(data.get("extra") or {})
    run = RunIdentity.from_path(extra.pop("run_path", None) or f"unknown/{extra.get('run_id') or 'unknown'}")
    extra.pop("run_id", None)
    pricing = extra.pop("pricing", None)
    return {
        "resource": data["resource"],
        "job_id": data["job_id"],
        "run": run.to_dict(),
        "cloud": extra,
        "pricing": pricing,
    }


@dataclass(frozen=True)
class JobStatus:
    """One status read: the normalized state, the cloud's own word for it, and why (when it ended badly)."""

    state: JobState
    cloud_state: str
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "cloud_state": self.cloud_state,
            "message": self.message,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobStatus:
        return cls(JobState(data["state"]), data["cloud_state"], data.get("message"), dict(data.get("details") or {}))


def elapsed_seconds(start: datetime | str, end: datetime | str) -> float:
    """Seconds from ``start`` to ``end`` (datetimes or ISO 8601 strings, as Vertex reports its times).

    :param start: when the job started running (Vertex ``start_time``; Azure ML's start).
    :param end: when it ended.
    :raises ValueError: for unparsable times, a naive/aware mix, or an end before the start.
    """
    begin, finish = _when(start), _when(end)
    if (begin.tzinfo is None) != (finish.tzinfo is None):
        raise ValueError(f"start {start!r} and end {end!r} must both carry a time zone, or neither")
    seconds = (finish - begin).total_seconds()
    if seconds < 0:
        raise ValueError(f"end {end!r} is before start {start!r}")
    return seconds


def _when(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).strip())
    except ValueError as err:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from err
