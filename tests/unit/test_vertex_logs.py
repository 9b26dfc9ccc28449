"""The pure parts of a Vertex AI job's log tailing: Cloud Logging cursors, filters, entries; one read's paging."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from google.api_core import exceptions

from airflow_wandb_launch.backends.vertex import logs
from airflow_wandb_launch.backends.vertex.logs import (
    advance,
    drop_seen,
    entries_filter,
    entry_lines,
    entry_message,
    epoch_nanos,
    job_number,
    list_request,
    new_cursor,
    read_log_chunk,
    replica_name,
)
from airflow_wandb_launch.launch.logs import LogsDenied

JOB = "projects/p/locations/us-central1/customJobs/123"
FRESH = {"ts": None, "seen": []}
T0 = "2024-05-01T12:00:00.123456789Z"
T1 = "2024-05-01T12:00:00.123456790Z"  # one nanosecond later
T2 = "2024-05-01T12:00:01Z"


def entry(ts: str, insert_id: str, text: str | None = "m", task: str | None = "workerpool0-0", **extra) -> dict:
    """A LogEntry as Cloud Logging's JSON carries it."""
    labels = {"job_id": "123", "project_id": "p"} | ({"task_name": task} if task else {})
    shaped = {"insertId": insert_id, "timestamp": ts, "resource": {"type": "ml_job", "labels": labels}, **extra}
    return shaped | ({"textPayload": text} if text is not None else {})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (JOB, "123"),
        ("projects/1/locations/europe-west4/customJobs/9876543210/", "9876543210"),
        ("123", "123"),
    ],
)
def test_job_number(name, expected):
    assert job_number(name) == expected


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("1970-01-01T00:00:00.000000001Z", 1),
        ("1970-01-01T01:00:00+01:00", 0),
        (T0, 1714564800_123456789),
        (T1, 1714564800_123456790),
        ("2024-05-01T12:00:00.120Z", 1714564800_120000000),  # 3 digits: the same instant as 9
    ],
)
def test_epoch_nanos_is_exact(stamp, expected):
    assert epoch_nanos(stamp) == expected


@pytest.mark.parametrize("stamp", [None, "", "2024-05-01", "2024-05-01T12:00:00", "2024-05-01T12:00:00.1234567890Z", 5])
def test_epoch_nanos_refuses_other_shapes(stamp):
    with pytest.raises(ValueError):
        epoch_nanos(stamp)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, FRESH),
        ({}, FRESH),
        ("garbage", FRESH),
        ({"ts": "yesterday", "seen": ["a"]}, FRESH),  # an unreadable time: from the start
        ({"ts": 5, "seen": ["a"]}, FRESH),
        ({"ts": T0}, {"ts": T0, "seen": []}),
        ({"ts": T0, "seen": "a"}, {"ts": T0, "seen": []}),
        ({"ts": T0, "seen": ["a", 3, None, "b"]}, {"ts": T0, "seen": ["a", "b"]}),
        ({"ts": T0, "seen": ["a"], "extra": 1}, {"ts": T0, "seen": ["a"]}),
        # SageMaker's cursor shape (a cursor of another backend): from the start
        ({"listed": 1.0, "streams": {}}, FRESH),
    ],
)
def test_new_cursor_is_well_formed_and_json_able(given, expected):
    cursor = new_cursor(given)
    assert cursor == expected
    assert json.loads(json.dumps(cursor)) == cursor


def test_new_cursor_copies():
    given = {"ts": T0, "seen": ["a"]}
    new_cursor(given)["seen"].append("b")
    assert given == {"ts": T0, "seen": ["a"]}


@pytest.mark.parametrize(
    ("jobs", "since", "expected"),
    [
        (["123"], None, 'resource.type="ml_job" AND resource.labels.job_id="123"'),
        (
            ["123"],
            1714564800_123456789,
            f'resource.type="ml_job" AND resource.labels.job_id="123" AND timestamp>="{T0}"',
        ),
        (
            ["1", "2"],
            0,
            'resource.type="ml_job" AND (resource.labels.job_id="1" OR resource.labels.job_id="2")'
            ' AND timestamp>="1970-01-01T00:00:00.000000000Z"',
        ),
    ],
)
def test_entries_filter(jobs, since, expected):
    assert entries_filter(jobs, since) == expected


@pytest.mark.parametrize(
    ("cursor", "created_at", "expected"),
    [
        ({"ts": None, "seen": []}, None, None),  # nothing known: from the start
        ({"ts": None, "seen": []}, 1000.0, (1000 - logs.CREATION_MARGIN_SECONDS) * 10**9),
        ({"ts": T0, "seen": []}, 1000.0, 1714564800_123456789),  # the cursor wins over the creation
        ({"ts": T0, "seen": [], "covered": T1}, None, 1714564800_123456790),  # the later of the two
        ({"ts": T1, "seen": [], "covered": T0}, None, 1714564800_123456790),
        ({"ts": None, "seen": [], "covered": T0}, None, 1714564800_123456789),
    ],
)
def test_query_start(cursor, created_at, expected):
    assert logs.query_start(cursor, created_at) == expected


