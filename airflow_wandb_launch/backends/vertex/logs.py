"""A Vertex AI CustomJob's Cloud Logging lines, a bounded chunk per poll, resumable from a small cursor.

Vertex writes each replica's output to Cloud Logging as entries of the monitored resource ``ml_job``, labelled
with the job's numeric id and the replica (``resource.labels.task_name``: ``workerpool0-0``; ``service`` for
Vertex's own messages). A read lists the job's entries oldest first (``entries.list``, JSON over HTTP through
``google-cloud-logging``'s client) from the cursor's timestamp on: at most ``MAX_PAGES`` pages of
``PAGE_SIZE`` entries per poll; the next poll reads on from where this one stopped (those lines come late, none
is lost).

The cursor, JSON-able (it travels in trigger kwargs and XCom)::

    {"ts": "2024-05-01T12:00:00.123456789Z",  # the last entry read's timestamp, as Cloud Logging wrote it ...
     "seen": ["1x2y3z", "1x2y40"]}            # ... and the insertIds of the entries read at that timestamp

A resumed read asks for ``timestamp>=ts`` and drops the ``seen`` entries: entries sharing a timestamp across two
reads are neither lost nor shown twice. Timestamps are compared as epoch nanoseconds (exactly). An entry that
reaches Cloud Logging after a later-stamped one was read is not shown (the read never looks back). Only
``read_log_chunk`` calls the service (in a thread, with the backend's one logging client); the rest is pure.
"""

from __future__ import annotations

import calendar
import copy
import json
import re
from datetime import datetime
from typing import Any

from airflow_wandb_launch.launch.logs import LogChunk, LogsDenied, keep_tail, prefixed_lines

DEFAULT_LOGGING_ENDPOINT = "https://logging.googleapis.com"
#: entries per ``entries.list`` page (the API's maximum).
PAGE_SIZE = 1000
#: pages read per poll at most: a job that wrote more is read on by the next poll.
MAX_PAGES = 5
#: seconds one page's call may take.
CALL_TIMEOUT = 60.0
#: the monitored resource type of a Vertex AI CustomJob's entries.
RESOURCE_TYPE = "ml_job"
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
    ts = cursor.get("ts")
    try:
        epoch_nanos(ts)
    except ValueError:
        return {"ts": None, "seen": []}
    seen = cursor.get("seen")
    return {"ts": ts, "seen": [i for i in seen if isinstance(i, str)] if isinstance(seen, list) else []}


def entries_filter(job_id: str, cursor: dict[str, Any]) -> str:
    """The Logging query for the job's entries from the cursor's timestamp on (all of them on a first read). Pure.

    :param job_id: the job's numeric id.
    """
    terms = [f'resource.type="{RESOURCE_TYPE}"', f'resource.labels.job_id="{job_id}"']
    if cursor.get("ts"):
        terms.append(f'timestamp>="{cursor["ts"]}"')
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
    """Entries of a read resumed at ``ts``: those at ``ts`` whose insertId is ``seen`` were read already. Pure."""
    if not cursor.get("ts") or not cursor.get("seen"):
        return list(entries)
    ts, seen = epoch_nanos(cursor["ts"]), set(cursor["seen"])
    return [e for e in entries if not (e.get("insertId") in seen and _nanos(e) == ts)]


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
    return {"ts": ts, "seen": seen}


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


def read_log_chunk(client: Any, job_name: str, project: str, cursor: dict[str, Any] | None, limit: int) -> LogChunk:
    """The job's lines since ``cursor``: the newest ``limit`` of them shown, the older ones counted as skipped.

    :param client: a ``google.cloud.logging.Client`` over HTTP (``_use_grpc=False``).
    :param job_name: the CustomJob's resource name.
    :param project: the project whose logs hold the job's entries.
    :raises LogsDenied: the caller may not read them.
    """
    from google.api_core import exceptions

    cursor = new_cursor(cursor)
    try:
        entries = list_entries(client, project, entries_filter(job_number(job_name), cursor))
    except exceptions.Forbidden as err:  # PermissionDenied too; also a project with the Logging API off
        raise LogsDenied(f"{err}") from err
    new = drop_seen(entries, cursor)
    lines, skipped = keep_tail(entry_lines(new), limit)
    return LogChunk(lines, advance(cursor, new), skipped)


def list_entries(client: Any, project: str, filter_: str) -> list[dict[str, Any]]:
    """The entries ``filter_`` matches, oldest first, as the API's JSON: at most ``MAX_PAGES`` pages. Blocking.

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
            break
    return entries
