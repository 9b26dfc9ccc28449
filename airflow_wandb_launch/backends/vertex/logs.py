"""Vertex AI CustomJobs' Cloud Logging lines, a bounded chunk per job per poll, many jobs per query, resumable
from a small cursor per job.

Vertex writes each replica's output to Cloud Logging as entries of the monitored resource ``ml_job``, labelled
with the job's numeric id and the replica (``resource.labels.task_name``: ``workerpool0-0``; ``service`` for
Vertex's own messages). Cloud Logging rations ``entries.list`` per project per minute (60 by default), so the
triggers of one connection read together: one query lists the entries of up to ``MAX_JOBS_PER_QUERY`` jobs of a
project oldest first (JSON over HTTP through ``google-cloud-logging``'s client), from the earliest point any of
them needs on, at most ``MAX_PAGES`` pages of ``PAGE_SIZE`` entries; each job then takes its own new entries. What
a query did not reach is read by the next poll (those lines come late, none is lost).

A job's cursor, JSON-able (it travels in trigger kwargs and XCom)::

    {"ts": "2024-05-01T12:00:00.123456789Z",  # the last entry read's timestamp, as Cloud Logging wrote it ...
     "seen": ["1x2y3z", "1x2y40"],            # ... and the insertIds of the entries read at that timestamp
     "covered": "2024-05-01T12:03:00Z"}       # every entry of the job up to here was listed

A read shows the entries after ``ts`` and those at ``ts`` not ``seen``: entries sharing a timestamp across two
reads are neither lost nor shown twice. Timestamps are compared as epoch nanoseconds (exactly). A query starts at
the latest of its jobs' ``ts`` and ``covered`` that is earliest among them (a first read: the job's creation), so
a quiet job does not make every query list its neighbours' old entries again; ``covered`` trails a query that
listed everything by ``LATE_SECONDS``, how late an entry may reach Cloud Logging and still be shown. Only
``read_log_chunks`` calls the service (in a thread, with the backend's one logging client); the rest is pure.
"""

from __future__ import annotations

import calendar
import copy
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_wandb_launch.launch.logs import LogChunk, LogsDenied, keep_tail, prefixed_lines
from airflow_wandb_launch.launch.logs import covered_until as covered_until_any

DEFAULT_LOGGING_ENDPOINT = "https://logging.googleapis.com"
#: entries per ``entries.list`` page (the API's maximum).
PAGE_SIZE = 1000
#: pages read per poll at most: a job that wrote more is read on by the next poll.
MAX_PAGES = 5
#: seconds one page's call may take.
CALL_TIMEOUT = 60.0
#: the monitored resource type of a Vertex AI CustomJob's entries.
RESOURCE_TYPE = "ml_job"
#: jobs one query reads at most (its filter names each one; Cloud Logging takes filters up to 20,000 characters).
MAX_JOBS_PER_QUERY = 100
#: seconds an entry may take to reach Cloud Logging after its timestamp and still be shown.
LATE_SECONDS = 120
#: seconds before a job's creation its first query starts (clocks differ).
CREATION_MARGIN_SECONDS = 600
#: the entry label that names the replica where ``resource.labels.task_name`` is missing (older entries).
TASK_LABEL = "ml.googleapis.com/task_name"

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def job_number(job_name: str) -> str:
    """The job's numeric id, as its entries are labelled: ``projects/p/locations/r/customJobs/123`` -> ``123``."""
    return job_name.rstrip("/").rpartition("/")[2]


def epoch_nanos(stamp: str) -> int:
    """An RFC 3339 time (any fraction up to nanoseconds) as epoch nanoseconds, exactly. Pure.

    :raises ValueError: for anything else.
    """
    m = _RFC3339.match(stamp) if isinstance(stamp, str) else None
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {stamp!r}")
    zone = "+00:00" if m[3] == "Z" else m[3]
    seconds = calendar.timegm(datetime.fromisoformat(m[1] + zone).utctimetuple())
    return seconds * 1_000_000_000 + int((m[2] or "").ljust(9, "0"))


def new_cursor(cursor: dict[str, Any] | None) -> dict[str, Any]:
    """A well-formed copy of ``cursor`` (None, or one of another shape, starts from the job's start). Pure."""
    cursor = copy.deepcopy(cursor) if isinstance(cursor, dict) else {}
    covered = {"covered": cursor["covered"]} if _is_time(cursor.get("covered")) else {}
    ts = cursor.get("ts")
    if not _is_time(ts):
        return {"ts": None, "seen": [], **covered}
    seen = cursor.get("seen")
    seen = [i for i in seen if isinstance(i, str)] if isinstance(seen, list) else []
    return {"ts": ts, "seen": seen, **covered}


