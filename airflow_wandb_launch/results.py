"""Normalized job states, job references and the LaunchResult handed to XCom."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    """A cloud job's state, the same words for every resource."""

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
    """Enough to find a submitted job again (serializable: it travels in trigger kwargs and events)."""

    resource: str
    job_id: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRef:
        return cls(resource=data["resource"], job_id=data["job_id"], extra=dict(data.get("extra") or {}))


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


def launch_result(
    ref: JobRef,
    status: JobStatus,
    *,
    job_url: str | None,
    run_id: str,
    run_path: str,
    run: RunInfo,
    cost: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The task's return value (CONTRACT.md's LaunchResult, plus ``cost_usd`` and ``cost``: the estimate, or None).

    :param cost: the job's estimated cost (``costs.cost_dict``), None when there is none.
    """
    result: dict[str, Any] = {
        "resource": ref.resource,
        "job_id": ref.job_id,
        "job_url": job_url,
        "job_state": status.state.value,
        "run_id": run_id,
        "run_path": run_path,
        "run_url": run.url,
        "run_state": run.state,
        "summary": run.summary,
        "artifacts": run.artifacts,
        "cost_usd": cost["usd"] if cost else None,
        "cost": cost,
    }
    if run.offline:
        result["offline"] = True
    return result


def failure_record(ref: JobRef, status: JobStatus, reason: str, cost: dict[str, Any] | None) -> dict[str, Any]:
    """XCom ``failure`` of a launch task that failed after its job ended: which job, why, and what it cost.

    :param ref: the job.
    :param status: its last status.
    :param reason: the task's failure message (without links).
    :param cost: its estimated cost (``costs.cost_dict``), or None.
    """
    return {
        "failed": True,
        "resource": ref.resource,
        "job_id": ref.job_id,
        "job_state": status.state.value,
        "cloud_state": status.cloud_state,
        "run_id": ref.extra.get("run_id"),
        "run_path": ref.extra.get("run_path"),
        "reason": reason,
        "cost_usd": cost["usd"] if cost else None,
        "cost": cost,
    }
