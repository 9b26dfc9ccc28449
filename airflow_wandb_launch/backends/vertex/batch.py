"""Many Vertex AI CustomJobs' statuses in a few calls: ``ListCustomJobs`` pages, and ``GetCustomJob`` only for jobs
the listing did not return (or could not: a lone job, a reference from before ``created_at`` was recorded).

A listing returns whole CustomJobs (``error``, start and end times, the worker pools), so an ended job needs no
second read. The helpers are pure but for ``list_statuses``, which makes the (blocking) calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_wandb_launch.backends.vertex.client import as_dict
from airflow_wandb_launch.backends.vertex.request import RUN_ID_LABEL
from airflow_wandb_launch.backends.vertex.states import job_status
from airflow_wandb_launch.launch.job import JobRef, JobStatus

#: ``JobRef.cloud`` key of the job's creation time (epoch seconds), recorded at submit: it bounds the listing.
CREATED_AT = "created_at"
#: how far before the oldest job's recorded creation the listing starts (clock skew, a reattached job).
CREATION_MARGIN = timedelta(minutes=10)
#: jobs per page asked for (Vertex documents no maximum; AIP-158 servers coerce a larger one down).
PAGE_SIZE = 100
#: fewer listable jobs than this under one parent are read one by one (a Get is no dearer than a List).
MIN_LISTED = 2
_COLLECTION = "/customJobs/"


def creation_epoch(custom_job: Any) -> float:
    """The created CustomJob's ``create_time`` as epoch seconds (Vertex's clock); now if it has none."""
    created = getattr(custom_job, "create_time", None)
    return created.timestamp() if created else time.time()


def job_parent(name: str) -> str | None:
    """``projects/P/locations/L`` of a CustomJob resource name; None for anything else. Pure."""
    parent, found, job = name.rpartition(_COLLECTION)
    return parent if found and parent and job else None


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 (whole seconds, ``Z``), as the ``create_time`` filter wants it. Pure."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def listing_start(refs: Iterable[JobRef]) -> datetime:
    """Where a listing starts: ``CREATION_MARGIN`` before the oldest job's recorded creation. Pure.

    :raises ValueError: when no ref records its creation.
    """
    created = [ref.cloud[CREATED_AT] for ref in refs if ref.cloud.get(CREATED_AT) is not None]
    if not created:
        raise ValueError("no job records its creation time")
    return datetime.fromtimestamp(min(created), tz=UTC) - CREATION_MARGIN


def list_filter(since: datetime, label: str | None = RUN_ID_LABEL) -> str:
    """The AIP-160 ``filter``: jobs created after ``since`` (and, with ``label``, carrying that label). Pure.

    No ``state`` term: the ended jobs are the ones we are waiting to see.
    """
    terms = [f'create_time>"{rfc3339(since)}"']
    if label:
        terms.append(f"labels.{label}:*")
    return " AND ".join(terms)


def plan(refs: Iterable[JobRef]) -> tuple[dict[str, list[JobRef]], list[JobRef]]:
    """Split ``refs`` into listings (parent -> its jobs) and jobs to read one by one. Pure.

    A job is listed when its creation time is recorded and at least ``MIN_LISTED`` such jobs share its parent.
    """
    groups: dict[str, list[JobRef]] = {}
    singles: list[JobRef] = []
    for ref in refs:
        parent = job_parent(ref.job_id)
        if parent is None or ref.cloud.get(CREATED_AT) is None:
            singles.append(ref)
        else:
            groups.setdefault(parent, []).append(ref)
    listings = {parent: group for parent, group in groups.items() if len(group) >= MIN_LISTED}
    singles += [ref for parent, group in groups.items() if parent not in listings for ref in group]
    return listings, singles


def needs_get(refs: Iterable[JobRef], listed: dict[str, JobStatus]) -> list[JobRef]:
    """The jobs a listing did not return (created before its start, deleted, relabelled). Pure."""
    return [ref for ref in refs if ref.job_id not in listed]


def list_statuses(client: Any, parent: str, since: datetime, wanted: set[str], **call: Any) -> dict[str, JobStatus]:
    """The statuses of the ``wanted`` jobs (resource names) under ``parent`` created after ``since``, by name.

    Pages until every wanted job is found or the listing ends. Blocking: run it in a thread.

    :param client: a sync ``JobServiceClient``.
    :param call: ``retry`` and ``timeout`` for each page's call.
    """
    request = {"parent": parent, "filter": list_filter(since), "page_size": PAGE_SIZE}
    found: dict[str, JobStatus] = {}
    for page in client.list_custom_jobs(request=request, **call).pages:
        for custom_job in page.custom_jobs:
            if custom_job.name in wanted:
                found[custom_job.name] = job_status(as_dict(custom_job))
        if len(found) == len(wanted):
            break
    return found


def cannot_list(err: BaseException) -> bool:
    """The listing itself is refused (403: no ``aiplatform.customJobs.list``; 400: a filter it does not take)."""
    from google.api_core import exceptions

    return isinstance(err, exceptions.Forbidden | exceptions.BadRequest)
