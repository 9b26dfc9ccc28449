"""The pure parts of log tailing: SageMaker stream names, cursors and positions; the per-poll budget."""

from __future__ import annotations

import json

import pytest

from airflow_wandb_launch.backends.sagemaker import logs
from airflow_wandb_launch.backends.sagemaker.logs import (
    FINAL_RELIST_SECONDS,
    LATE_MS,
    LOG_GROUP,
    RELIST_SECONDS,
    JobLogs,
    advance,
    covered_until,
    drop_seen,
    filter_request,
    instance_name,
    listing_order,
    merged_lines,
    new_cursor,
    query_start,
    should_list,
    with_covered,
    with_streams,
)
from airflow_wandb_launch.launch.logs import keep_tail, prefixed_lines, skip_marker

FRESH = {"ts": 0, "skip": 0, "covered": 0}


def ev(ts: int, message: str = "m") -> dict:
    return {"timestamp": ts, "message": message, "ingestionTime": ts}


@pytest.mark.parametrize(
    ("job", "stream", "expected"),
    [
        ("train", "train/algo-1-1700000000", "algo-1"),
        ("train", "train/algo-12-1700000123", "algo-12"),
        ("my-job-2", "my-job-2/algo-2-1699999999", "algo-2"),
        ("train", "train/algo-1", "algo-1"),  # no epoch suffix
        ("train", "train/worker", "worker"),
        ("train", "other/algo-3-1700000000", "algo-3"),  # another job's prefix: the last part
        ("job-1700000000", "job-1700000000/algo-1-1700000000", "algo-1"),
    ],
)
def test_instance_name(job, stream, expected):
    assert instance_name(job, stream) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, {"listed": None, "streams": {}}),
        ({}, {"listed": None, "streams": {}}),
        ({"streams": "garbage", "listed": "x"}, {"listed": None, "streams": {}}),
        (
            {"listed": 5, "streams": {"j/algo-1-1": {"ts": 7, "skip": 2, "covered": 9}}},
            {"listed": 5.0, "streams": {"j/algo-1-1": {"ts": 7, "skip": 2, "covered": 9}}},
        ),
        (  # the earlier version's GetLogEvents position: its token goes, its time and count stay
            {"listed": 5, "streams": {"j/algo-1-1": {"token": "f/1", "start": 3, "ts": 7, "skip": 2}}},
            {"listed": 5.0, "streams": {"j/algo-1-1": {"ts": 7, "skip": 2, "covered": 0}}},
        ),
        (
            {"listed": 1.5, "streams": {"j/algo-1-1": {"ts": None, "skip": -1}, "j/algo-2-1": None}},
            {"listed": 1.5, "streams": {"j/algo-1-1": FRESH, "j/algo-2-1": FRESH}},
        ),
        ({"listed": True, "streams": {}}, {"listed": None, "streams": {}}),
    ],
)
def test_new_cursor_is_well_formed_and_json_able(given, expected):
    cursor = new_cursor(given)
    assert cursor == expected
    assert json.loads(json.dumps(cursor)) == cursor


def test_new_cursor_copies():
    given = {"listed": 1.0, "streams": {"s": {"ts": 1, "skip": 1}}}
    new_cursor(given)["streams"]["s"]["ts"] = 99
    assert given["streams"]["s"]["ts"] == 1


NOW = 10_000.0


@pytest.mark.parametrize(
    ("listed", "streams", "expected_streams", "final", "lists"),
    [
        (None, 0, 1, False, True),  # never listed
        (NOW - 1, 0, 1, False, True),  # no stream yet
        (NOW - 1, 0, None, False, True),  # unknown instance count, none yet
        (NOW - 1, 1, 1, False, False),  # every instance has its stream
        (NOW - 1, 1, None, False, False),
        (NOW - 1, 1, 2, False, True),  # one instance still to start writing
        (NOW - 1, 2, 2, False, False),
        (NOW - RELIST_SECONDS, 2, 2, False, True),  # a spot restart may have opened a stream
        (NOW - 1, 1, 1, True, False),  # the final read: just listed
        (NOW - FINAL_RELIST_SECONDS, 1, 1, True, True),  # ... else once more
    ],
)
def test_should_list(listed, streams, expected_streams, final, lists):
    cursor = {"listed": listed, "streams": {f"j/algo-{i}-1": dict(FRESH) for i in range(streams)}}
    assert should_list(cursor, expected_streams, NOW, final) is lists


