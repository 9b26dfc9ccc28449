"""W&B Launch queue jobs of one ``wandb`` connection in one event loop (one triggerer), against the W&B fake: each
round reads every item (``GetRunQueueItem``) and the runs of those picked up together, one ``AirflowRunsState`` per
W&B project; the batched statuses are the worker's per-job ``status``, job for job."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import httpx
import pytest

from airflow_wandb_launch.backends.wandb_queue.backend import WandbQueueBackend
from airflow_wandb_launch.backends.wandb_queue.spec import build_run_spec
from airflow_wandb_launch.backends.wandb_queue.states import job_status, needs_run
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials
from airflow_wandb_launch.triggers.launch import LaunchJobTrigger
from airflow_wandb_launch.triggers.status_poller import close_pollers, poller_for
from airflow_wandb_launch.wandb_api import queue as wandb_queue
from airflow_wandb_launch.wandb_api.graphql import GraphQLClient, GraphQLError
from airflow_wandb_launch.wandb_api.queue import LAUNCH_DEFAULT_PROJECT, QueueRef
from tests.conftest import ENTITY
from tests.emulators.lifecycle import Lifecycle
from tests.emulators.wandb_queue import AgentScript

CONNECTION = {"wandb_conn_id": "wandb_default"}
IMAGE = "ghcr.io/acme/train:1.0"
_names = itertools.count()


@pytest.fixture
async def queues(wandb_conn):
    """The fake's run queues, emptied around each test; faults and this loop's pollers dropped after."""
    wandb_conn.queues.reset()
    yield wandb_conn.queues
    await close_pollers()
    wandb_conn.queues.reset()
    wandb_conn.clear_faults()


@pytest.fixture
def client(queues):
    """A GraphQL client of the fake, as a test's own hands (pushing, deleting)."""
    server = queues.server
    with GraphQLClient(WandbCredentials(server.api_key, server.base_url)) as client:
        yield client


@pytest.fixture
def push(client):
    """``push(queue, project, n)``: n items pushed onto ``queue`` for runs of ``project``; their JobRefs."""

    def make(queue: str, project: str, n: int) -> list[JobRef]:
        where = QueueRef(ENTITY, LAUNCH_DEFAULT_PROJECT, queue)
        refs = []
        for _ in range(n):
            run_id = f"q{next(_names):05d}"
            spec = build_run_spec(entity=ENTITY, project=project, run_id=run_id, image=IMAGE)
            item_id, _ = wandb_queue.push(client, where, spec)
            refs.append(JobRef("wandb-queue", item_id, RunIdentity(run_id, project, ENTITY), where.to_dict()))
        return refs

    return make


@pytest.fixture
def project():
    """``project()``: a fresh W&B project name (the fake lives for the session)."""
    return lambda: f"queue-poller-{next(_names)}-{time.monotonic_ns()}"


class Rounds:
    """This loop's status poller of the connection, each round recorded: the operations its read made."""

    def __init__(self, server) -> None:
        self.poller = poller_for("wandb-queue", CONNECTION)
        self.log: list[Counter] = []
        self.started: list[float] = []  # when each round's read started
        read = self.poller.read

        async def recorded(client, items):
            self.started.append(time.monotonic())
            since = len(server.requests)
            try:
                return await read(client, items)
            finally:
                with server._lock:
                    self.log.append(Counter(r["operation"] for r in server.requests[since:]))

        self.poller.read = recorded

    async def until(self, n: int) -> list[Counter]:
        """The first ``n`` rounds (waiting for them)."""
        while len(self.log) < n:
            await asyncio.sleep(0.01)
        return self.log[:n]


def _statuses(results: dict) -> dict:
    return {job: r.to_dict() if isinstance(r, JobStatus) else repr(r) for job, r in results.items()}


