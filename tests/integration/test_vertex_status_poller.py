"""Many LaunchJobTriggers of one Vertex AI connection in one event loop (one triggerer), against the Vertex emulator:
one shared client, one ListCustomJobs listing per round, GetCustomJob only for what the listing cannot answer."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from google.api_core import exceptions

from airflow_wandb_launch.backends.vertex import batch
from airflow_wandb_launch.backends.vertex.backend import VertexBackend
from airflow_wandb_launch.backends.vertex.batch import CREATED_AT
from airflow_wandb_launch.launch.job import JobStatus
from airflow_wandb_launch.launch.run import RunIdentity
from airflow_wandb_launch.triggers.launch import LaunchJobTrigger
from airflow_wandb_launch.triggers.status_poller import close_pollers, poller_for
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.clouds import VERTEX_PROJECT, VERTEX_REGION

CONNECTION = {"gcp_conn_id": "google_cloud_default"}
PARENT = f"projects/{VERTEX_PROJECT}/locations/{VERTEX_REGION}"
INTERVAL = 0.2
ERROR = {"code": 3, "message": "Replica workerpool0-0 exited with a non-zero status of 1."}


def custom_job(i: int, labels: dict[str, str] | None = None) -> dict:
    pool = {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": {"image_uri": "i"}}
    return {
        "display_name": f"poller-{i}",
        "labels": {"wandb-run-id": f"r{i}"} if labels is None else labels,
        "job_spec": {"worker_pool_specs": [pool]},
    }


@pytest.fixture
async def jobs(vertex):
    """``make(n)``: n running jobs submitted through the real backend, and a trigger for each.

    ``cloud`` edits each reference's ``cloud`` dict before the trigger is made (an old reference, say).
    """
    backend = VertexBackend()

    def make(n: int, cloud=lambda i, where: where, **kwargs) -> list[LaunchJobTrigger]:
        triggers = []
        for i in range(n):
            vertex.script(Lifecycle("JOB_STATE_RUNNING"))
            ref = backend.submit(custom_job(i), RunIdentity(f"r{i}", "p", "e"))
            data = ref.to_dict() | {"cloud": cloud(i, dict(ref.cloud))}
            triggers.append(LaunchJobTrigger(job_ref=data, connection_args=CONNECTION, **kwargs))
        return triggers

    yield make
    backend.close()
    await close_pollers()


async def _start(triggers: list[LaunchJobTrigger]) -> list[asyncio.Task]:
    return [asyncio.create_task(anext(t.run())) for t in triggers]


async def _rounds(n: int, poller) -> None:
    target = poller.rounds + n
    while poller.rounds < target:
        await asyncio.sleep(0.02)


def _served(vertex, before: dict[str, int]) -> dict[str, int]:
    return {op: n - before.get(op, 0) for op, n in vertex.meter.requests().items() if n != before.get(op, 0)}


async def test_submit_records_vertex_s_creation_time(jobs, vertex):
    [trigger] = jobs(1)
    read = VertexBackend().client.get_custom_job(name=trigger.ref.job_id)
    assert trigger.ref.cloud[CREATED_AT] == read.create_time.timestamp()


async def test_triggers_of_one_connection_share_one_client_and_one_listing_per_round(jobs, vertex):
    triggers = jobs(20, poll_interval=INTERVAL)
    tasks = await _start(triggers)
    poller = poller_for("vertex", CONNECTION)
    await _rounds(2, poller)
    before = vertex.meter.requests()
    await _rounds(3, poller)
    assert _served(vertex, before) == {"ListCustomJobs": 3}  # 20 jobs, 1 page, once a round; no GetCustomJob
    assert not any(task.done() for task in tasks)
    assert all(vertex.get_count(t.ref.job_id) == 0 and vertex.meter.reads(t.ref.job_id) >= 5 for t in triggers)
    assert len({id((await t.backend()).client) for t in triggers}) == 1

    vertex.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}
    assert vertex.meter.requests().get("GetCustomJob", 0) == 0
    # the listed end carries what the worker needs: no second read (final_status keeps it as it is)
    backend, status = await triggers[0].backend(), JobStatus.from_dict(events[0].payload["status"])
    assert backend.final_status(triggers[0].ref, status) is status
    assert backend.billable_seconds(status.details) >= 0 and status.details["worker_pools"][0]["replica_count"] == 1
    for trigger in triggers:
        await trigger.cleanup()


async def test_the_listing_pages_and_skips_other_jobs(jobs, vertex, monkeypatch):
    monkeypatch.setattr(batch, "PAGE_SIZE", 10)
    others = VertexBackend()
    for i in range(15):  # someone else's jobs in the same region: no W&B label, never paged through
        others.client.create_custom_job(parent=PARENT, custom_job=custom_job(100 + i, labels={}))
    triggers = jobs(25, poll_interval=INTERVAL)
    tasks = await _start(triggers)
    poller = poller_for("vertex", CONNECTION)
    await _rounds(1, poller)
    before = vertex.meter.requests()
    await _rounds(2, poller)
    assert _served(vertex, before) == {"ListCustomJobs": 6}  # 25 jobs, 3 pages a round
    assert all(vertex.meter.reads(name) == 0 for name in vertex.job_names()[:15])
    vertex.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}
    others.close()


async def test_a_job_failing_mid_batch_wakes_only_its_trigger(jobs, vertex):
    triggers = jobs(5, poll_interval=INTERVAL)
    tasks = await _start(triggers)
    poller = poller_for("vertex", CONNECTION)
    await _rounds(1, poller)
    vertex.set_state(triggers[2].ref.job_id, "JOB_STATE_FAILED", error=ERROR)
    event = await asyncio.wait_for(tasks[2], timeout=5)
    await _rounds(2, poller)
    assert [task.done() for task in tasks] == [False, False, True, False, False]
    assert vertex.meter.requests().get("GetCustomJob", 0) == 0
    status = JobStatus.from_dict(event.payload["status"])
    backend = await triggers[2].backend()
    per_job = backend.status(triggers[2].ref)  # what a GetCustomJob says of the same job
    assert (status.state, status.cloud_state, status.message) == (per_job.state, per_job.cloud_state, per_job.message)
    assert status.message == ERROR["message"] and status.state.value == "failed"
    assert backend.final_status(triggers[2].ref, status).message == ERROR["message"]
    for task in tasks:
        task.cancel()


async def test_a_throttled_page_is_retried_within_the_round(jobs, vertex):
    triggers = jobs(3, poll_interval=INTERVAL)
    vertex.faults.inject(429, times=1, method="ListCustomJobs")
    vertex.faults.inject(503, times=1, method="ListCustomJobs")
    tasks = await _start(triggers)
    poller = poller_for("vertex", CONNECTION)
    await _rounds(2, poller)
    assert vertex.faults.served == [429, 503] and poller._errors == 0
    assert vertex.meter.requests().get("GetCustomJob", 0) == 0
    vertex.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}


async def test_throttled_rounds_back_off_and_fail_no_job(jobs, vertex, monkeypatch, caplog):
    monkeypatch.setattr("airflow_wandb_launch.backends.vertex.client.RETRY_DEADLINE", 0.0)  # one attempt a page
    triggers = jobs(4, poll_interval=0.05)
    vertex.faults.inject(429, times=2, method="ListCustomJobs")
    vertex.faults.inject(503, times=1, method="ListCustomJobs")
    tasks = await _start(triggers)
    poller = poller_for("vertex", CONNECTION)
    started = time.monotonic()
    await _rounds(4, poller)
    assert time.monotonic() - started >= 0.05 * (2 + 4 + 8) * 0.85  # the connection backed off after each
    assert vertex.faults.served == [429, 429, 503] and caplog.text.count("Reading 4 vertex jobs failed") == 3
    assert not any(task.done() for task in tasks)  # 3 failed reads in a row are within each trigger's budget
    assert vertex.meter.requests().get("GetCustomJob", 0) == 0
    vertex.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}


async def test_a_refused_listing_falls_back_to_gets(jobs, vertex, caplog):
    triggers = jobs(3, poll_interval=INTERVAL)
    vertex.denied.add("ListCustomJobs")  # a role without aiplatform.customJobs.list
    tasks = await _start(triggers)
    poller = poller_for("vertex", CONNECTION)
    await _rounds(3, poller)
    assert vertex.meter.requests().get("ListCustomJobs") == 1  # asked once, then never again
    assert all(vertex.get_count(t.ref.job_id) >= 3 for t in triggers)  # read job by job instead
    assert caplog.text.count("ListCustomJobs is refused") == 1
    assert isinstance((await poller.backend()), VertexBackend) and not (await poller.backend())._may_list
    vertex.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}


async def test_an_old_reference_without_created_at_is_read_with_a_get(jobs, vertex):
    def old_first(i: int, where: dict) -> dict:
        return {k: v for k, v in where.items() if k != CREATED_AT} if i == 0 else where

    triggers = jobs(3, cloud=old_first, poll_interval=INTERVAL)
    assert CREATED_AT not in triggers[0].ref.cloud
    tasks = await _start(triggers)
    poller = poller_for("vertex", CONNECTION)
    await _rounds(1, poller)
    before = vertex.meter.requests()
    await _rounds(2, poller)
    assert _served(vertex, before) == {"ListCustomJobs": 2, "GetCustomJob": 2}
    assert [vertex.get_count(t.ref.job_id) for t in triggers][1:] == [0, 0]
    vertex.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}


async def test_only_old_references_are_read_with_gets(jobs, vertex):
    old = {"project": VERTEX_PROJECT, "region": VERTEX_REGION}  # what a reference held before created_at
    triggers = jobs(3, cloud=lambda i, where: dict(old), poll_interval=INTERVAL)
    tasks = await _start(triggers)
    await _rounds(2, poller_for("vertex", CONNECTION))
    assert "ListCustomJobs" not in vertex.meter.requests()
    for task in tasks:
        task.cancel()


async def test_jobs_the_listing_misses_are_read_with_gets(jobs, vertex):
    """Jobs created before the listing's start (recorded creation times far off): GetCustomJob answers for them."""
    later = (datetime.now(UTC) + timedelta(hours=1)).timestamp()
    triggers = jobs(3, cloud=lambda i, where: where | {CREATED_AT: later}, poll_interval=INTERVAL)
    tasks = await _start(triggers)
    poller = poller_for("vertex", CONNECTION)
    await _rounds(1, poller)
    before = vertex.meter.requests()
    await _rounds(2, poller)
    assert _served(vertex, before) == {"ListCustomJobs": 2, "GetCustomJob": 6}
    vertex.set_state(triggers[0].ref.job_id, "JOB_STATE_SUCCEEDED")
    event = await asyncio.wait_for(tasks[0], timeout=5)
    assert event.payload["status"]["state"] == "succeeded"
    for task in tasks[1:]:
        task.cancel()


