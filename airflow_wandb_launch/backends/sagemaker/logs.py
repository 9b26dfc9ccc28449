"""A SageMaker training job's CloudWatch log lines, a bounded chunk per poll, resumable from a small cursor.

SageMaker writes each instance's output to ``/aws/sagemaker/TrainingJobs``, one stream per instance start:
``<job-name>/algo-<n>-<epoch>`` (an instance restarted by managed spot opens a new stream). A read lists the
job's streams (``DescribeLogStreams``) while some instance has none yet, and every ``RELIST_SECONDS`` after,
then reads each stream on from its position (``GetLogEvents``, forward from head).

The cursor, JSON-able (it travels in trigger kwargs and XCom)::

    {"listed": 1700000000.0,                    # when the streams were last listed (epoch seconds)
     "streams": {"job/algo-1-1700000000": {
         "token": "f/...",     # GetLogEvents' nextForwardToken ...
         "start": 0,           # ... for requests with this startTime (ms; 0: none)
         "ts": 1700000000123,  # the last event's timestamp (ms) ...
         "skip": 2}}}          # ... and how many events at it were read

The token resumes exactly (asked with the same startTime it was given for); should CloudWatch refuse it (they
expire), the read resumes at ``ts``, skipping the ``skip`` events there that were already read. Only
``read_log_chunk`` calls the service (in a thread, with the backend's one ``logs`` client); the rest is pure.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from airflow_wandb_launch.backends.sagemaker.batch import is_denied
from airflow_wandb_launch.launch.logs import LogChunk, LogsDenied, keep_tail, prefixed_lines

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
#: pages (each up to 10,000 events or 1 MB) of one stream read per poll: a stream with more is read on by the
#: next poll (its lines come late, none is lost).
MAX_PAGES_PER_STREAM = 5
#: how often a job whose every instance has a stream is listed again (a spot restart opens a new stream).
RELIST_SECONDS = 300.0
#: DescribeLogStreams pages read per listing (50 streams a page).
MAX_LISTING_PAGES = 4

_EPOCH_SUFFIX = re.compile(r"-\d{9,}$")


def instance_name(job_name: str, stream: str) -> str:
    """The instance a stream belongs to, as lines are prefixed: ``job/algo-1-1700000000`` -> ``algo-1``. Pure."""
    rest = stream[len(job_name) + 1 :] if stream.startswith(f"{job_name}/") else stream.rpartition("/")[2]
    return _EPOCH_SUFFIX.sub("", rest) or rest or stream


def new_cursor(cursor: dict[str, Any] | None) -> dict[str, Any]:
    """A well-formed copy of ``cursor`` (None, or one of another shape, starts from the job's start). Pure."""
    cursor = copy.deepcopy(cursor) if isinstance(cursor, dict) else {}
    streams = cursor.get("streams") if isinstance(cursor.get("streams"), dict) else {}
    positions = {}
    for name, position in streams.items():
        position = position if isinstance(position, dict) else {}
        token = position.get("token")
        positions[str(name)] = {
            "token": token if isinstance(token, str) and token else None,
            "start": int(position.get("start") or 0),
            "ts": int(position.get("ts") or 0),
            "skip": int(position.get("skip") or 0),
        }
    listed = cursor.get("listed")
    return {"listed": float(listed) if isinstance(listed, int | float) else None, "streams": positions}


def should_list(cursor: dict[str, Any], expected_streams: int | None, now: float, final: bool) -> bool:
    """Whether this read lists the job's streams: never listed, an instance without a stream yet, the last
    listing older than ``RELIST_SECONDS``, or the final read. Pure."""
    listed = cursor.get("listed")
    if final or listed is None:
        return True
    if len(cursor["streams"]) < max(expected_streams or 1, 1):
        return True
    return now - listed >= RELIST_SECONDS


def with_streams(cursor: dict[str, Any], names: Iterable[str], now: float) -> dict[str, Any]:
    """``cursor`` knowing ``names`` too (new streams start at their head; known ones keep their position). Pure."""
    streams = dict(cursor["streams"])
    for name in names:
        streams.setdefault(name, {"token": None, "start": 0, "ts": 0, "skip": 0})
    return {**cursor, "listed": now, "streams": dict(sorted(streams.items()))}


def drop_seen(events: list[dict[str, Any]], position: dict[str, Any]) -> list[dict[str, Any]]:
    """Events of a read resumed by time (``startTime=ts``): the first ``skip`` events at ``ts`` were read
    already. Pure."""
    ts, skip = position.get("ts") or 0, position.get("skip") or 0
    kept = []
    for event in events:
        if skip and event["timestamp"] == ts:
            skip -= 1
            continue
        kept.append(event)
    return kept


def advance(position: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The position after ``events`` (its token aside): the last timestamp and how many events at it. Pure."""
    ts, skip = position.get("ts") or 0, position.get("skip") or 0
    for event in events:
        if event["timestamp"] == ts:
            skip += 1
        else:
            ts, skip = event["timestamp"], 1
    return {**position, "ts": ts, "skip": skip}


def page_request(stream: str, position: dict[str, Any]) -> dict[str, Any]:
    """GetLogEvents' arguments for the page after ``position``: by token (with the startTime it was given
    for), else from ``ts`` on. Pure."""
    request: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True}
    start = position.get("start") if position.get("token") else position.get("ts")
    if position.get("token"):
        request["nextToken"] = position["token"]
    if start:
        request["startTime"] = start
    return request


def by_time(position: dict[str, Any]) -> dict[str, Any]:
    """``position`` without its token: the next read starts at ``ts`` (and its tokens are for that start). Pure."""
    return {**position, "token": None, "start": position.get("ts") or 0}


def merged_lines(job_name: str, events: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every stream's new events as prefixed lines, interleaved in time (streams in name order on a tie). Pure."""
    tagged = [
        (event["timestamp"], order, i, instance_name(job_name, stream), event.get("message") or "")
        for order, (stream, stream_events) in enumerate(sorted(events.items()))
        for i, event in enumerate(stream_events)
    ]
    return [line for *_, prefix, message in sorted(tagged) for line in prefixed_lines(prefix, message)]


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
    """The job's lines since ``cursor``: the newest ``limit`` of them shown, the older ones counted as skipped.

    :param client: a boto3 ``logs`` client.
    :param expected_streams: instances the job runs on (streams to wait for), if known.
    :param now: epoch seconds (when streams were listed).
    :param final: the job ended: list its streams once more.
    :raises LogsDenied: the caller may not read them.
    """
    try:
        return _read(client, job_name, new_cursor(cursor), limit, expected_streams, now, final)
    except Exception as err:
        if is_denied(err):
            raise LogsDenied(f"{err}") from err
        raise


def _read(
    client: Any,
    job_name: str,
    cursor: dict[str, Any],
    limit: int,
    expected_streams: int | None,
    now: float,
    final: bool,
) -> LogChunk:
    if should_list(cursor, expected_streams, now, final):
        cursor = with_streams(cursor, list_streams(client, job_name), now)
    events: dict[str, list[dict[str, Any]]] = {}
    streams = dict(cursor["streams"])
    for name, position in cursor["streams"].items():
        events[name], streams[name] = read_stream(client, name, position)
    lines, skipped = keep_tail(merged_lines(job_name, events), limit)
    return LogChunk(lines, {**cursor, "streams": streams}, skipped)


def list_streams(client: Any, job_name: str) -> list[str]:
    """The job's log streams (none while no instance has written, or before the log group exists)."""
    names: list[str] = []
    request: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{job_name}/"}
    for _ in range(MAX_LISTING_PAGES):
        try:
            page = client.describe_log_streams(**request)
        except client.exceptions.ResourceNotFoundException:  # the account's first job: no log group yet
            return names
        names.extend(stream["logStreamName"] for stream in page.get("logStreams") or ())
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    return names


def read_stream(client: Any, stream: str, position: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The stream's events after ``position`` (at most ``MAX_PAGES_PER_STREAM`` pages) and the position after."""
    events: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES_PER_STREAM):
        token = position.get("token")
        if token is None:
            position = by_time(position)
        try:
            page = client.get_log_events(**page_request(stream, position))
        except client.exceptions.ResourceNotFoundException:  # the stream is gone: nothing more to read
            break
        except client.exceptions.InvalidParameterException:
            if not token:
                raise
            position, token = by_time(position), None  # a refused (expired) token: resume by time
            page = client.get_log_events(**page_request(stream, position))
        got = page.get("events") or []
        if token is None:
            got = drop_seen(got, position)
        events.extend(got)
        next_token = page.get("nextForwardToken")
        position = {**advance(position, got), "token": next_token or token}
        if not page.get("events") or next_token == token:  # the end of the stream, for now
            break
    return events, position
