"""SageMaker training jobs' CloudWatch log lines, a bounded chunk per job per poll, many jobs per call, resumable
from a small cursor per job.

SageMaker writes each instance's output to ``/aws/sagemaker/TrainingJobs``, one stream per instance start:
``<job-name>/algo-<n>-<epoch>`` (an instance restarted by managed spot opens a new stream). A job's streams are
listed (``DescribeLogStreams``, ``LISTINGS_PER_SECOND`` per connection on average) while some instance has none
yet and, for a spot job, every ``RELIST_SECONDS`` after and when it ended (unless just listed). Their events are
read with ``FilterLogEvents`` over up to ``MAX_STREAMS_PER_CALL`` streams at once, of any jobs of the connection,
oldest first: CloudWatch Logs rations reads per account and region (a few dozen calls a second, shared with everything
else reading logs there), so a thousand waiting jobs must not make a thousand calls a poll. A call lists from the
earliest point any of its streams needs on, at most ``MAX_PAGES_PER_CALL`` pages; what it did not reach is read by
the next poll (those lines come late, none is lost).

A job's cursor, JSON-able (it travels in trigger kwargs and XCom)::

    {"listed": 1700000000.0,                    # when the streams were last listed (epoch seconds)
     "streams": {"job/algo-1-1700000000": {
         "ts": 1700000000123,   # the last event read's timestamp (ms) ...
         "skip": 2,             # ... and how many events at it were read
         "covered": 1700000060000}}}  # every event of the stream up to here (ms) was listed

A read shows a stream's events after ``ts``, and those at ``ts`` past the first ``skip``: events sharing a
millisecond across two reads are neither lost nor shown twice. A call starts at the latest of its streams' ``ts``
and ``covered`` that is earliest among them (a new stream: ``LATE_MS`` before it began), so a quiet instance does
not make every call list its neighbours' old events again; ``covered`` trails a call that listed everything by
``LATE_MS``, how late an event may become searchable and still be shown. Only ``read_log_chunks`` and what it
calls talk to CloudWatch (in a thread, with the backend's one ``logs`` client); the rest is pure.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_wandb_launch.backends.sagemaker.batch import is_denied
from airflow_wandb_launch.launch.logs import LogChunk, LogsDenied, keep_tail, prefixed_lines
from airflow_wandb_launch.launch.logs import covered_until as covered_until_any

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
#: streams one FilterLogEvents call reads at most (its ``logStreamNames`` takes 100).
MAX_STREAMS_PER_CALL = 100
#: pages (each up to 10,000 events or 1 MB) one call reads per poll: the rest is read by the next poll.
MAX_PAGES_PER_CALL = 5
#: how often a job whose every instance has a stream is listed again (a spot restart opens a new stream).
RELIST_SECONDS = 300.0
#: DescribeLogStreams pages read per listing (50 streams a page).
MAX_LISTING_PAGES = 4
#: DescribeLogStreams calls a connection makes per second on average, and at most at once (it is rationed too, a few
#: calls a second per account and region): when a thousand jobs start together, their streams are found over the
#: next polls, the most in need first.
LISTINGS_PER_SECOND, MAX_LISTINGS_PER_READ = 2.0, 60
#: an ended job's streams are listed once more (a spot restart's new stream) unless listed this recently.
FINAL_RELIST_SECONDS = 60.0
#: ms an event may take to become searchable after its timestamp and still be shown.
LATE_MS = 120_000

_EPOCH_SUFFIX = re.compile(r"-\d{9,}$")


class ListingAllowance:
    """How many jobs' streams a connection may list now: ``LISTINGS_PER_SECOND`` accrue, up to
    ``MAX_LISTINGS_PER_READ``."""

    def __init__(self, per_second: float | None = None, most: int | None = None) -> None:
        self.per_second = LISTINGS_PER_SECOND if per_second is None else per_second
        self.most = MAX_LISTINGS_PER_READ if most is None else most
        self._left: float = float(self.most)
        self._at: float | None = None

    def take(self, wanted: int, now: float) -> int:
        """Grant up to ``wanted`` listings at ``now`` (epoch seconds) and count them spent."""
        if self._at is not None:
            self._left = min(self.most, self._left + (now - self._at) * self.per_second)
        self._at = now
        granted = max(min(wanted, int(self._left)), 0)
        self._left -= granted
        return granted


@dataclass(frozen=True)
class JobLogs:
    """One job's part of a read.

    :param job_name: the training job's name.
    :param cursor: where its lines resume (None: from its start).
    :param limit: lines to show at most.
    :param expected_streams: instances it runs on (streams to wait for), if known.
    :param final: it ended: list its streams once more.
    :param spot: managed spot (a restarted instance opens a new stream: its streams are listed again now and then).
    """

    job_name: str
    cursor: dict[str, Any] | None
    limit: int
    expected_streams: int | None = None
    final: bool = False
    spot: bool = True


def instance_name(job_name: str, stream: str) -> str:
    """The instance a stream belongs to, as lines are prefixed: ``job/algo-1-1700000000`` -> ``algo-1``. Pure."""
    rest = stream[len(job_name) + 1 :] if stream.startswith(f"{job_name}/") else stream.rpartition("/")[2]
    return _EPOCH_SUFFIX.sub("", rest) or rest or stream


def new_cursor(cursor: Mapping[str, Any] | None) -> dict[str, Any]:
    """A well-formed copy of ``cursor`` (None, or one of another shape, starts from the job's start; an earlier
    version's ``token`` and ``start`` are dropped: its ``ts`` and ``skip`` say where to resume). Pure."""
    cursor = copy.deepcopy(dict(cursor)) if isinstance(cursor, Mapping) else {}
    streams = cursor.get("streams") if isinstance(cursor.get("streams"), Mapping) else {}
    positions = {}
    for name, position in streams.items():
        position = position if isinstance(position, Mapping) else {}
        positions[str(name)] = {key: _count(position.get(key)) for key in ("ts", "skip", "covered")}
    listed = cursor.get("listed")
    listed = float(listed) if isinstance(listed, int | float) and not isinstance(listed, bool) else None
    return {"listed": listed, "streams": positions}


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0


def should_list(
    cursor: dict[str, Any], expected_streams: int | None, now: float, final: bool, spot: bool = True
) -> bool:
    """Whether this read lists the job's streams: never listed, an instance without a stream yet, or, for a spot
    job (whose restarted instances open new streams), the last listing older than ``RELIST_SECONDS``
    (``FINAL_RELIST_SECONDS`` on the final read). Pure."""
    listed = cursor.get("listed")
    if listed is None:
        return True
    if len(cursor["streams"]) < max(expected_streams or 1, 1):
        return True
    return spot and now - listed >= (FINAL_RELIST_SECONDS if final else RELIST_SECONDS)


def with_streams(cursor: dict[str, Any], created: Mapping[str, int], now: float) -> dict[str, Any]:
    """``cursor`` knowing the streams in ``created`` (name -> its first event's time or its creation, ms) too: a
    new one is read from ``LATE_MS`` before that (an instance's first lines may be stamped before the stream was
    made); known ones keep their position. Pure."""
    streams = dict(cursor["streams"])
    for name, first in created.items():
        streams.setdefault(name, {"ts": 0, "skip": 0, "covered": max(int(first or 0) - LATE_MS, 0)})
    return {**cursor, "listed": now, "streams": dict(sorted(streams.items()))}


def drop_seen(events: list[dict[str, Any]], position: dict[str, Any]) -> list[dict[str, Any]]:
    """A stream's events (oldest first) that ``position`` has not read: after ``ts``, and at ``ts`` past the first
    ``skip``. Pure."""
    ts, skip = position.get("ts") or 0, position.get("skip") or 0
    kept = []
    for event in events:
        if event["timestamp"] < ts:
            continue
        if skip and event["timestamp"] == ts:
            skip -= 1
            continue
        kept.append(event)
    return kept


def advance(position: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The position after ``events``: the last timestamp and how many events at it. Pure."""
    ts, skip = position.get("ts") or 0, position.get("skip") or 0
    for event in events:
        if event["timestamp"] == ts:
            skip += 1
        else:
            ts, skip = event["timestamp"], 1
    return {**position, "ts": ts, "skip": skip}


def query_start(position: dict[str, Any]) -> int:
    """The ms from which a call must list the stream's events: the later of its ``ts`` and ``covered``. Pure."""
    return max(position.get("ts") or 0, position.get("covered") or 0)


def covered_until(events: list[dict[str, Any]], complete: bool, now_ms: int) -> int | None:
    """Up to when a call listed every event of its streams (ms): ``now_ms`` less ``LATE_MS`` if it listed them
    all, else no later than its last event. Pure."""
    return covered_until_any(events[-1]["timestamp"] if events else None, complete, now_ms - LATE_MS)


def with_covered(position: dict[str, Any], covered: int | None) -> dict[str, Any]:
    """``position`` knowing that every event of its stream up to ``covered`` (ms) was listed. Pure."""
    if covered is None or covered <= (position.get("covered") or 0):
        return position
    return {**position, "covered": covered}


def filter_request(streams: list[str], start: int, token: str | None = None) -> dict[str, Any]:
    """FilterLogEvents' arguments for one page of ``streams``' events from ``start`` (ms) on. Pure."""
    # interleaved: what CloudWatch always does since 2019 (the flag is ignored there); some fakes still need it
    request: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNames": streams, "interleaved": True}
    if start:
        request["startTime"] = start
    if token:
        request["nextToken"] = token
    return request


def merged_lines(job_name: str, events: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every stream's new events as prefixed lines, interleaved in time (streams in name order on a tie). Pure."""
    tagged = [
        (event["timestamp"], order, i, instance_name(job_name, stream), event.get("message") or "")
        for order, (stream, stream_events) in enumerate(sorted(events.items()))
        for i, event in enumerate(stream_events)
    ]
    return [line for *_, prefix, message in sorted(tagged) for line in prefixed_lines(prefix, message)]


def batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    """``items`` in consecutive lists of at most ``size``. Pure."""
    return (items[i : i + size] for i in range(0, len(items), size))


# -- the calls ---------------------------------------------------------------------------------------------------


def read_log_chunks(
    client: Any, jobs: list[JobLogs], *, now: float, allowance: ListingAllowance | None = None
) -> dict[str, LogChunk]:
    """The jobs' lines since their cursors, by job name: each job's newest ``limit`` shown, its older new ones
    counted as skipped. Lists the streams of the jobs that need it, then reads every stream's events in
    ``FilterLogEvents`` calls of ``MAX_STREAMS_PER_CALL`` streams.

    :param client: a boto3 ``logs`` client.
    :param now: epoch seconds.
    :param allowance: the connection's DescribeLogStreams allowance (None: list every job that needs it).
    :raises LogsDenied: the caller may not read them.
    """
    try:
        return _read(client, jobs, now, allowance)
    except Exception as err:
        if is_denied(err):
            raise LogsDenied(f"{err}") from err
        raise


def read_log_chunk(
    client: Any,
    job_name: str,
    cursor: dict[str, Any] | None,
    limit: int,
    *,
    expected_streams: int | None,
    now: float,
    final: bool = False,
) -> LogChunk:
    """One job's lines since ``cursor`` (:func:`read_log_chunks` of one job)."""
    job = JobLogs(job_name, cursor, limit, expected_streams, final)
    return read_log_chunks(client, [job], now=now)[job_name]


def listing_order(jobs: list[JobLogs], cursors: Mapping[str, dict[str, Any]], now: float) -> list[str]:
    """The jobs whose streams a read should list, the most in need first (never listed, then the longest ago).
    Pure."""
    due = [job for job in jobs if should_list(cursors[job.job_name], job.expected_streams, now, job.final, job.spot)]
    due.sort(key=lambda job: cursors[job.job_name]["listed"] or 0.0)
    return [job.job_name for job in due]


def _read(client: Any, jobs: list[JobLogs], now: float, allowance: ListingAllowance | None) -> dict[str, LogChunk]:
    cursors = {job.job_name: new_cursor(job.cursor) for job in jobs}
    due = listing_order(jobs, cursors, now)
    granted = allowance.take(len(due), now) if allowance is not None else len(due)
    for name in due[:granted]:
        cursors[name] = with_streams(cursors[name], list_streams(client, name), now)
    owners = {stream: job.job_name for job in jobs for stream in cursors[job.job_name]["streams"]}
    events: dict[str, list[dict[str, Any]]] = {stream: [] for stream in owners}
    covered: dict[str, int | None] = {}
    for streams in batches(sorted(owners), MAX_STREAMS_PER_CALL):
        start = min(query_start(cursors[owners[s]]["streams"][s]) for s in streams)
        listed, complete = filter_events(client, streams, start)
        for event in listed:
            events.setdefault(event["logStreamName"], []).append(event)
        covered.update(dict.fromkeys(streams, covered_until(listed, complete, int(now * 1000))))
    chunks = {}
    for job in jobs:
        cursor, new, positions = cursors[job.job_name], {}, {}
        for stream, position in cursor["streams"].items():
            new[stream] = drop_seen(events.get(stream, []), position)
            positions[stream] = with_covered(advance(position, new[stream]), covered.get(stream))
        lines, skipped = keep_tail(merged_lines(job.job_name, new), job.limit)
        chunks[job.job_name] = LogChunk(lines, {**cursor, "streams": positions}, skipped)
    return chunks


def list_streams(client: Any, job_name: str) -> dict[str, int]:
    """The job's log streams and when each began (ms: its first event's time, else its creation, whichever is
    earlier): none while no instance has written, or before the log group exists."""
    created: dict[str, int] = {}
    request: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{job_name}/"}
    for _ in range(MAX_LISTING_PAGES):
        try:
            page = client.describe_log_streams(**request)
        except client.exceptions.ResourceNotFoundException:  # the account's first job: no log group yet
            return created
        for stream in page.get("logStreams") or ():
            began = [stream.get(key) for key in ("creationTime", "firstEventTimestamp") if stream.get(key)]
            created[stream["logStreamName"]] = int(min(began, default=0))
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    return created


def filter_events(client: Any, streams: list[str], start: int) -> tuple[list[dict[str, Any]], bool]:
    """``streams``' events from ``start`` (ms) on, oldest first (CloudWatch sorts them by timestamp), at most
    ``MAX_PAGES_PER_CALL`` pages; and whether that was all of them."""
    events: list[dict[str, Any]] = []
    token = None
    for _ in range(MAX_PAGES_PER_CALL):
        try:
            page = client.filter_log_events(**filter_request(streams, start, token))
        except client.exceptions.ResourceNotFoundException:  # the streams (or the group) are gone
            return events, True
        events.extend(page.get("events") or ())
        token = page.get("nextToken")
        if not token:
            return events, True
    return events, False
