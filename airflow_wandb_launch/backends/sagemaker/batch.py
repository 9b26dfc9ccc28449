"""Many SageMaker jobs' statuses in a few calls: ``ListTrainingJobs`` pages, and ``DescribeTrainingJob`` only for
jobs the listing did not return. An ended job's details (``FailureReason``, ``BillableTimeInSeconds``) are read
once, by the worker that finishes the task (``SageMakerBackend.final_status``), not by the triggerer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_wandb_launch.backends.sagemaker.states import job_status
from airflow_wandb_launch.launch.job import JobRef, JobStatus

#: ``JobRef.cloud`` key of the job's creation time (epoch seconds), recorded at submit: it bounds the listing.
CREATED_AT = "created_at"
#: how far before the oldest job's recorded creation the listing starts (clock skew between us and AWS).
CREATION_MARGIN = timedelta(minutes=10)
PAGE_SIZE = 100
#: error codes of a policy that forbids ListTrainingJobs: read job by job instead.
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


def listing_start(refs: Iterable[JobRef]) -> datetime | None:
    """Where the listing starts: before the oldest job's creation; None if a job's creation is unknown. Pure."""
    created = [ref.cloud.get(CREATED_AT) for ref in refs]
    if not created or any(c is None for c in created):
        return None
    return datetime.fromtimestamp(min(created), tz=UTC) - CREATION_MARGIN


def list_summaries(client: Any, since: datetime, wanted: set[str]) -> tuple[dict[str, JobStatus], int]:
    """The listed statuses of the ``wanted`` jobs created after ``since``, and how many pages that took."""
    found: dict[str, JobStatus] = {}
    pages = 0
    paginator = client.get_paginator("list_training_jobs")
    for page in paginator.paginate(CreationTimeAfter=since, PaginationConfig={"PageSize": PAGE_SIZE}):
        pages += 1
        for summary in page.get("TrainingJobSummaries") or ():
            if summary["TrainingJobName"] in wanted:
                found[summary["TrainingJobName"]] = job_status(summary)
    return found, pages


def needs_describe(refs: list[JobRef], listed: dict[str, JobStatus]) -> list[JobRef]:
    """The jobs the listing did not return (created before its start, or gone). Pure."""
    return [ref for ref in refs if ref.job_id not in listed]


def is_denied(err: BaseException) -> bool:
    """A ClientError saying the caller may not list training jobs."""
    response = getattr(err, "response", None) or {}
    return (response.get("Error") or {}).get("Code") in DENIED_CODES