@pytest.mark.parametrize(("listed", "final"), [(NOW - RELIST_SECONDS, False), (NOW - FINAL_RELIST_SECONDS, True)])
def test_an_on_demand_job_with_every_stream_is_not_listed_again(listed, final):
    cursor = {"listed": listed, "streams": {"j/algo-0-1": dict(FRESH)}}
    assert should_list(cursor, 1, NOW, final, spot=False) is False


def test_listing_order_puts_the_most_in_need_first():
    cursors = {
        "fresh": {"listed": None, "streams": {}},
        "stale": {"listed": NOW - RELIST_SECONDS - 50, "streams": {"s": FRESH}},
        "older": {"listed": NOW - RELIST_SECONDS - 90, "streams": {"s": FRESH}},
        "done": {"listed": NOW - 1, "streams": {"s": FRESH}},
        "also-fresh": {"listed": None, "streams": {}},
    }
    jobs = [JobLogs(name, None, 10, expected_streams=1) for name in cursors]
    assert listing_order(jobs, cursors, NOW) == ["fresh", "also-fresh", "older", "stale"]
    on_demand = [JobLogs(name, None, 10, expected_streams=1, spot=False) for name in cursors]
    assert listing_order(on_demand, cursors, NOW) == ["fresh", "also-fresh"]  # no restarts: listed once


def test_the_listing_allowance_accrues_per_second_up_to_a_most():
    allowance = logs.ListingAllowance(per_second=2.0, most=5)
    assert allowance.take(3, now=100.0) == 3  # starts full
    assert allowance.take(10, now=100.0) == 2
    assert allowance.take(10, now=101.0) == 2  # two a second
    assert allowance.take(10, now=200.0) == 5  # never more than the most
    assert allowance.take(0, now=300.0) == 0 and allowance.take(-1, now=300.0) == 0


def test_with_streams_reads_a_new_stream_from_shortly_before_it_began_and_keeps_known_positions():
    known = {"ts": 5, "skip": 1, "covered": 3}
    cursor = {"listed": 1.0, "streams": {"j/algo-2-1": known}}
    merged = with_streams(cursor, {"j/algo-1-1": 500_000, "j/algo-2-1": 9}, NOW)
    assert merged == {
        "listed": NOW,
        "streams": {"j/algo-1-1": {"ts": 0, "skip": 0, "covered": 500_000 - LATE_MS}, "j/algo-2-1": known},
    }
    assert list(merged["streams"]) == ["j/algo-1-1", "j/algo-2-1"]
    assert cursor["streams"] == {"j/algo-2-1": known}  # not changed in place


@pytest.mark.parametrize(
    ("position", "timestamps", "kept"),
    [
        (FRESH, [1, 2, 3], [1, 2, 3]),
        ({"ts": 2, "skip": 1}, [2, 2, 3], [2, 3]),  # one of the two at ts=2 was read
        ({"ts": 2, "skip": 2}, [2, 2, 3], [3]),
        ({"ts": 2, "skip": 3}, [2, 2, 3], [3]),  # more read than returned (not expected): drops those at ts
        ({"ts": 2, "skip": 1}, [3, 4], [3, 4]),
        ({"ts": 2, "skip": 1}, [], []),
        ({"ts": 2, "skip": 1}, [1, 2, 2, 3], [2, 3]),  # a call that started earlier (for another stream)
    ],
)
def test_drop_seen(position, timestamps, kept):
    assert [e["timestamp"] for e in drop_seen([ev(t) for t in timestamps], position)] == kept


