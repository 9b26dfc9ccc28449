"""An Azure ML command job's log lines (its run's log files), a bounded chunk per poll, resumable from a small cursor.

As azure-ai-ml's ``jobs.stream()`` does, a read asks Run History for the run's details, whose ``log_files`` map
each log file's path to a read-only SAS URL of its blob, and keeps the files azure-ai-ml's ``JobLogPattern`` says
are the job's output: every node's and process's ``user_logs/std_log*.txt`` (the common runtime), else the legacy
``azureml-logs/NN_*.txt`` (``70_driver_log.txt``...). Unlike ``jobs.stream()``, which downloads every file whole at
every poll, each file is read on from where the last read stopped: one ranged GET
(``Range: bytes=<offset>-<offset + MAX_BYTES_PER_FILE - 1>``) through the SDK's requests pipeline. Blob storage
answers 206 with those bytes, 416 (``InvalidRange``) when there is nothing new, 404 before the file exists; a
file with more is read on by the next poll (its lines come late, none is lost).

The cursor, JSON-able (it travels in trigger kwargs and XCom)::

    {"files": {"user_logs/std_log.txt": 2048}}   # log file path -> bytes of it already consumed

Only complete lines are consumed while the job runs (a trailing partial line waits for its newline); the final
read takes the rest. Lines are prefixed by the file's node or process (:func:`file_prefix`); files are shown in
name order, each file's new lines in order (Azure's log lines carry no timestamps to interleave them by). Only
``read_log_chunk`` talks to Azure (in a thread, with the backend's one ``MLClient``); the rest is pure.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_wandb_launch.backends.azure_ml.batch import is_denied
from airflow_wandb_launch.backends.azure_ml.compat import requests_pipeline, run_details
from airflow_wandb_launch.launch.logs import LogChunk, LogsDenied, keep_tail, prefixed_lines

#: bytes of one log file read per poll: a file with more is read on by the next poll.
MAX_BYTES_PER_FILE = 1024 * 1024
#: seconds a job's log files (their SAS URLs) are read from Run History again: a new node's file shows up within
#: this; between, a poll only GETs the files' new bytes.
FILES_TTL_SECONDS = 60.0
#: blob answers that mean "nothing (new) to read": 404 BlobNotFound (not written yet), 416 InvalidRange (no new
#: bytes past the offset; also any range of an empty blob).
NOTHING_NEW = frozenset({404, 416})

_CONTENT_TOTAL = re.compile(r"bytes\s+(?:\d+-\d+|\*)/(\d+)")
_SAS_SIGNATURE = re.compile(r"(sig=)[^&\s'\"]+", re.IGNORECASE)
_LEGACY_ORDER = re.compile(r"\d+_")
_LEGACY_LOG_WORD = re.compile(r"_log(?=_|$)")
_NUMBERS = re.compile(r"(\d+)")


class LogReadError(RuntimeError):
    """A log file could not be read (the message names the file, never its SAS URL)."""


def log_patterns() -> tuple[str, str]:
    """azure-ai-ml's patterns of a command job's output logs: every ``user_logs/std_log*.txt`` (common runtime; the
    SDK's ``jobs.stream()`` shows only the primary's, we show every node's and process's), and the legacy runtime's
    ``azureml-logs/NN_*.txt``, which it falls back to."""
    try:
        from azure.ai.ml.constants._job.job import JobLogPattern

        return JobLogPattern.COMMON_RUNTIME_ALL_USER_LOG_PATTERN, JobLogPattern.COMMAND_JOB_LOG_PATTERN
    except (ImportError, AttributeError):  # moved in another release: the same patterns, as azure-ai-ml 1.35.2 has
        return r"user_logs/std_log.*\.txt", r"azureml-logs/[\d]{2}.+\.txt"


def natural_key(path: str) -> list[Any]:
    """Sort key of a path with its numbers compared as numbers (``node_2`` before ``node_10``). Pure."""
    return [int(part) if part.isdigit() else part for part in _NUMBERS.split(path)]


def streamed_files(paths: Iterable[str], patterns: tuple[str, str] | None = None) -> list[str]:
    """The log files a read shows, in name order: the common runtime's user logs, else (none yet) the legacy
    runtime's, as ``jobs.stream()`` chooses. Pure.

    :param patterns: (user logs, legacy logs) regular expressions; default :func:`log_patterns`.
    """
    user, legacy = patterns or log_patterns()
    paths = list(paths)
    chosen = [p for p in paths if re.fullmatch(user, p)] or [p for p in paths if re.fullmatch(legacy, p)]
    return sorted(chosen, key=natural_key)


def file_prefix(path: str) -> str:
    """How a file's lines are prefixed: its node or process, as its name says. Pure.

    ``user_logs/std_log.txt`` (a single-node job's only file) -> ``node_0``;
    ``user_logs/std_log_process_3.txt`` -> ``process_3``; ``user_logs/std_log_node_1_process_0.txt`` ->
    ``node_1_process_0``; legacy ``azureml-logs/70_driver_log.txt`` -> ``driver``, ``70_driver_log_1.txt`` ->
    ``driver_1``; any other file: its name without ``.txt``.
    """
    name = path.rpartition("/")[2].removesuffix(".txt")
    if name.startswith("std_log"):
        return name.removeprefix("std_log").lstrip("_") or "node_0"
    if _LEGACY_ORDER.match(name):
        return _LEGACY_LOG_WORD.sub("", _LEGACY_ORDER.sub("", name, count=1)) or name
    return name or path


def new_cursor(cursor: Mapping[str, Any] | None) -> dict[str, Any]:
    """A well-formed copy of ``cursor`` (None, or one of another shape, starts every file from its start). Pure."""
    cursor = copy.deepcopy(cursor) if isinstance(cursor, Mapping) else {}
    files = cursor.get("files") if isinstance(cursor.get("files"), Mapping) else {}
    offsets = {}
    for path, offset in files.items():
        if isinstance(offset, int | float) and not isinstance(offset, bool) and offset > 0:
            offsets[str(path)] = int(offset)
    return {"files": offsets}


def byte_range(offset: int, size: int = MAX_BYTES_PER_FILE) -> str:
    """The ``Range`` header of a read of ``size`` bytes from ``offset`` (inclusive bounds). Pure."""
    return f"bytes={offset}-{offset + size - 1}"


def content_total(content_range: str | None) -> int | None:
    """The blob's size a ``Content-Range`` header gives (``bytes 0-99/2048`` or ``bytes */2048``). Pure."""
    match = _CONTENT_TOTAL.fullmatch((content_range or "").strip())
    return int(match[1]) if match else None


def answered_bytes(path: str, status: int, body: bytes, offset: int, error_code: str | None = None) -> bytes:
    """The new bytes of a ranged GET's answer: 206 -> the body; 200 (the range ignored: the whole blob) -> the body
    past ``offset``; 404 / 416 -> none. Pure.

    :raises LogsDenied: 403 (``AuthorizationFailure``, an expired or revoked SAS...).
    :raises LogReadError: any other answer.
    """
    if status == 206:
        return body
    if status == 200:
        return body[offset : offset + MAX_BYTES_PER_FILE]
    if status in NOTHING_NEW:
        return b""
    said = f"HTTP {status}" + (f" {error_code}" if error_code else "")
    if status == 403:
        raise LogsDenied(f"reading log file {path} was denied ({said})")
    raise LogReadError(f"reading log file {path} failed ({said})")


def takes_partial_line(data: bytes, *, final: bool, at_end: bool, max_bytes: int = MAX_BYTES_PER_FILE) -> bool:
    """Whether a read consumes its trailing partial line too: at the end of the final read's file (nothing more will
    come), or when a full read holds no newline at all (a line longer than ``max_bytes``: shown cut). Pure."""
    return (final and at_end) or (len(data) >= max_bytes and b"\n" not in data)


def split_lines(data: bytes, *, take_partial: bool = False) -> tuple[list[str], int]:
    """The complete lines of ``data`` (also its trailing partial line with ``take_partial``), decoded as UTF-8
    (invalid bytes replaced, ``\\r`` stripped), and how many bytes they consumed. Pure."""
    consumed = len(data) if take_partial else data.rfind(b"\n") + 1
    if not consumed:
        return [], 0
    text = data[:consumed].removesuffix(b"\n")
    return [line.decode("utf-8", errors="replace").rstrip("\r") for line in text.split(b"\n")], consumed


def redacted(message: str) -> str:
    """``message`` with any SAS signature (``sig=...``) blanked out: a read's error may quote its URL. Pure."""
    return _SAS_SIGNATURE.sub(r"\1REDACTED", message)


class LogFiles:
    """The jobs' log files (path -> SAS URL) as Run History last gave them, kept in memory only (a SAS URL is a
    credential: it never goes into a cursor), read again after ``FILES_TTL_SECONDS``, on a job's final read, or
    when a file's GET was refused (an expired SAS). Thread-safe enough: a stale or missing entry means one more read.
    """

    def __init__(self) -> None:
        self._files: dict[str, tuple[float, dict[str, str]]] = {}

    def get(
        self, client: Any, job_name: str, *, now: float, final: bool, expected: int | None = None
    ) -> tuple[dict[str, str] | None, bool]:
        """The job's files (None: it has no run yet), and whether they were just read from Run History.

        :param expected: the job's nodes: while fewer files stream, Run History is read every time.
        """
        read_at, urls = self._files.get(job_name, (0.0, {}))
        complete = len(streamed_files(urls)) >= max(expected or 1, 1)
        if not final and complete and now - read_at < FILES_TTL_SECONDS:
            return urls, False
        found = _log_files(client, job_name)
        if found is not None:
            self._files[job_name] = (now, found)
        return found, True

    def forget(self, job_name: str) -> None:
        self._files.pop(job_name, None)


def _log_files(client: Any, job_name: str) -> dict[str, str] | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        details = run_details(client, job_name)
    except ResourceNotFoundError:  # no run yet
        return None
    except Exception as err:
        if is_denied(err):
            raise LogsDenied(f"{err}") from err
        raise
    return dict(getattr(details, "log_files", None) or {})


def read_log_chunk(
    client: Any,
    job_name: str,
    cursor: dict[str, Any] | None,
    limit: int,
    *,
    final: bool = False,
    files: LogFiles | None = None,
    now: float = 0.0,
    expected_files: int | None = None,
) -> LogChunk:
    """The job's lines since ``cursor``: the newest ``limit`` of them shown, the older ones counted as skipped.

    :param client: the ``MLClient`` (its Run History operations and its requests pipeline).
    :param final: the job ended: take every file's trailing partial line too.
    :param files: where the job's files are kept between reads (None: read from Run History every time).
    :param now: epoch seconds (for ``files``).
    :param expected_files: the job's nodes, if known (its files are looked for until that many stream).
    :raises LogsDenied: the caller may not read the run's details or its log files.
    """
    cursor = new_cursor(cursor)
    files = files or LogFiles()
    urls, fresh = files.get(client, job_name, now=now, final=final, expected=expected_files)
    if urls is None:
        return LogChunk(cursor=cursor)
    pipeline = requests_pipeline(client)
    offsets, lines = dict(cursor["files"]), []
    for path in streamed_files(urls):
        try:
            got, consumed = read_file(pipeline, path, urls[path], offsets.get(path, 0), final=final)
        except LogsDenied:
            if fresh:
                raise
            files.forget(job_name)  # a kept SAS URL that expired: ask Run History for a new one, once
            urls, fresh = files.get(client, job_name, now=now, final=True)
            got, consumed = read_file(pipeline, path, (urls or {}).get(path, ""), offsets.get(path, 0), final=final)
        lines.extend(line for text in got for line in prefixed_lines(file_prefix(path), text))
        if consumed:
            offsets[path] = offsets.get(path, 0) + consumed
    kept, skipped = keep_tail(lines, limit)
    return LogChunk(kept, {"files": offsets}, skipped)


def read_file(pipeline: Any, path: str, url: str, offset: int, *, final: bool) -> tuple[list[str], int]:
    """One log file's new lines from ``offset`` (at most ``MAX_BYTES_PER_FILE`` bytes), and the bytes consumed.

    :param pipeline: azure-ai-ml's requests pipeline (no credential: the SAS URL is the authorization).
    :param url: the file's SAS URL (never quoted in errors).
    """
    try:
        response = pipeline.get(url, headers={"Range": byte_range(offset, MAX_BYTES_PER_FILE)})
        body = response.read()
    except Exception as err:  # a transport error may quote the URL: name the file instead
        raise LogReadError(f"reading log file {path} failed: {type(err).__name__}: {redacted(str(err))}") from None
    status, headers = response.status_code, response.headers
    data = answered_bytes(path, status, body, offset, headers.get("x-ms-error-code"))
    total = len(body) if status == 200 else content_total(headers.get("Content-Range"))
    at_end = offset + len(data) >= total if total is not None else len(data) < MAX_BYTES_PER_FILE
    take_partial = takes_partial_line(data, final=final, at_end=at_end, max_bytes=MAX_BYTES_PER_FILE)
    return split_lines(data, take_partial=take_partial)