def _is_time(value: Any) -> bool:
    try:
        epoch_nanos(value)
    except ValueError:
        return False
    return True


def rfc3339(nanos: int) -> str:
    """Epoch nanoseconds as an RFC 3339 UTC time with nanoseconds (as Cloud Logging writes them). Pure."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC).strftime('%Y-%m-%dT%H:%M:%S')}.{fraction:09d}Z"


def query_start(cursor: dict[str, Any], created_at: float | None) -> int | None:
    """Epoch nanoseconds from which a query must list the job's entries: the later of its ``ts`` and ``covered``;
    on a first read, its creation less ``CREATION_MARGIN_SECONDS``; None (from the start) if neither is known. Pure.
    """
    known = [epoch_nanos(cursor[key]) for key in ("ts", "covered") if cursor.get(key)]
    if known:
        return max(known)
    if created_at:
        return int((created_at - CREATION_MARGIN_SECONDS) * 1_000_000_000)
    return None


def entries_filter(job_ids: list[str], since: int | None) -> str:
    """The Logging query for the jobs' entries from ``since`` on (epoch nanoseconds; None: all of them). Pure.

    :param job_ids: the jobs' numeric ids.
    """
    named = [f'resource.labels.job_id="{job_id}"' for job_id in job_ids]
    terms = [f'resource.type="{RESOURCE_TYPE}"', named[0] if len(named) == 1 else f"({' OR '.join(named)})"]
    if since is not None:
        terms.append(f'timestamp>="{rfc3339(since)}"')
    return " AND ".join(terms)


def list_request(project: str, filter_: str, page_token: str | None = None) -> dict[str, Any]:
    """``entries.list``'s body for one page, oldest first. Pure."""
    body: dict[str, Any] = {
        "resourceNames": [f"projects/{project}"],
        "filter": filter_,
        "orderBy": "timestamp asc",
        "pageSize": PAGE_SIZE,
    }
    if page_token:
        body["pageToken"] = page_token
    return body


def _nanos(entry: dict[str, Any]) -> int | None:
    try:
        return epoch_nanos(entry.get("timestamp"))
    except ValueError:
        return None