async def test_a_lone_job_is_read_with_a_get(jobs, vertex):
    [trigger] = jobs(1, poll_interval=INTERVAL)
    task = asyncio.create_task(anext(trigger.run()))
    await _rounds(2, poller_for("vertex", CONNECTION))
    assert "ListCustomJobs" not in vertex.meter.requests() and vertex.get_count(trigger.ref.job_id) >= 2
    task.cancel()


# -- the emulator's listing -------------------------------------------------------------------------------------


def test_the_emulator_filters_on_create_time_and_advances_what_it_lists(vertex):
    vertex.default_lifecycle = Lifecycle(("JOB_STATE_QUEUED", 1), "JOB_STATE_RUNNING")
    client = VertexBackend().client
    first = client.create_custom_job(parent=PARENT, custom_job=custom_job(1))
    second = client.create_custom_job(parent=PARENT, custom_job=custom_job(2, labels={}))
    since = batch.rfc3339(first.create_time - timedelta(seconds=1))

    def names(filter_: str) -> list[str]:
        return [job.name for job in client.list_custom_jobs(request={"parent": PARENT, "filter": filter_})]

    assert names(f'create_time>"{since}"') == [first.name, second.name]
    assert names(f'create_time<="{since}"') == []
    assert names(f'create_time>"{since}" AND labels.wandb-run-id:*') == [first.name]
    assert names('create_time<"2000-01-01T00:00:00Z"') == []
    with pytest.raises(exceptions.BadRequest):
        names('create_time>"yesterday"')
    with pytest.raises(exceptions.BadRequest):
        names('state>"JOB_STATE_QUEUED"')
    # every listing above that returned a job was a read of it: QUEUED once, then RUNNING
    listed = client.list_custom_jobs(request={"parent": PARENT})
    assert {job.name: job.state.name for job in listed} == {
        first.name: "JOB_STATE_RUNNING",
        second.name: "JOB_STATE_RUNNING",
    }
    assert vertex.get_count(first.name) == 0 and vertex.meter.reads(first.name) >= 3


def test_the_emulator_denies_what_it_is_told_to(vertex):
    client = VertexBackend().client
    name = client.create_custom_job(parent=PARENT, custom_job=custom_job(1)).name
    vertex.denied.add("ListCustomJobs")
    with pytest.raises(exceptions.Forbidden) as raised:
        list(client.list_custom_jobs(request={"parent": PARENT}))
    assert raised.value.response.json()["error"]["status"] == "PERMISSION_DENIED"
    assert client.get_custom_job(name=name).name == name  # only the listing is denied
    vertex.denied.clear()
    assert [job.name for job in client.list_custom_jobs(request={"parent": PARENT})] == [name]