NOW = 1714565000.0  # T0 + ~200 s
SETTLED = int((NOW - logs.LATE_SECONDS) * 10**9)


@pytest.mark.parametrize(
    ("entries", "complete", "expected"),
    [
        ([], True, SETTLED),  # all listed: up to now, less the lateness allowed
        ([{"timestamp": T0}], True, SETTLED),
        ([], False, None),
        ([{"timestamp": T0}], False, 1714564800_123456789),  # cut short: up to its last entry ...
        ([{"timestamp": "2024-05-01T12:03:10Z"}], False, SETTLED),  # ... but never past the settled time
    ],
)
def test_covered_until(entries, complete, expected):
    assert logs.covered_until(entries, complete, now=NOW) == expected


def test_rfc3339_round_trips_nanoseconds():
    assert logs.rfc3339(epoch_nanos(T0)) == T0 and epoch_nanos(logs.rfc3339(1)) == 1


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, {}),
        ("", {}),
        ("next", {"pageToken": "next"}),
    ],
)
def test_list_request(token, expected):
    body = list_request("p", "F", token)
    assert body == {
        "resourceNames": ["projects/p"],
        "filter": "F",
        "orderBy": "timestamp asc",
        "pageSize": logs.PAGE_SIZE,
        **expected,
    }


@pytest.mark.parametrize(
    ("cursor", "read", "kept"),
    [
        (FRESH, [entry(T0, "a"), entry(T0, "b")], ["a", "b"]),  # a first read drops nothing
        ({"ts": T0, "seen": ["a"]}, [entry(T0, "a"), entry(T0, "b"), entry(T1, "c")], ["b", "c"]),
        ({"ts": T0, "seen": ["a", "b"]}, [entry(T0, "a"), entry(T0, "b")], []),
        ({"ts": T0, "seen": []}, [entry(T0, "a")], ["a"]),
        # the same insertId at another time is another entry (insertIds are unique per timestamp)
        ({"ts": T0, "seen": ["a"]}, [entry(T1, "a")], ["a"]),
        # the same instant written with fewer digits is still the cursor's time
        ({"ts": "2024-05-01T12:00:00.120000000Z", "seen": ["a"]}, [entry("2024-05-01T12:00:00.120Z", "a")], []),
    ],
)
def test_drop_seen(cursor, read, kept):
    assert [e["insertId"] for e in drop_seen(read, cursor)] == kept


@pytest.mark.parametrize(
    ("cursor", "read", "expected"),
    [
        (FRESH, [], FRESH),
        ({"ts": T0, "seen": ["a"]}, [], {"ts": T0, "seen": ["a"]}),
        (FRESH, [entry(T0, "a"), entry(T0, "b")], {"ts": T0, "seen": ["a", "b"]}),
        (FRESH, [entry(T0, "a"), entry(T1, "b")], {"ts": T1, "seen": ["b"]}),
        ({"ts": T0, "seen": ["a"]}, [entry(T0, "b")], {"ts": T0, "seen": ["a", "b"]}),  # more at the same time
        ({"ts": T0, "seen": ["a"]}, [entry(T0, "b"), entry(T2, "c")], {"ts": T2, "seen": ["c"]}),
        # an entry without a readable time, or older than the cursor, does not move it
        ({"ts": T1, "seen": ["a"]}, [entry("soon", "x"), entry(T0, "y")], {"ts": T1, "seen": ["a"]}),
    ],
)
def test_advance(cursor, read, expected):
    assert advance(cursor, read) == expected


@pytest.mark.parametrize(
    ("shaped", "expected"),
    [
        (entry(T0, "a", task="workerpool1-3"), "workerpool1-3"),
        (entry(T0, "a", task="service"), "service"),
        (entry(T0, "a", task=None, labels={"ml.googleapis.com/task_name": "master-replica-0"}), "master-replica-0"),
        (entry(T0, "a", task=None), "job"),
        ({"insertId": "a", "timestamp": T0, "textPayload": "m"}, "job"),  # no resource at all
    ],
)
def test_replica_name(shaped, expected):
    assert replica_name(shaped) == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"textPayload": "epoch 1"}, "epoch 1"),
        ({"textPayload": ""}, ""),
        ({"jsonPayload": {"message": "loss=0.1", "severity": "INFO"}}, "loss=0.1"),
        ({"jsonPayload": {"loss": 0.1, "epoch": 1}}, '{"epoch":1,"loss":0.1}'),
        ({"jsonPayload": {"message": 3}}, '{"message":3}'),
        ({}, ""),
    ],
)
def test_entry_message(payload, expected):
    assert entry_message(entry(T0, "a", text=None, **payload)) == expected


