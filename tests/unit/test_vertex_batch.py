"""The pure helpers of the Vertex AI batched status read (``backends.vertex.batch``): tables, no network."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from google.api_core import exceptions

from airflow_wandb_launch.backends.vertex import batch
from airflow_wandb_launch.backends.vertex.batch import (
    CREATED_AT,
    CREATION_MARGIN,
    cannot_list,
    creation_epoch,
    job_parent,
    list_filter,
    list_statuses,
    listing_start,
    needs_get,
    plan,
    rfc3339,
)
from airflow_wandb_launch.launch.job import JobRef, JobState
from airflow_wandb_launch.launch.run import RunIdentity

PARENT = "projects/p/locations/us-central1"
OTHER = "projects/p/locations/europe-west4"
T0 = datetime(2026, 5, 18, 12, 0, tzinfo=UTC).timestamp()


def ref(job: str, created: float | None = T0) -> JobRef:
    cloud = {"project": "p", "region": "us-central1"} | ({CREATED_AT: created} if created is not None else {})
    return JobRef("vertex", job, RunIdentity("r", "p", "e"), cloud)


@pytest.mark.parametrize(
    ("name", "parent"),
    [
        (f"{PARENT}/customJobs/123", PARENT),
        ("projects/123456/locations/asia-east1/customJobs/9", "projects/123456/locations/asia-east1"),
        (f"{PARENT}/customJobs/", None),
        ("/customJobs/123", None),
        ("123", None),
        ("", None),
    ],
)
def test_job_parent(name: str, parent: str | None) -> None:
    assert job_parent(name) == parent


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2021, 5, 18, tzinfo=UTC), "2021-05-18T00:00:00Z"),
        (datetime(2021, 5, 18, 0, 0, 7, 999_999, tzinfo=UTC), "2021-05-18T00:00:07Z"),  # whole seconds
        (datetime(2021, 5, 18, 2, 30, tzinfo=timezone(timedelta(hours=2))), "2021-05-18T00:30:00Z"),  # as UTC
    ],
)
def test_rfc3339(moment: datetime, text: str) -> None:
    assert rfc3339(moment) == text


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("wandb-run-id", 'create_time>"2021-05-18T00:00:00Z" AND labels.wandb-run-id:*'),
        ("team", 'create_time>"2021-05-18T00:00:00Z" AND labels.team:*'),
        (None, 'create_time>"2021-05-18T00:00:00Z"'),
    ],
)
def test_list_filter(label: str | None, expected: str) -> None:
    assert list_filter(datetime(2021, 5, 18, tzinfo=UTC), label) == expected


def test_list_filter_asks_for_the_w_and_b_label_by_default() -> None:
    assert list_filter(datetime(2021, 5, 18, tzinfo=UTC)).endswith(" AND labels.wandb-run-id:*")


@pytest.mark.parametrize(
    ("created", "start"),
    [
        ([T0], T0),
        ([T0 + 60, T0, T0 + 3600], T0),  # the oldest
        ([T0 + 60, None, T0 + 30], T0 + 30),  # refs without a recorded creation do not count
    ],
)
def test_listing_start_is_a_margin_before_the_oldest_creation(created: list[float | None], start: float) -> None:
    refs = [ref(f"{PARENT}/customJobs/{i}", c) for i, c in enumerate(created)]
    assert listing_start(refs) == datetime.fromtimestamp(start, tz=UTC) - CREATION_MARGIN


def test_listing_start_needs_a_creation_time() -> None:
    with pytest.raises(ValueError, match="creation"):
        listing_start([ref(f"{PARENT}/customJobs/1", None)])


@pytest.mark.parametrize(
    ("refs", "listings", "singles"),
    [
        pytest.param([], {}, [], id="nothing"),
        pytest.param([("A1", T0), ("A2", T0)], {PARENT: ["A1", "A2"]}, [], id="two jobs: listed"),
        pytest.param([("A1", T0)], {}, ["A1"], id="a lone job: a get"),
        pytest.param([("A1", T0), ("A2", None), ("A3", T0)], {PARENT: ["A1", "A3"]}, ["A2"], id="an old ref"),
        pytest.param([("A1", None), ("A2", None)], {}, ["A1", "A2"], id="only old refs"),
        pytest.param(
            [("A1", T0), ("B1", T0), ("A2", T0)], {PARENT: ["A1", "A2"]}, ["B1"], id="a lone job in another region"
        ),
        pytest.param(
            [("A1", T0), ("B1", T0), ("A2", T0), ("B2", T0)],
            {PARENT: ["A1", "A2"], OTHER: ["B1", "B2"]},
            [],
            id="two regions",
        ),
        pytest.param([("x1", T0), ("x2", T0)], {}, ["x1", "x2"], id="not a resource name"),
    ],
)
def test_plan(refs: list[tuple[str, float | None]], listings: dict[str, list[str]], singles: list[str]) -> None:
    names = {"A": f"{PARENT}/customJobs/", "B": f"{OTHER}/customJobs/", "x": "job-"}
    made = [ref(names[key[0]] + key[1:], created) for key, created in refs]
    by_key = {r.job_id: key for r, (key, _) in zip(made, refs, strict=True)}
    got_listings, got_singles = plan(made)
    assert {parent: [by_key[r.job_id] for r in group] for parent, group in got_listings.items()} == listings
    assert [by_key[r.job_id] for r in got_singles] == singles


def test_needs_get_keeps_the_unlisted_in_order() -> None:
    refs = [ref(f"{PARENT}/customJobs/{i}") for i in range(4)]
    listed = {refs[1].job_id: object(), refs[3].job_id: object()}
    assert needs_get(refs, listed) == [refs[0], refs[2]]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("err", "refused"),
    [
        (exceptions.Forbidden("denied"), True),
        (exceptions.PermissionDenied("aiplatform.customJobs.list"), True),
        (exceptions.BadRequest("bad filter"), True),
        (exceptions.InvalidArgument("bad filter"), True),
        (exceptions.TooManyRequests("slow down"), False),
        (exceptions.ServiceUnavailable("unavailable"), False),
        (exceptions.Unauthorized("token expired"), False),
        (exceptions.RetryError("deadline", cause=exceptions.TooManyRequests("slow down")), False),
        (ValueError("x"), False),
    ],
)
def test_cannot_list(err: BaseException, refused: bool) -> None:
    assert cannot_list(err) is refused


@pytest.mark.parametrize(
    ("custom_job", "epoch"),
    [
        (SimpleNamespace(create_time=datetime(2026, 5, 18, 12, 0, tzinfo=UTC)), T0),
        (SimpleNamespace(create_time=None), None),
        (SimpleNamespace(), None),
    ],
)
def test_creation_epoch_is_vertex_s_create_time_else_now(custom_job: object, epoch: float | None) -> None:
    before = time.time()
    got = creation_epoch(custom_job)
    if epoch is not None:
        assert got == epoch
    else:  # now, by the same clock
        assert before <= got <= time.time()


# -- list_statuses over a stand-in client -----------------------------------------------------------------------


class _Pager:
    def __init__(self, pages: list[list[SimpleNamespace]]) -> None:
        self._pages, self.served = pages, 0

    @property
    def pages(self):
        for jobs in self._pages:
            self.served += 1
            yield SimpleNamespace(custom_jobs=jobs)


class _Client:
    def __init__(self, pages: list[list[SimpleNamespace]]) -> None:
        self.pager, self.calls = _Pager(pages), []

    def list_custom_jobs(self, **kwargs):
        self.calls.append(kwargs)
        return self.pager


def _job(i: int, state: str = "JOB_STATE_RUNNING") -> SimpleNamespace:
    return SimpleNamespace(name=f"{PARENT}/customJobs/{i}", state=state)


@pytest.fixture
def plain_dicts(monkeypatch):
    """The stand-in jobs are plain namespaces: ``as_dict`` reads their attributes."""
    monkeypatch.setattr(batch, "as_dict", lambda job: dict(vars(job)))


@pytest.mark.parametrize(
    ("pages", "wanted", "found", "served"),
    [
        pytest.param([[_job(1), _job(2)]], {1, 2}, {1, 2}, 1, id="one page"),
        pytest.param([[_job(1), _job(9)], [_job(2)], [_job(3)]], {1, 2}, {1, 2}, 2, id="stops once all are found"),
        pytest.param([[_job(9)], [_job(1)]], {1, 2}, {1}, 2, id="one missing: every page"),
        pytest.param([[]], {1}, set(), 1, id="nothing listed"),
    ],
)
def test_list_statuses(plain_dicts, pages, wanted: set[int], found: set[int], served: int) -> None:
    client = _Client(pages)
    since = datetime(2021, 5, 18, tzinfo=UTC)
    names = {f"{PARENT}/customJobs/{i}" for i in wanted}
    statuses = list_statuses(client, PARENT, since, names, timeout=5)
    assert set(statuses) == {f"{PARENT}/customJobs/{i}" for i in found}
    assert all(status.state is JobState.RUNNING for status in statuses.values())
    assert client.pager.served == served
    [call] = client.calls
    assert call == {
        "request": {"parent": PARENT, "filter": list_filter(since), "page_size": batch.PAGE_SIZE},
        "timeout": 5,
    }


def test_list_statuses_maps_states_as_a_get_does(plain_dicts) -> None:
    failed = SimpleNamespace(
        name=f"{PARENT}/customJobs/1", state="JOB_STATE_FAILED", error={"message": "exited with 1"}
    )
    statuses = list_statuses(_Client([[failed]]), PARENT, datetime.now(UTC), {failed.name})
    status = statuses[failed.name]
    assert (status.state, status.cloud_state, status.message) == (JobState.FAILED, "JOB_STATE_FAILED", "exited with 1")
