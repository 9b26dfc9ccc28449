"""Many LaunchJobTriggers of one Azure ML connection in one event loop (one triggerer), against the Azure ML
emulator through the real MLClient: one shared client, a few ``jobs.list`` pages per round, ``jobs.get`` only for
jobs the listing did not return, only the changed job's trigger woken, faults absorbed per connection."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from airflow_wandb_launch.backends.azure_ml.backend import AzureMLBackend
from airflow_wandb_launch.backends.azure_ml.batch import CREATED_AT, LIST_TAG
from airflow_wandb_launch.backends.azure_ml.request import RUN_ID_TAG, build_command_job
from airflow_wandb_launch.launch.job import JobRef, JobStatus
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials
from airflow_wandb_launch.triggers.launch import LaunchJobTrigger
from airflow_wandb_launch.triggers.status_poller import close_pollers, poller_for
from tests.emulators.lifecycle import Lifecycle

CONNECTION = {"azure_conn_id": "azure_default"}
INTERVAL = 0.2


@pytest.fixture
def submit(aml):
    """``submit(n)``: n running jobs submitted through the real backend; their references."""
    backend, count = AzureMLBackend(), iter(range(10**6))

    def make(n: int, lifecycle: Lifecycle | None = None) -> list[JobRef]:
        refs = []
        for _ in range(n):
            i = next(count)
            aml.script((lifecycle or Lifecycle("Running")).copy())
            run = RunIdentity(f"poller{i:04d}", "aml-poller", "e")
            request = LaunchRequest("azure-ml", run, image="acr.io/t:1", entry_point=("python", "train.py"))
            env = request.job_env(WandbCredentials(api_key="k", base_url="http://127.0.0.1:1"))
            payload = build_command_job(request, {"compute": "cpu", "name": f"poller-{i:04d}"}, env)
            refs.append(backend.submit(payload, run))
        return refs

    yield make
    backend.close()


@pytest.fixture
async def start():
    """``start(refs)``: a trigger for each job, each ``run()`` consumed by its own task; the triggers and tasks."""
    tasks: list[asyncio.Task] = []

    def make(refs: list[JobRef], poll_interval: float = INTERVAL) -> tuple[list[LaunchJobTrigger], list[asyncio.Task]]:
        triggers = [
            LaunchJobTrigger(job_ref=r.to_dict(), connection_args=CONNECTION, poll_interval=poll_interval) for r in refs
        ]
        tasks.extend(asyncio.create_task(anext(t.run())) for t in triggers)
        return triggers, tasks[-len(triggers) :]

    yield make
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await close_pollers()


@pytest.fixture
def fast_retries(monkeypatch):
    """azure-core retries 429/503 three times, 0 + 1.6 + 3.2 s apart by default: 10 ms apart here."""
    import azure.ai.ml

    monkeypatch.setattr(azure.ai.ml, "MLClient", functools.partial(azure.ai.ml.MLClient, retry_backoff_factor=0.01))


def poller():
    return poller_for("azure-ml", CONNECTION)


async def rounds(n: int) -> None:
    target = poller().rounds + n
    while poller().rounds < target:
        await asyncio.sleep(0.02)


def served(aml, before: dict[str, int]) -> dict[str, int]:
    """Workspace requests since ``before`` (Entra's token endpoints left out)."""
    now = {op: n for op, n in aml.meter.requests().items() if op not in ("openid_config", "token")}
    return {op: n - before.get(op, 0) for op, n in now.items() if n != before.get(op, 0)}


async def test_triggers_of_one_connection_share_one_client_and_list_once_a_round(aml, submit, start):
    refs = submit(12)
    assert all(r.cloud[LIST_TAG] == RUN_ID_TAG and r.cloud[CREATED_AT] > 0 for r in refs)
    aml.list_page_size = 5  # 12 jobs: 3 pages a round
    triggers, tasks = start(refs)
    await rounds(2)
    before = aml.meter.requests()
    await rounds(3)
    assert served(aml, before) == {"job_list": 9}  # no job_get, no Run History: nothing ended
    assert not any(task.done() for task in tasks)
    assert len({id((await t.backend()).client) for t in triggers}) == 1

    before = aml.meter.requests()
    assert aml.finish_all() == 12
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}
    assert set(served(aml, before)) == {"job_list"}  # the ends came from the listing
    backend = await triggers[0].backend()
    final = backend.final_status(triggers[0].ref, JobStatus.from_dict(events[0].payload["status"]))
    assert final.details["end_time"] >= final.details["start_time"]  # the worker reads Run History, once
    assert backend.billable_seconds(final.details) >= 0
    assert aml.meter.requests()["run_get"] == 1