def test_entry_lines_keep_cloud_loggings_order_and_split_lines():
    read = [
        entry(T0, "a", "starting", task="service"),
        entry(T0, "b", "epoch 0\nloss 1.0\n"),
        entry(T1, "c", "epoch 0", task="workerpool0-1"),
        entry(T2, "d", ""),
    ]
    assert entry_lines(read) == [
        "[service] starting",
        "[workerpool0-0] epoch 0",
        "[workerpool0-0] loss 1.0",
        "[workerpool0-1] epoch 0",
        "[workerpool0-0]",
    ]


# --- one read (a fake client: the JSON API's pages) --------------------------------------------------------------


class FakeLoggingApi:
    """``client.logging_api``: answers entries.list bodies from ``pages`` (each a list of entries)."""

    def __init__(self, pages: list[list[dict]] | Exception) -> None:
        self.pages, self.bodies = pages, []

    def api_request(self, *, method: str, path: str, data: dict, timeout: float) -> dict:
        assert (method, path) == ("POST", "/entries:list")
        self.bodies.append(data)
        if isinstance(self.pages, Exception):
            raise self.pages
        index = int(data.get("pageToken") or 0)
        page = {"entries": self.pages[index]} if self.pages[index] else {}
        return page | ({"nextPageToken": str(index + 1)} if index + 1 < len(self.pages) else {})


class FakeClient:
    def __init__(self, pages) -> None:
        self.logging_api = FakeLoggingApi(pages)


def test_a_read_shows_the_new_lines_and_where_the_next_starts():
    client = FakeClient([[entry(T0, "a", "one"), entry(T0, "b", "two")], [entry(T1, "c", "three")]])
    cursor = {"ts": T0, "seen": ["a"]}
    chunk = read_log_chunk(client, JOB, "p", cursor, limit=10, now=2e9)
    assert chunk.lines == ["[workerpool0-0] two", "[workerpool0-0] three"]
    assert chunk.cursor == {"ts": T1, "seen": ["c"], "covered": logs.rfc3339(int((2e9 - logs.LATE_SECONDS) * 1e9))}
    assert chunk.skipped == 0
    assert cursor == {"ts": T0, "seen": ["a"]}  # not changed
    assert [b.get("pageToken") for b in client.logging_api.bodies] == [None, "1"]
    assert client.logging_api.bodies[0]["filter"].endswith(f'timestamp>="{T0}"')


def test_a_read_keeps_the_budget_newest_lines():
    client = FakeClient([[entry(f"2024-05-01T12:00:0{i}Z", str(i), f"line {i}") for i in range(6)]])
    chunk = read_log_chunk(client, JOB, "p", None, limit=2)
    assert chunk.lines == ["[workerpool0-0] line 4", "[workerpool0-0] line 5"] and chunk.skipped == 4
    assert chunk.cursor["ts"] == "2024-05-01T12:00:05Z" and chunk.cursor["seen"] == ["5"]  # past the skipped too


def test_a_read_is_bounded_and_the_next_reads_on(monkeypatch):
    monkeypatch.setattr(logs, "MAX_PAGES", 2)
    pages = [[entry(f"2024-05-01T12:00:0{i}Z", str(i), f"line {i}")] for i in range(5)]
    client = FakeClient(pages)
    chunk = read_log_chunk(client, JOB, "p", None, limit=10)
    assert chunk.lines == ["[workerpool0-0] line 0", "[workerpool0-0] line 1"]
    assert len(client.logging_api.bodies) == 2
    # the next read asks again from the last time read (a fresh query, from its first page)
    client.logging_api.pages = [[entry(f"2024-05-01T12:00:0{i}Z", str(i), f"line {i}") for i in range(1, 5)]]
    later = read_log_chunk(client, JOB, "p", chunk.cursor, limit=10)
    assert later.lines == [f"[workerpool0-0] line {i}" for i in range(2, 5)]


def test_an_empty_page_with_a_token_reads_on():
    client = FakeClient([[], [entry(T0, "a", "late")]])
    assert read_log_chunk(client, JOB, "p", None, limit=10).lines == ["[workerpool0-0] late"]


@pytest.mark.parametrize(
    "error", [exceptions.Forbidden("no logging.logEntries.list"), exceptions.PermissionDenied("denied")]
)
def test_a_permission_error_is_logs_denied(error):
    with pytest.raises(LogsDenied, match=r"denied|logEntries"):
        read_log_chunk(FakeClient(error), JOB, "p", None, limit=10)


@pytest.mark.parametrize(
    "error", [exceptions.InternalServerError("boom"), exceptions.BadRequest("bad filter"), ConnectionError("reset")]
)
def test_other_errors_propagate(error):
    with pytest.raises(type(error)):
        read_log_chunk(FakeClient(error), JOB, "p", None, limit=10)


def test_importing_the_operators_and_the_backend_loads_no_google_sdk():
    code = (
        "import sys, airflow_wandb_launch.operators, airflow_wandb_launch.backends.vertex.backend; "
        "bad = [m for m in sys.modules if m.startswith(('google.cloud.', 'google.api_core', 'google.auth'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
