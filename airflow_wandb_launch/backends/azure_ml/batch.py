"""Many Azure ML jobs' statuses in a few calls: ``MLClient.jobs.list`` pages (filtered by the tag every launched job
carries), and ``jobs.get`` only for jobs the listing did not return. An ended job's error and start/end times live
in Run History, which the listing does not read: the worker that finishes the task reads them once
(``AzureMLBackend.final_status``), not the triggerer.

Paging is bounded: it stops once every wanted job is found, once a newest-first listing has passed the oldest
wanted job's creation (the listing's order is not documented: it is checked, never assumed), or after
:func:`page_budget` pages; whatever is still missing is read job by job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import timedelta
from itertools import pairwise
from typing import Any

from airflow_wandb_launch.backends.azure_ml.states import STATES, job_status
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus

#: ``JobRef.cloud`` key of the job's creation time (epoch seconds), recorded at submit: it bounds the listing.
CREATED_AT = "created_at"
#: ``JobRef.cloud`` key of the tag (key) the job carries, by which the listing is filtered (absent: unfiltered).
LIST_TAG = "list_tag"
#: how far before the oldest job's recorded creation a newest-first listing may stop (clock skew with Azure).
CREATION_MARGIN = timedelta(minutes=10)
#: the jobs one page of the listing is assumed to hold, for the budget (the API takes no page size).
PAGE_SIZE = 100
#: pages listed beyond those the wanted jobs alone would fill, before the rest are read job by job.
EXTRA_PAGES = 2
#: HTTP statuses of a caller who may not list jobs: read job by job instead.
DENIED_STATUSES = frozenset({401, 403})


def listing_groups(refs: Iterable[JobRef]) -> dict[str | None, dict[str, float]]:
    """The listable jobs (those with a recorded creation) by listing tag: ``{tag: {job name: created_at}}``. Pure."""
    groups: dict[str | None, dict[str, float]] = {}
    for ref in refs:
        created = ref.cloud.get(CREATED_AT)
        if created is not None:
            groups.setdefault(ref.cloud.get(LIST_TAG), {})[ref.job_id] = float(created)
    return groups


def page_budget(wanted: int) -> int:
    """The most pages one listing reads for ``wanted`` jobs: the pages they fill, plus ``EXTRA_PAGES``. Pure."""
    return math.ceil(wanted / PAGE_SIZE) + EXTRA_PAGES


def listing_cutoff(created: Iterable[float]) -> float:
    """Epoch seconds before which a newest-first listing holds none of the jobs created at ``created``. Pure."""
    return min(created) - CREATION_MARGIN.total_seconds()


def passed_cutoff(times: Sequence[float | None], cutoff: float) -> bool:
    """The listing so far is newest first (every creation time known, none later than the one before) and has
    gone past ``cutoff``: later pages hold only older jobs. Pure."""
    known = [t for t in times if t is not None]
    if not known or len(known) < len(times):
        return False
    return all(a >= b for a, b in pairwise(known)) and known[-1] < cutoff


def done_paging(wanted: set[str], found: set[str], times: Sequence[float | None], cutoff: float, pages: int) -> bool:
    """Whether to stop listing after ``pages`` pages: every job found, past the cutoff, or the budget spent. Pure."""
    return wanted <= found or passed_cutoff(times, cutoff) or pages >= page_budget(len(wanted))


def cloud_state(job: Any) -> str:
    """An azure-ai-ml ``Job``'s status as Azure ML's word (``Running``, ``Failed``...)."""
    return str(getattr(job.status, "value", job.status))


def created_epoch(job: Any) -> float | None:
    """An azure-ai-ml ``Job``'s creation time (epoch seconds), if the service said."""
    created = getattr(getattr(job, "creation_context", None), "created_at", None)
    return created.timestamp() if created is not None else None


def list_statuses(client: Any, wanted: dict[str, float], tag: str | None) -> tuple[dict[str, JobStatus], int]:
    """The listed statuses of the ``wanted`` jobs (name -> created_at), and how many pages that took.

    :param client: the ``MLClient``.
    :param tag: list only jobs carrying this tag key (None: every job of the workspace).
    """
    cutoff, found, times, pages = listing_cutoff(wanted.values()), {}, [], 0
    filters = {"tag": tag} if tag else {}
    for page in client.jobs.list(**filters).by_page():
        pages += 1
        for job in page:
            if job is None:  # azure-ai-ml could not parse it (another kind of job)
                continue
            times.append(created_epoch(job))
            if job.name in wanted:
                found[job.name] = job_status(cloud_state(job))
        if done_paging(set(wanted), set(found), times, cutoff, pages):
            break
    return found, pages


def not_listed(refs: list[JobRef], listed: dict[str, JobStatus]) -> list[JobRef]:
    """The jobs the listing did not return (old refs, untagged, archived, past the budget). Pure."""
    return [ref for ref in refs if ref.job_id not in listed]


def needs_run_history(status: JobStatus) -> bool:
    """An end Azure ML reported (not a deadline or pending timeout) without Run History's times: a listed end. Pure."""
    return STATES.get(status.cloud_state, JobState.RUNNING).terminal and "end_time" not in status.details


def submit_keys(created_at: float | None, tags: dict[str, str] | None, list_tag: str) -> dict[str, Any]:
    """What ``JobRef.cloud`` records at submit for the listing: the job's creation, and ``list_tag`` if the job
    carries it (nothing without a creation time: such a job is read by itself). Pure."""
    keys: dict[str, Any] = {} if created_at is None else {CREATED_AT: created_at}
    if created_at is not None and list_tag in (tags or {}):
        keys[LIST_TAG] = list_tag
    return keys


def is_denied(err: BaseException) -> bool:
    """Azure ML answered the listing 401 / 403 (``HttpResponseError``, ``ClientAuthenticationError``): the caller
    may not list jobs. A credential that could not get a token (no answer from Azure ML) is not a denial."""
    return getattr(err, "status_code", None) in DENIED_STATUSES