@pytest.mark.parametrize("newest_first", [True, False])
async def test_paging_stops_once_every_wanted_job_is_listed(aml, submit, start, newest_first):
    aml.list_page_size = 4
    older = submit(8)  # jobs of other tasks, ended long ago (still tagged)
    for ref in older:
        aml.set_status(ref.job_id, "Completed")
    mine = submit(3)
    aml.list_newest_first = newest_first
    start(mine)
    await rounds(1)
    before = aml.meter.requests()
    await rounds(2)
    # newest first: the 3 jobs are on page 1 of 3; oldest first: on page 3 (page 2 is all old)
    assert served(aml, before) == {"job_list": 2 * (1 if newest_first else 3)}
    assert all(aml.meter.reads(r.job_id) >= 3 for r in mine)
    assert (aml.meter.reads(older[0].job_id) == 0) is newest_first  # on the last page: never reached


@pytest.mark.parametrize(("newest_first", "expected"), [(True, {"job_list": 1, "job_get": 1}), (False, None)])
async def test_a_newest_first_listing_stops_past_the_oldest_creation(aml, submit, start, newest_first, expected):
    aml.list_page_size = 2
    for ref in submit(6):  # jobs of other tasks, an hour old
        aml.set_created(ref.job_id, datetime.now(UTC) - timedelta(hours=1))
    mine, gone = submit(2)
    aml.create_request(gone.job_id)["properties"]["tags"].clear()  # untagged now: never listed
    aml.list_newest_first = newest_first
    start([mine, gone])
    await rounds(1)
    before = aml.meter.requests()
    await rounds(1)
    # newest first: page 1 (mine, then an hour-old job) is past the cutoff; ``gone`` is read by itself.
    # oldest first: no cutoff can stop it; the budget (3 pages) ends before ``mine``: both read by themselves.
    assert served(aml, before) == (expected or {"job_list": 3, "job_get": 2})


async def test_a_job_failing_mid_batch_wakes_only_its_trigger_with_the_per_job_message(aml, submit, start):
    refs = submit(5)
    before = aml.meter.requests()
    triggers, tasks = start(refs)
    await rounds(1)
    aml.set_status(refs[2].job_id, "Failed", error="CUDA out of memory")
    event = await asyncio.wait_for(tasks[2], timeout=5)
    await rounds(2)
    assert [task.done() for task in tasks] == [False, False, True, False, False]
    assert set(served(aml, before)) == {"job_list"}  # no jobs.get, no Run History in the triggerer
    status = JobStatus.from_dict(event.payload["status"])
    assert status.state.value == "failed" and status.cloud_state == "Failed"
    backend = await triggers[2].backend()
    final = backend.final_status(triggers[2].ref, status)  # what the worker's finish reads
    assert final.message == backend.status(refs[2]).message == "CUDA out of memory"
    assert final.details.keys() == {"start_time", "end_time"}


@pytest.mark.parametrize("code", [429, 503])
async def test_a_throttled_round_backs_off_and_fails_no_job(aml, submit, start, fast_retries, code):
    refs = submit(4)
    _, tasks = start(refs, poll_interval=0.05)
    await rounds(1)  # the client has its token: the faults meet the listing
    before = aml.meter.requests()
    aml.faults.inject(code, times=8, method="GET")  # one try + 3 retries: two rounds fail
    await rounds(3)
    assert aml.faults.served == [code] * 8
    assert not any(task.done() for task in tasks)  # 2 failed reads in a row are within each trigger's budget
    assert set(served(aml, before)) == {"job_list"}  # a failed listing fails the round: no per-job reads
    aml.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}


async def test_listing_denied_falls_back_to_per_job_reads(aml, submit, start, caplog):
    refs = submit(3)
    aml.deny_list = True
    _, tasks = start(refs)
    await rounds(3)
    requests = aml.meter.requests()
    assert requests["job_list"] == 1  # asked once, then never again
    assert all(aml.get_count(r.job_id) >= 3 for r in refs)  # read job by job instead
    assert caplog.text.count("Listing Azure ML jobs is denied") == 1
    aml.finish_all()
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}


async def test_an_old_reference_is_read_job_by_job(aml, submit, start):
    """A job deferred before this version: its reference has no creation time, so the listing cannot bound it."""
    [new, old] = submit(2)
    old = replace(old, cloud={k: v for k, v in old.cloud.items() if k not in (CREATED_AT, LIST_TAG)})
    _, tasks = start([new, old])
    await rounds(1)
    before = aml.meter.requests()
    await rounds(2)
    assert served(aml, before) == {"job_list": 2, "job_get": 2}
    assert aml.get_count(old.job_id) >= 2 and aml.get_count(new.job_id) == 0
    aml.set_status(old.job_id, "Failed", error="bad")
    event = await asyncio.wait_for(tasks[1], timeout=5)
    assert event.payload["status"]["message"] == "bad"  # the per-job path reads Run History itself


async def test_a_scripted_lifecycle_proceeds_when_only_listed(aml, submit, start):
    [ref] = submit(1, Lifecycle(("Queued", 1), ("Running", 2), "Completed"))
    [task] = start([ref])[1]
    event = await asyncio.wait_for(task, timeout=5)
    assert event.payload["status"]["state"] == "succeeded"
    assert aml.get_count(ref.job_id) == 0  # every status came from a listing
    assert aml.meter.reads(ref.job_id) == 4