@pytest.mark.parametrize(
    ("position", "timestamps", "ts", "skip"),
    [
        (FRESH, [], 0, 0),
        (FRESH, [1, 2, 3], 3, 1),
        (FRESH, [1, 3, 3], 3, 2),
        ({"ts": 3, "skip": 2, "covered": 1}, [3, 3], 3, 4),  # more at the same ms
        ({"ts": 3, "skip": 2, "covered": 1}, [4], 4, 1),
        ({"ts": 3, "skip": 2, "covered": 1}, [], 3, 2),
    ],
)
def test_advance(position, timestamps, ts, skip):
    after = advance(position, [ev(t) for t in timestamps])
    assert (after["ts"], after["skip"]) == (ts, skip)
    assert after.get("covered") == position.get("covered")


@pytest.mark.parametrize(
    ("position", "start"),
    [(FRESH, 0), ({"ts": 5, "skip": 1, "covered": 3}, 5), ({"ts": 5, "skip": 1, "covered": 8}, 8)],
)
def test_query_start_is_the_later_of_the_last_event_and_what_was_covered(position, start):
    assert query_start(position) == start


@pytest.mark.parametrize(
    ("timestamps", "complete", "covered"),
    [
        ([], True, 1_000_000 - LATE_MS),  # all listed: up to now, less the lateness allowed
        ([5, 7], True, 1_000_000 - LATE_MS),
        ([], False, None),
        ([5, 7], False, 7),  # cut short: up to its last event ...
        ([5, 999_999], False, 1_000_000 - LATE_MS),  # ... never past the settled time
    ],
)
def test_covered_until(timestamps, complete, covered):
    assert covered_until([ev(t) for t in timestamps], complete, 1_000_000) == covered


@pytest.mark.parametrize(
    ("covered", "after"),
    [(None, 5), (3, 5), (5, 5), (9, 9)],
)
def test_with_covered_only_moves_forward(covered, after):
    assert with_covered({"ts": 1, "skip": 1, "covered": 5}, covered)["covered"] == after


@pytest.mark.parametrize(
    ("start", "token", "extra"),
    [(0, None, {}), (5, None, {"startTime": 5}), (5, "t/1", {"startTime": 5, "nextToken": "t/1"})],
)
def test_filter_request(start, token, extra):
    base = {"logGroupName": LOG_GROUP, "logStreamNames": ["a", "b"], "interleaved": True}
    assert filter_request(["a", "b"], start, token) == {**base, **extra}


def test_merged_lines_interleave_streams_in_time_with_instance_prefixes():
    events = {
        "j/algo-2-1700000000": [ev(2, "b1"), ev(4, "b2")],
        "j/algo-1-1700000000": [ev(1, "a1"), ev(4, "a2"), ev(5, "a3\nwith a second line\n")],
    }
    assert merged_lines("j", events) == [
        "[algo-1] a1",
        "[algo-2] b1",
        "[algo-1] a2",  # a tie: streams in name order
        "[algo-2] b2",
        "[algo-1] a3",
        "[algo-1] with a second line",
    ]


@pytest.mark.parametrize(
    ("message", "lines"),
    [
        ("epoch 1 loss=0.5", ["[algo-1] epoch 1 loss=0.5"]),
        ("epoch 1\n", ["[algo-1] epoch 1"]),
        ("a\r\nb", ["[algo-1] a", "[algo-1] b"]),
        ("", ["[algo-1]"]),
        ("trailing   ", ["[algo-1] trailing"]),
    ],
)
def test_prefixed_lines(message, lines):
    assert prefixed_lines("algo-1", message) == lines


@pytest.mark.parametrize(
    ("n", "limit", "kept", "skipped"),
    [
        (0, 3, [], 0),
        (2, 3, ["l0", "l1"], 0),
        (3, 3, ["l0", "l1", "l2"], 0),
        (5, 3, ["l2", "l3", "l4"], 2),  # the newest lines are kept
        (5, 0, [], 5),
        (5, -1, [], 5),
    ],
)
def test_keep_tail(n, limit, kept, skipped):
    assert keep_tail([f"l{i}" for i in range(n)], limit) == (kept, skipped)


@pytest.mark.parametrize(
    ("skipped", "limit", "text"),
    [
        (1, 200, "… 1 line skipped (max_log_lines_per_poll=200)"),
        (340, 200, "… 340 lines skipped (max_log_lines_per_poll=200)"),
    ],
)
def test_skip_marker(skipped, limit, text):
    assert skip_marker(skipped, limit) == text