async def test_twenty_queue_jobs_read_one_item_each_and_one_runs_query_per_project_a_round(queues, push, project):
    queue = f"batch-{next(_names)}"
    queues.add_queue(ENTITY, name=queue, script=AgentScript(claim_after=2, run=Lifecycle(("running", 2), "finished")))
    first, second = project(), project()
    refs = push(queue, first, 10) + push(queue, second, 10)
    rounds = Rounds(queues.server)
    triggers = [LaunchJobTrigger(job_ref=r.to_dict(), connection_args=CONNECTION, poll_interval=0.1) for r in refs]
    tasks = [asyncio.create_task(anext(t.run())) for t in triggers]
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)

    items = {"GetRunQueueItem": 20}
    assert rounds.log == [
        Counter(items),  # every item pending: no run to read
        Counter({**items, "AirflowRunsState": 2}),  # the agent claimed them: their runs, one query per project
        Counter({**items, "AirflowRunsState": 2}),
        Counter({**items, "AirflowRunsState": 2}),  # the runs finished: every trigger fired
    ]
    statuses = [JobStatus.from_dict(e.payload["status"]) for e in events]
    assert {(s.state, s.cloud_state) for s in statuses} == {(JobState.SUCCEEDED, "finished")}
    assert [s.details["run_id"] for s in statuses] == [r.run.run_id for r in refs]

    backend = await triggers[0].backend()
    assert {id(await t.backend()) for t in triggers} == {id(backend)}  # one backend, one client, for all
    per_job = await asyncio.to_thread(lambda: [backend.status(r) for r in refs])  # the worker's read
    assert per_job == statuses
    for trigger in triggers:
        await trigger.cleanup()


def _claim_without_run(queues, item_id: str, run_id: str) -> None:
    """An agent acked the item with a run id, and the run has not started yet (no such run on W&B)."""
    with queues.server._lock:
        queues._items[item_id].update(state="CLAIMED", associatedRunId=run_id)


async def test_batched_statuses_are_the_per_job_statuses_in_every_situation(queues, push, project, client):
    queue, idle = f"states-{next(_names)}", f"idle-{next(_names)}"
    queues.add_queue(ENTITY, name=queue)
    queues.add_queue(ENTITY, name=idle)
    first, second = project(), project()
    refs = push(queue, first, 9) + push(queue, second, 3) + push(idle, first, 1)
    jobs = [r.job_id for r in refs]
    queues.fail_item(jobs[0], "could not pull image ghcr.io/acme/train:1.0")  # failed by the agent
    _claim_without_run(queues, jobs[1], refs[1].run.run_id)  # claimed, run not started yet
    for i, state in [(2, "running"), (3, "finished"), (4, "crashed"), (5, "killed"), (6, "preempted")]:
        queues.agent_claim(jobs[i], state=state)
    queues.agent_claim(jobs[7], run_id=f"other{next(_names)}", state="failed")  # the agent chose another run id
    queues.agent_claim(jobs[8], state="finished")
    wandb_queue.delete_item(client, QueueRef.from_dict(refs[8].cloud), jobs[8])  # gone; its run ran
    wandb_queue.delete_item(client, QueueRef.from_dict(refs[9].cloud), jobs[9])  # gone; no run ever started
    queues.agent_claim(jobs[10], state="running")
    queues.agent_claim(jobs[11], state="finished")
    # jobs[12]: on a queue no agent polls, still pending

    backend = WandbQueueBackend(**CONNECTION)
    since = len(queues.server.requests)
    batched = await backend.astatus_many(refs)
    with queues.server._lock:
        made = Counter(r["operation"] for r in queues.server.requests[since:])
    per_job = await asyncio.to_thread(lambda: {r.job_id: backend.status(r) for r in refs})
    backend.close()

    assert _statuses(batched) == _statuses(per_job)
    assert made == {"GetRunQueueItem": 13, "AirflowRunQueueItemError": 1, "AirflowRunsState": 2}
    said = {job: (s.state.value, s.cloud_state) for job, s in batched.items()}
    assert [said[job] for job in jobs] == [
        ("failed", "FAILED"),
        ("running", "claimed"),
        ("running", "running"),
        ("succeeded", "finished"),
        ("failed", "crashed"),
        ("stopped", "killed"),
        ("pending", "preempted"),
        ("failed", "failed"),
        ("succeeded", "finished"),
        ("failed", "missing"),
        ("running", "running"),
        ("succeeded", "finished"),
        ("pending", "PENDING"),
    ]
    assert "run: could not pull image ghcr.io/acme/train:1.0" in batched[jobs[0]].message
    assert batched[jobs[7]].details["run_id"].startswith("other")  # the run the agent reported, followed


