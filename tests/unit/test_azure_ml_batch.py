"""The pure helpers of Azure ML's batched status reads (``backends/azure_ml/batch.py``)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from airflow_wandb_launch.backends.azure_ml.batch import (
    CREATED_AT,
    CREATION_MARGIN,
    LIST_TAG,
    PAGE_SIZE,
    done_paging,
    is_denied,
    listing_cutoff,
    listing_groups,
    needs_run_history,
    not_listed,
    page_budget,
    passed_cutoff,
    submit_keys,
)
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.run import RunIdentity

RUN = RunIdentity("r1", "p", "e")
MARGIN = CREATION_MARGIN.total_seconds()


def ref(name: str, **cloud) -> JobRef:
    return JobRef("azure-ml", name, RUN, {"workspace_name": "ws", **cloud})


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        ([], {}),
        ([ref("old")], {}),  # no created_at: an old reference, read job by job
        ([ref("a", created_at=5.0)], {None: {"a": 5.0}}),  # no tag: listed unfiltered
        (
            [ref("a", created_at=1, list_tag="t"), ref("b", created_at=2, list_tag="t"), ref("c")],
            {"t": {"a": 1.0, "b": 2.0}},
        ),
        (
            [ref("a", created_at=1, list_tag="t"), ref("b", created_at=2, list_tag="u"), ref("c", created_at=3)],
            {"t": {"a": 1.0}, "u": {"b": 2.0}, None: {"c": 3.0}},
        ),
    ],
)
def test_listing_groups(refs, expected):
    assert listing_groups(refs) == expected


@pytest.mark.parametrize(("wanted", "pages"), [(0, 2), (1, 3), (PAGE_SIZE, 3), (PAGE_SIZE + 1, 4), (1000, 12)])
def test_page_budget(wanted, pages):
    assert page_budget(wanted) == pages


def test_listing_cutoff_is_the_oldest_creation_less_the_margin():
    assert listing_cutoff([300.0, 100.0, 200.0]) == 100.0 - MARGIN


@pytest.mark.parametrize(
    ("times", "cutoff", "passed"),
    [
        ([], 50, False),
        ([100, 90, 40], 50, True),  # newest first, last one older than the cutoff
        ([100, 90, 60], 50, False),  # not there yet
        ([100, 100, 40], 50, True),  # ties keep the order
        ([40, 90, 100], 50, False),  # oldest first: later pages may hold newer jobs
        ([100, 30, 60, 40], 50, False),  # no order at all
        ([100, None, 40], 50, False),  # a creation time unknown: the order is unknown
    ],
)
def test_passed_cutoff(times, cutoff, passed):
    assert passed_cutoff(times, cutoff) is passed


@pytest.mark.parametrize(
    ("wanted", "found", "times", "pages", "done"),
    [
        ({"a", "b"}, {"a", "b"}, [9, 8], 1, True),  # every job found
        ({"a", "b"}, {"a"}, [9, 8], 1, False),  # one missing, budget left, not past the cutoff
        ({"a", "b"}, {"a"}, [9, 8, 1], 1, True),  # past the cutoff (5)
        ({"a", "b"}, {"a"}, [1, 8, 9], 1, False),  # oldest first: keep going
        ({"a", "b"}, {"a"}, [1, 8, 9], page_budget(2), True),  # the budget is spent
    ],
)
def test_done_paging(wanted, found, times, pages, done):
    assert done_paging(wanted, found, times, 5, pages) is done


def test_not_listed_keeps_the_order_of_the_refs():
    refs = [ref("a"), ref("b"), ref("c")]
    listed = {"b": JobStatus(JobState.RUNNING, "Running")}
    assert [r.job_id for r in not_listed(refs, listed)] == ["a", "c"]


@pytest.mark.parametrize(
    ("status", "needed"),
    [
        (JobStatus(JobState.SUCCEEDED, "Completed"), True),  # a listed end: no times
        (JobStatus(JobState.FAILED, "Failed", "the job failed"), True),
        (JobStatus(JobState.STOPPED, "Canceled"), True),
        (JobStatus(JobState.FAILED, "NotResponding"), True),
        (JobStatus(JobState.SUCCEEDED, "Completed", None, {"start_time": "s", "end_time": "e"}), False),  # read
        (JobStatus(JobState.RUNNING, "Running"), False),
        (JobStatus(JobState.TIMED_OUT, "deadline", "passed"), False),  # the trigger's own end
        (JobStatus(JobState.FAILED, "Queued", "still pending"), False),  # a pending timeout
        (JobStatus(JobState.FAILED, "unknown", "could not read"), False),  # reads failed
    ],
)
def test_needs_run_history(status, needed):
    assert needs_run_history(status) is needed


@pytest.mark.parametrize(
    ("created_at", "tags", "expected"),
    [
        (10.0, {"wandb-run-id": "r1", "x": "y"}, {CREATED_AT: 10.0, LIST_TAG: "wandb-run-id"}),
        (10.0, {"x": "y"}, {CREATED_AT: 10.0}),  # the tag was removed: listed unfiltered
        (10.0, None, {CREATED_AT: 10.0}),
        (None, {"wandb-run-id": "r1"}, {}),  # creation unknown: read job by job
    ],
)
def test_submit_keys(created_at, tags, expected):
    assert submit_keys(created_at, tags, "wandb-run-id") == expected


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code, self.reason, self.headers = status, "x", {}

    def text(self) -> str:
        return ""


@pytest.mark.parametrize(
    ("err", "denied"),
    [
        (HttpResponseError(message="forbidden", response=_Response(403)), True),
        (ClientAuthenticationError(message="bad token", response=_Response(401)), True),
        (ClientAuthenticationError(message="no token: the authority did not answer"), False),  # the credential's
        (HttpResponseError(message="throttled", response=_Response(429)), False),
        (HttpResponseError(message="unavailable", response=_Response(503)), False),
        (OSError("connection reset"), False),
    ],
)
def test_is_denied(err, denied):
    assert is_denied(err) is denied
