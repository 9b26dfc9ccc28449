"""The pure parts of Azure ML log tailing: which files stream, their prefixes, cursors, ranges and line splitting;
and ``read_log_chunk`` against a fake client (the real one is in tests/integration/test_azure_ml_log_tailing.py)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from airflow_wandb_launch.backends.azure_ml.logs import (
    MAX_BYTES_PER_FILE,
    LogReadError,
    answered_bytes,
    byte_range,
    content_total,
    file_prefix,
    log_patterns,
    natural_key,
    new_cursor,
    read_log_chunk,
    redacted,
    split_lines,
    streamed_files,
    takes_partial_line,
)
from airflow_wandb_launch.launch.logs import LogsDenied

STD = "user_logs/std_log.txt"


def test_log_patterns_are_the_sdks():
    from azure.ai.ml.constants._job.job import JobLogPattern

    assert log_patterns() == (JobLogPattern.COMMON_RUNTIME_ALL_USER_LOG_PATTERN, JobLogPattern.COMMAND_JOB_LOG_PATTERN)


def test_log_patterns_without_the_sdk_are_the_same(monkeypatch):
    import sys

    sdk = log_patterns()
    monkeypatch.setitem(sys.modules, "azure.ai.ml.constants._job.job", None)  # the import fails
    assert log_patterns() == sdk


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        ([], []),
        (  # the common runtime: every node's and process's std_log, nothing else
            [
                "user_logs/std_log_node_1_process_0.txt",
                "user_logs/std_log_node_0_process_0.txt",
                "system_logs/lifecycler/execution-wrapper.log",
                "system_logs/cs_capability/cs-capability.log",
                "azureml-logs/70_driver_log.txt",  # both runtimes: the common runtime's files win
                "user_logs/std_log.txt.bak",
                "user_logs/other.txt",
            ],
            ["user_logs/std_log_node_0_process_0.txt", "user_logs/std_log_node_1_process_0.txt"],
        ),
        ([STD, "logs/azureml/executionlogs.txt"], [STD]),
        (  # numbers compared as numbers
            ["user_logs/std_log_process_10.txt", "user_logs/std_log_process_2.txt", "user_logs/std_log_process_0.txt"],
            ["user_logs/std_log_process_0.txt", "user_logs/std_log_process_2.txt", "user_logs/std_log_process_10.txt"],
        ),
        (  # the legacy runtime, when no common runtime file is there
            ["azureml-logs/70_driver_log_1.txt", "azureml-logs/70_driver_log_0.txt", "logs/azureml/0_123_azureml.log"],
            ["azureml-logs/70_driver_log_0.txt", "azureml-logs/70_driver_log_1.txt"],
        ),
        (["azureml-logs/hyperdrive.txt", "system_logs/x.txt"], []),
    ],
)
def test_streamed_files(paths, expected):
    assert streamed_files(paths) == expected


def test_streamed_files_takes_other_patterns():
    assert streamed_files(["a/1.log", "b/2.txt", "a/10.log"], (r"a/.*\.log", r"b/.*")) == ["a/1.log", "a/10.log"]


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        (STD, "node_0"),
        ("user_logs/std_log_process_3.txt", "process_3"),
        ("user_logs/std_log_process_00.txt", "process_00"),
        ("user_logs/std_log_node_1_process_0.txt", "node_1_process_0"),
        ("user_logs/std_log_ps.txt", "ps"),
        ("azureml-logs/70_driver_log.txt", "driver"),
        ("azureml-logs/70_driver_log_1.txt", "driver_1"),
        ("azureml-logs/70_driver_log_rank_0.txt", "driver_rank_0"),
        ("azureml-logs/55_azureml-execution-tvmps_ab12_d.txt", "azureml-execution-tvmps_ab12_d"),
        ("azureml-logs/75_job_post-tvmps_ab12_d.txt", "job_post-tvmps_ab12_d"),
        ("other/thing.txt", "thing"),
    ],
)
def test_file_prefix(path, prefix):
    assert file_prefix(path) == prefix


def test_natural_key_orders_numbers_as_numbers():
    names = ["node_10", "node_2", "node_1_process_3", "node_1_process_10"]
    assert sorted(names, key=natural_key) == ["node_1_process_3", "node_1_process_10", "node_2", "node_10"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, {"files": {}}),
        ({}, {"files": {}}),
        ("garbage", {"files": {}}),
        ({"files": "garbage"}, {"files": {}}),
        ({"files": {STD: 12}}, {"files": {STD: 12}}),
        ({"files": {STD: 12.0, "a": 0, "b": -3, "c": None, "d": "7", "e": True}}, {"files": {STD: 12}}),
        ({"streams": {"x": {}}, "files": {STD: 5}}, {"files": {STD: 5}}),  # another shape's keys dropped
    ],
)
def test_new_cursor_is_well_formed_and_json_able(given, expected):
    cursor = new_cursor(given)
    assert cursor == expected
    assert json.loads(json.dumps(cursor)) == cursor


def test_new_cursor_copies():
    given = {"files": {STD: 1}}
    new_cursor(given)["files"][STD] = 99
    assert given == {"files": {STD: 1}}


@pytest.mark.parametrize(
    ("offset", "size", "header"),
    [(0, 10, "bytes=0-9"), (10, 1, "bytes=10-10"), (2048, MAX_BYTES_PER_FILE, "bytes=2048-1050623")],
)
def test_byte_range(offset, size, header):
    assert byte_range(offset, size) == header


def test_byte_range_reads_max_bytes_per_file_by_default():
    assert byte_range(5) == f"bytes=5-{5 + MAX_BYTES_PER_FILE - 1}"


@pytest.mark.parametrize(
    ("header", "total"),
    [
        ("bytes 0-99/2048", 2048),
        ("bytes */9", 9),
        (" bytes 3-3/4 ", 4),
        ("bytes 0-99/*", None),
        (None, None),
        ("", None),
    ],
)
def test_content_total(header, total):
    assert content_total(header) == total


@pytest.mark.parametrize(
    ("status", "body", "offset", "data"),
    [
        (206, b"new\n", 4, b"new\n"),
        (200, b"old\nnew\n", 4, b"new\n"),  # the range ignored: the whole blob
        (416, b"<Error><Code>InvalidRange</Code></Error>", 9, b""),  # nothing past the offset
        (404, b"<Error><Code>BlobNotFound</Code></Error>", 0, b""),  # not written yet
    ],
)
def test_answered_bytes(status, body, offset, data):
    assert answered_bytes(STD, status, body, offset) == data


def test_answered_bytes_of_a_whole_blob_is_bounded():
    assert len(answered_bytes(STD, 200, b"x" * (MAX_BYTES_PER_FILE + 10), 5)) == MAX_BYTES_PER_FILE


@pytest.mark.parametrize(
    ("status", "code", "error", "said"),
    [
        (403, "AuthorizationFailure", LogsDenied, "reading log file user_logs/std_log.txt was denied (HTTP 403 "),
        (403, None, LogsDenied, "denied (HTTP 403)"),
        (500, "InternalError", LogReadError, "reading log file user_logs/std_log.txt failed (HTTP 500 InternalError)"),
        (400, None, LogReadError, "failed (HTTP 400)"),
    ],
)
def test_answered_bytes_errors(status, code, error, said):
    with pytest.raises(error, match=re.escape(said)):
        answered_bytes(STD, status, b"<Error/>", 0, code)


@pytest.mark.parametrize(
    ("data", "final", "at_end", "max_bytes", "takes"),
    [
        (b"a\nb", False, True, 10, False),  # the job runs: "b" waits for its newline
        (b"a\nb", True, True, 10, True),  # the final read at the end of its file: "b" is shown
        (b"a\nb", True, False, 10, False),  # the file goes on past the bound: "b" is not its last line
        (b"0123456789", False, False, 10, True),  # a full read without a newline: a line cut at the bound
        (b"01234\n6789", False, False, 10, False),
        (b"", True, True, 10, True),
    ],
)
def test_takes_partial_line(data, final, at_end, max_bytes, takes):
    assert takes_partial_line(data, final=final, at_end=at_end, max_bytes=max_bytes) is takes


@pytest.mark.parametrize(
    ("data", "take_partial", "lines", "consumed"),
    [
        (b"", False, [], 0),
        (b"", True, [], 0),
        (b"partial", False, [], 0),
        (b"partial", True, ["partial"], 7),
        (b"a\n", False, ["a"], 2),
        (b"a\nb\nc", False, ["a", "b"], 4),
        (b"a\nb\nc", True, ["a", "b", "c"], 5),
        (b"a\r\n\nb\r\n", False, ["a", "", "b"], 7),  # CRLF, a blank line
        ("héllo ✓\n".encode(), False, ["héllo ✓"], 11),
        (b"bad \xff byte\n", False, ["bad \ufffd byte"], 11),  # replaced, never fatal
        (b"\n\n", False, ["", ""], 2),
    ],
)
def test_split_lines(data, take_partial, lines, consumed):
    assert split_lines(data, take_partial=take_partial) == (lines, consumed)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "GET https://a.blob/x.txt?sv=1&sig=abc%2Fdef&se=2 failed",
            "GET https://a.blob/x.txt?sv=1&sig=REDACTED&se=2 failed",
        ),
        ("url='https://a/x?sig=secret'", "url='https://a/x?sig=REDACTED'"),
        ("nothing to hide", "nothing to hide"),
    ],
)
def test_redacted(message, expected):
    assert redacted(message) == expected


# -- read_log_chunk, against a fake MLClient ---------------------------------------------------------------------


class FakeBlobs:
    """A requests pipeline serving blobs by URL as Azure Blob does (ranged GETs only), recording the ranges."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.ranges, self.status = files, [], None

    def get(self, url: str, headers: dict[str, str]) -> SimpleNamespace:
        self.ranges.append((url, headers["Range"]))
        data = self.files.get(url)
        start, end = (int(n) for n in headers["Range"].removeprefix("bytes=").split("-"))
        if self.status is not None:
            status, body, more = self.status, b"<Error/>", {"x-ms-error-code": "AuthorizationFailure"}
        elif data is None:
            status, body, more = 404, b"<Error/>", {}
        elif start >= len(data):
            status, body, more = 416, b"<Error/>", {"Content-Range": f"bytes */{len(data)}"}
        else:
            end = min(end, len(data) - 1)
            status, body, more = 206, data[start : end + 1], {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        return SimpleNamespace(status_code=status, headers=more, read=lambda: body)


def fake_client(files: dict[str, bytes], error: Exception | None = None) -> SimpleNamespace:
    urls = {path: f"https://acct.blob/{path}?sig=s" for path in files}
    blobs = FakeBlobs({urls[path]: data for path, data in files.items()})

    def get_run_details(name: str) -> SimpleNamespace:
        if error is not None:
            raise error
        return SimpleNamespace(log_files=dict(urls))

    runs = SimpleNamespace(get_run_details=get_run_details)
    return SimpleNamespace(jobs=SimpleNamespace(_runs_operations=runs, _requests_pipeline=blobs))


def test_read_log_chunk_reads_each_file_on_from_its_offset():
    files = {STD: b"one\ntwo\nthr", "user_logs/std_log_process_1.txt": b"p1\n", "system_logs/x.txt": b"no\n"}
    client = fake_client(files)
    cursor = {"files": {STD: 4}}
    chunk = read_log_chunk(client, "job", cursor, 10)
    assert chunk.lines == ["[node_0] two", "[process_1] p1"]
    assert chunk.cursor == {"files": {STD: 8, "user_logs/std_log_process_1.txt": 3}}
    assert chunk.skipped == 0
    assert cursor == {"files": {STD: 4}}  # not changed in place
    assert [r for _, r in client.jobs._requests_pipeline.ranges] == [byte_range(4), byte_range(0)]

    final = read_log_chunk(client, "job", chunk.cursor, 10, final=True)
    assert final.lines == ["[node_0] thr"] and final.cursor["files"][STD] == len(files[STD])


def test_read_log_chunk_keeps_the_newest_lines_of_all_files_within_the_limit():
    client = fake_client({STD: b"a\nb\nc\n", "user_logs/std_log_process_1.txt": b"d\n"})
    chunk = read_log_chunk(client, "job", None, 2)
    assert (chunk.lines, chunk.skipped) == (["[node_0] c", "[process_1] d"], 2)
    assert chunk.cursor == {"files": {STD: 6, "user_logs/std_log_process_1.txt": 2}}  # skipped lines consumed


def test_read_log_chunk_bounds_each_read(monkeypatch):
    import airflow_wandb_launch.backends.azure_ml.logs as logs

    monkeypatch.setattr(logs, "MAX_BYTES_PER_FILE", 6)
    client = fake_client({STD: b"aa\nbb\ncc\n"})
    first = read_log_chunk(client, "job", None, 10)
    second = read_log_chunk(client, "job", first.cursor, 10)
    assert (first.lines, second.lines) == (["[node_0] aa", "[node_0] bb"], ["[node_0] cc"])
    assert [r for _, r in client.jobs._requests_pipeline.ranges] == ["bytes=0-5", "bytes=6-11"]


def test_read_log_chunk_without_a_run_or_files_is_empty():
    from azure.core.exceptions import ResourceNotFoundError

    for client in (fake_client({}), fake_client({STD: b"x\n"}, ResourceNotFoundError("no run"))):
        chunk = read_log_chunk(client, "job", {"files": {STD: 3}}, 10)
        assert (chunk.lines, chunk.cursor, chunk.skipped, chunk.supported) == ([], {"files": {STD: 3}}, 0, True)


@pytest.mark.parametrize("status", [401, 403])
def test_a_denied_run_details_read_is_logs_denied(status):
    from azure.core.exceptions import HttpResponseError

    error = HttpResponseError("AuthorizationFailed")
    error.status_code = status
    with pytest.raises(LogsDenied, match="AuthorizationFailed"):
        read_log_chunk(fake_client({STD: b"x\n"}, error), "job", None, 10)


def test_a_denied_blob_read_is_logs_denied_and_other_errors_propagate():
    from azure.core.exceptions import HttpResponseError

    client = fake_client({STD: b"x\n"})
    client.jobs._requests_pipeline.status = 403
    with pytest.raises(LogsDenied, match="AuthorizationFailure"):
        read_log_chunk(client, "job", None, 10)
    error = HttpResponseError("boom")
    error.status_code = 500
    with pytest.raises(HttpResponseError):
        read_log_chunk(fake_client({STD: b"x\n"}, error), "job", None, 10)


def test_a_transport_error_names_the_file_not_its_sas():
    client = fake_client({STD: b"x\n"})

    def broken(url, headers):
        raise ConnectionError(f"cannot reach {url}")

    client.jobs._requests_pipeline.get = broken
    with pytest.raises(LogReadError) as info:
        read_log_chunk(client, "job", None, 10)
    assert STD in str(info.value) and "sig=s" not in str(info.value) and "sig=REDACTED" in str(info.value)