async def test_a_failed_read_fails_only_the_jobs_it_answers_for(queues, push, project):
    queue = f"faults-{next(_names)}"
    queues.add_queue(ENTITY, name=queue)
    first, second = project(), project()
    refs = push(queue, first, 3) + push(queue, second, 3) + push(queue, first, 1)
    for ref in refs[:6]:
        queues.agent_claim(ref.job_id, state="running")
    backend = WandbQueueBackend(**CONNECTION)
    server = queues.server

    server.fail_next("AirflowRunsState", 1, 200, "W&B fake: rate limited")  # one of the two projects' reads
    results = await backend.astatus_many(refs)
    failed = {job for job, r in results.items() if isinstance(r, BaseException)}
    assert failed in ({r.job_id for r in refs[:3]}, {r.job_id for r in refs[3:6]})  # that project's runs only
    assert all(isinstance(results[j], GraphQLError) and "rate limited" in str(results[j]) for j in failed)
    assert results[refs[6].job_id].state is JobState.PENDING  # nothing to read but its item

    server.fail_next("GetRunQueueItem", 1, 500)
    results = await backend.astatus_many(refs)
    assert sum(isinstance(r, BaseException) for r in results.values()) == 1  # one item's read
    assert {r.state for r in results.values() if isinstance(r, JobStatus)} == {JobState.RUNNING, JobState.PENDING}

    server.fail_next("GetRunQueueItem", len(refs), 503)  # nothing answers: the round fails, the poller backs off
    with pytest.raises(httpx.HTTPStatusError, match="503"):
        await backend.astatus_many(refs)
    assert all(isinstance(r, JobStatus) for r in (await backend.astatus_many(refs)).values())
    backend.close()


@pytest.mark.parametrize(
    ("item", "run", "expected"),
    [
        (None, None, (JobState.FAILED, "missing")),
        (None, {"state": "finished"}, (JobState.SUCCEEDED, "finished")),
        ({"state": "PENDING"}, None, (JobState.PENDING, "PENDING")),
        ({"state": "FAILED", "associatedRunId": "r1"}, {"state": "running"}, (JobState.FAILED, "FAILED")),
        ({"state": "CLAIMED", "associatedRunId": "r1"}, None, (JobState.RUNNING, "claimed")),
        ({"state": "CLAIMED", "associatedRunId": "r1"}, {"state": "preempting"}, (JobState.PENDING, "preempting")),
        ({"state": "CLAIMED", "associatedRunId": "r1"}, {"state": "killed"}, (JobState.STOPPED, "killed")),
    ],
)
def test_job_status_from_an_item_and_its_run(item, run, expected):
    status = job_status(item, "item X of queue e/q", "run: boom", "e/p/r1", run)
    assert (status.state, status.cloud_state) == expected
    assert needs_run(item) is (item is None or item.get("state") == "CLAIMED")
    if needs_run(item) and status.cloud_state != "missing":
        assert status.details["run_id"] == "r1"


async def test_queue_triggers_ride_out_rounds_where_w_b_does_not_answer(queues, push, project):
    queue = f"outage-{next(_names)}"
    queues.add_queue(ENTITY, name=queue)
    refs = push(queue, project(), 4)
    for ref in refs:
        queues.agent_claim(ref.job_id, state="finished")
    queues.server.fail_next("GetRunQueueItem", 3 * len(refs), 500)  # three rounds in which no item read answers
    rounds = Rounds(queues.server)
    triggers = [LaunchJobTrigger(job_ref=r.to_dict(), connection_args=CONNECTION, poll_interval=0.02) for r in refs]
    events = await asyncio.wait_for(asyncio.gather(*(anext(t.run()) for t in triggers)), timeout=10)

    assert {e.payload["status"]["state"] for e in events} == {"succeeded"}  # 3 failed reads: within the budget
    assert [r["GetRunQueueItem"] for r in rounds.log] == [4, 4, 4, 4]
    assert [r["AirflowRunsState"] for r in rounds.log] == [0, 0, 0, 1]  # no run read in a failed round
    gaps = [b - a for a, b in itertools.pairwise(rounds.started)]
    backoff = [0.02 * 2, 0.02 * 4, 0.02 * 8]  # the connection backed off after each failed round
    assert all(gap >= 0.9 * want for gap, want in zip(gaps, backoff, strict=True))
    for trigger in triggers:
        await trigger.cleanup()