def drop_seen(entries: list[dict[str, Any]], cursor: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries the cursor has not read: after ``ts``, or at ``ts`` and not ``seen`` (an entry without a readable
    time is kept). Pure."""
    if not cursor.get("ts"):
        return list(entries)
    ts, seen = epoch_nanos(cursor["ts"]), set(cursor.get("seen") or ())
    kept = []
    for entry in entries:
        nanos = _nanos(entry)
        if nanos is None or nanos > ts or (nanos == ts and entry.get("insertId") not in seen):
            kept.append(entry)
    return kept


def advance(cursor: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The cursor after ``entries`` (oldest first): the last timestamp and the insertIds read at it. Pure."""
    ts, seen = cursor.get("ts"), list(cursor.get("seen") or ())
    at = epoch_nanos(ts) if ts else None
    for entry in entries:
        nanos = _nanos(entry)
        if nanos is None or (at is not None and nanos < at):  # no readable time, or older: the cursor stays
            continue
        if nanos != at:
            ts, at, seen = entry["timestamp"], nanos, []
        if entry.get("insertId"):
            seen.append(entry["insertId"])
    return {"ts": ts, "seen": seen, **({"covered": cursor["covered"]} if cursor.get("covered") else {})}


def with_covered(cursor: dict[str, Any], covered: int | None) -> dict[str, Any]:
    """``cursor`` knowing that every entry of its job up to ``covered`` (epoch nanoseconds) was listed. Pure."""
    if covered is None or (cursor.get("covered") and epoch_nanos(cursor["covered"]) >= covered):
        return cursor
    return {**cursor, "covered": rfc3339(covered)}


def covered_until(entries: list[dict[str, Any]], complete: bool, now: float) -> int | None:
    """Up to when a query listed every entry of its jobs (epoch nanoseconds): ``now`` less ``LATE_SECONDS`` if it
    listed them all, else no later than its last entry. Pure."""
    last = next((n for n in map(_nanos, reversed(entries)) if n is not None), None)
    return covered_until_any(last, complete, int((now - LATE_SECONDS) * 1_000_000_000))


def job_of(entry: dict[str, Any]) -> str | None:
    """The numeric id of the job that wrote ``entry``. Pure."""
    return ((entry.get("resource") or {}).get("labels") or {}).get("job_id")


def replica_name(entry: dict[str, Any]) -> str:
    """What an entry's lines are prefixed with: its replica (``workerpool0-0``), ``service`` for Vertex's own
    messages, else ``job``. Pure."""
    task = ((entry.get("resource") or {}).get("labels") or {}).get("task_name")
    return task or (entry.get("labels") or {}).get(TASK_LABEL) or "job"


def entry_message(entry: dict[str, Any]) -> str:
    """An entry's text: ``textPayload``, else ``jsonPayload.message``, else the JSON payload compactly. Pure."""
    if isinstance(entry.get("textPayload"), str):
        return entry["textPayload"]
    payload = entry.get("jsonPayload")
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return payload["message"]
    return json.dumps(payload, separators=(",", ":"), sort_keys=True) if payload is not None else ""


def entry_lines(entries: list[dict[str, Any]]) -> list[str]:
    """Entries (oldest first, every replica's interleaved, as Cloud Logging orders them) as prefixed lines. Pure."""
    return [line for entry in entries for line in prefixed_lines(replica_name(entry), entry_message(entry))]


@dataclass(frozen=True)
class JobLogs:
    """One job's part of a query.

    :param job_name: the CustomJob's resource name.
    :param cursor: where its lines resume (None: from its start).
    :param limit: lines to show at most.
    :param created_at: its creation (epoch seconds), where its first query starts; None if unknown.
    """

    job_name: str
    cursor: dict[str, Any] | None
    limit: int
    created_at: float | None = None


def read_log_chunks(client: Any, project: str, jobs: list[JobLogs], *, now: float) -> dict[str, LogChunk]:
    """The jobs' lines since their cursors, by job name, from one query: each job's newest ``limit`` shown, its
    older new ones counted as skipped.

    :param client: a ``google.cloud.logging.Client`` over HTTP (``_use_grpc=False``).
    :param project: the project whose logs hold the jobs' entries.
    :param jobs: at most ``MAX_JOBS_PER_QUERY`` jobs.
    :param now: epoch seconds (when the query is made).
    :raises LogsDenied: the caller may not read them.
    """
    from google.api_core import exceptions

    cursors = {job.job_name: new_cursor(job.cursor) for job in jobs}
    starts = [query_start(cursors[job.job_name], job.created_at) for job in jobs]
    since = None if None in starts else min(starts)  # type: ignore[type-var]
    numbers = {job_number(job.job_name): job for job in jobs}
    try:
        entries, complete = list_entries(client, project, entries_filter(list(numbers), since))
    except exceptions.Forbidden as err:  # PermissionDenied too; also a project with the Logging API off
        raise LogsDenied(f"{err}") from err
    covered = covered_until(entries, complete, now)
    by_job: dict[str, list[dict[str, Any]]] = {number: [] for number in numbers}
    lone = next(iter(numbers)) if len(numbers) == 1 else ""
    for entry in entries:
        by_job.get(job_of(entry) or lone, []).append(entry)  # a lone job's query: its entries, labelled or not
    chunks = {}
    for number, job in numbers.items():
        cursor = cursors[job.job_name]
        new = drop_seen(by_job[number], cursor)
        lines, skipped = keep_tail(entry_lines(new), job.limit)
        chunks[job.job_name] = LogChunk(lines, with_covered(advance(cursor, new), covered), skipped)
    return chunks


def read_log_chunk(
    client: Any, job_name: str, project: str, cursor: dict[str, Any] | None, limit: int, *, now: float | None = None
) -> LogChunk:
    """One job's lines since ``cursor`` (:func:`read_log_chunks` of one job; ``now`` defaults to the clock).

    :raises LogsDenied: the caller may not read them.
    """
    jobs = [JobLogs(job_name, cursor, limit)]
    return read_log_chunks(client, project, jobs, now=time.time() if now is None else now)[job_name]


def list_entries(client: Any, project: str, filter_: str) -> tuple[list[dict[str, Any]], bool]:
    """The entries ``filter_`` matches, oldest first, as the API's JSON: at most ``MAX_PAGES`` pages; and whether
    that was all of them. Blocking.

    The pages are asked for one by one through the client's JSON API (its ``list_entries`` pages on without
    bound and turns each entry into an object, its time cut to microseconds).
    """
    entries: list[dict[str, Any]] = []
    token = None
    for _ in range(MAX_PAGES):
        page = client.logging_api.api_request(
            method="POST", path="/entries:list", data=list_request(project, filter_, token), timeout=CALL_TIMEOUT
        )
        entries.extend(page.get("entries") or ())
        token = page.get("nextPageToken")
        if not token:
            return entries, True
    return entries, False
