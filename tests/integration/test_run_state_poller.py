"""Many WandbRunTriggers of one ``wandb`` connection in one event loop (one triggerer), against the W&B fake:
one GraphQL client, one ``AirflowRunsState`` query per project and page a round, only the changed run's trigger
woken, a failed round backed off for the whole connection, and a trigger that outlives its poller resumes."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest

from airflow_wandb_launch.triggers import run_state_poller
from airflow_wandb_launch.triggers.batch_poller import close_pollers
from airflow_wandb_launch.triggers.polling import MAX_BACKOFF_EXPONENT, MAX_READ_ERRORS
from airflow_wandb_launch.triggers.run_state_poller import run_poller_for
from airflow_wandb_launch.triggers.wandb import WandbRunTrigger
from airflow_wandb_launch.wandb_api.graphql import GraphQLClient
from airflow_wandb_launch.wandb_api.runs import RUNS_PAGE_SIZE
from tests.conftest import ENTITY

CONN = "wandb_default"
OP = "AirflowRunsState"
INTERVAL = 0.2
_projects = itertools.count()


@pytest.fixture
async def fake(wandb_conn):
    """The W&B fake behind ``wandb_default``; scripted changes, faults and this loop's pollers dropped after."""
    yield wandb_conn
    await close_pollers()
    wandb_conn.versions.reset()
    wandb_conn.clear_faults()


@pytest.fixture
def project():
    """``project()``: a fresh project name (the fake lives for the session)."""
    return lambda: f"poller-{next(_projects)}-{time.monotonic_ns()}"


@pytest.fixture
def runs(fake):
    """``make(project, n)``: n running runs in ``project`` and a trigger waiting on each."""

    def make(project: str, n: int, state: str = "running", **kwargs) -> list[WandbRunTrigger]:
        triggers = []
        for i in range(n):
            fake.add_run(ENTITY, project, f"run{i:03d}", state=state, summary={"step": i})
            kwargs = {"poll_interval": INTERVAL, **kwargs}
            triggers.append(WandbRunTrigger(run_path=f"{ENTITY}/{project}/run{i:03d}", wandb_conn_id=CONN, **kwargs))
        return triggers

    return make


@pytest.fixture
async def start():
    """``start(triggers)``: each trigger's wait as a task (its first event); tasks still running are cancelled."""
    tasks: list[asyncio.Task] = []

    def make(triggers: list[WandbRunTrigger]) -> list[asyncio.Task]:
        started = [asyncio.create_task(anext(t.run())) for t in triggers]
        tasks.extend(started)
        return started

    yield make
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Rounds:
    """This loop's run-state poller, each of its rounds recorded: when its read started, the requests it made."""

    def __init__(self, fake) -> None:
        self.poller = run_poller_for(CONN)
        self.log: list[tuple[float, list[dict]]] = []
        read = self.poller.read

        async def recorded(client, items):
            started, since = time.monotonic(), len(fake.requests)
            try:
                return await read(client, items)
            finally:
                with fake._lock:
                    self.log.append((started, [dict(r) for r in fake.requests[since:]]))

        self.poller.read = recorded

    async def next(self, n: int) -> list[list[dict]]:
        """The next ``n`` rounds (one in progress counts): the variables of each one's ``AirflowRunsState`` reads."""
        target = len(self.log) + n
        while len(self.log) < target:
            await asyncio.sleep(0.01)
        return [[r["variables"] for r in made if r["operation"] == OP] for _, made in self.log[target - n : target]]

    def operations(self) -> set[str]:
        return {r["operation"] for _, made in self.log for r in made}

    def started(self) -> list[float]:
        return [started for started, _ in self.log]


@pytest.fixture
async def rounds(fake) -> Rounds:
    return Rounds(fake)


async def _rounds(n: int, poller) -> None:
    target = poller.rounds + n
    while poller.rounds < target:
        await asyncio.sleep(0.01)


def _path(trigger: WandbRunTrigger) -> tuple[str, str, str]:
    entity, project, run_id = trigger.run_path.split("/")
    return entity, project, run_id


async def test_fifty_triggers_share_one_client_and_read_two_projects_in_two_queries_a_round(
    fake, runs, project, start, monkeypatch
):
    built: list[GraphQLClient] = []

    class Counted(GraphQLClient):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(run_state_poller, "GraphQLClient", Counted)
    recorded = Rounds(fake)
    first, second = project(), project()
    triggers = runs(first, 25) + runs(second, 25)
    tasks = start(triggers)
    reads = await recorded.next(4)

    assert [len(made) for made in reads] == [2, 2, 2, 2]  # one query per project, once a round
    for made in reads:
        assert all(r["first"] == RUNS_PAGE_SIZE and r["cursor"] is None for r in made)
        by_project = {r["project"]: json.loads(r["filters"]) for r in made}
        assert by_project == {
            p: {"name": {"$in": [f"run{i:03d}" for i in range(25)]}} for p in (first, second)
        }  # each selects exactly its waiting runs
    assert recorded.operations() == {OP}  # nothing read run by run
    assert len(built) == 1 and all(t._client is None for t in triggers)  # one client, none of their own
    assert not any(task.done() for task in tasks)

    for trigger in triggers:
        fake.set_run_state(*_path(trigger), "finished")
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert [e.payload for e in events] == [
        {"status": "done", "run_path": t.run_path, "state": "finished"} for t in triggers
    ]
    for trigger in triggers:
        await trigger.cleanup()
    assert run_poller_for(CONN)._items == {}  # nothing left registered


async def test_more_runs_than_a_page_are_read_in_two_pages(fake, runs, project, start, rounds):
    name = project()
    triggers = runs(name, RUNS_PAGE_SIZE + 20)
    fake.add_run(ENTITY, name, "zz-not-waited-on", state="running")  # in the project, not in the filter
    tasks = start(triggers)
    reads = await rounds.next(2)

    assert [[r["cursor"] for r in made] for made in reads] == [[None, str(RUNS_PAGE_SIZE)]] * 2  # two pages a round
    assert {len(json.loads(r["filters"])["name"]["$in"]) for made in reads for r in made} == {RUNS_PAGE_SIZE + 20}
    fake.set_run_state(*_path(triggers[-1]), "finished")  # a run on the second page
    event = await asyncio.wait_for(tasks[-1], timeout=5)
    assert event.payload["state"] == "finished"
    assert sum(task.done() for task in tasks) == 1


async def test_a_run_crashing_mid_batch_wakes_only_its_trigger(fake, runs, project, start, rounds):
    triggers = runs(project(), 5)
    crash = lambda: fake.set_run_state(*_path(triggers[2]), "crashed")  # noqa: E731
    fake.versions.after_reads(OP, 2, crash)  # just before the second round's read
    tasks = start(triggers)
    event = await asyncio.wait_for(tasks[2], timeout=5)
    await rounds.next(2)
    assert [task.done() for task in tasks] == [False, False, True, False, False]
    assert event.payload == {"status": "done", "run_path": triggers[2].run_path, "state": "crashed"}
    await triggers[2].cleanup()
    await rounds.next(1)  # the round under way may still carry it
    [[read]] = await rounds.next(1)
    assert json.loads(read["filters"])["name"]["$in"] == ["run000", "run001", "run003", "run004"]  # it left


async def test_a_run_not_there_yet_keeps_its_trigger_waiting(fake, runs, project, start, rounds):
    name = project()
    [trigger] = runs(name, 1)
    late = WandbRunTrigger(run_path=f"{ENTITY}/{name}/late", wandb_conn_id=CONN, poll_interval=INTERVAL)
    tasks = start([trigger, late])
    await rounds.next(2)
    assert not any(task.done() for task in tasks)  # no such run: None, not an error
    fake.add_run(ENTITY, name, "late", state="killed")
    assert (await asyncio.wait_for(tasks[1], timeout=5)).payload["state"] == "killed"
    assert not tasks[0].done()


async def test_triggers_waiting_on_the_same_run_all_get_its_event(fake, runs, project, start, rounds):
    [a] = runs(project(), 1)
    b, c = (WandbRunTrigger(**a.serialize()[1]) for _ in range(2))
    tasks = start([a, b, c])
    poller = rounds.poller
    await _rounds(1, poller)
    tasks[0].cancel()  # a's task is gone (killed, say) and cleans up while b and c still wait
    await asyncio.gather(tasks[0], return_exceptions=True)
    assert sum(not future.done() for future in poller._waiters[a.run_path]) == 2
    await a.cleanup()
    assert a.run_path in poller._items  # kept for b and c
    reads = await rounds.next(2)
    assert [len(made) for made in reads] == [1, 1]  # the run is still read, once a round, for both
    assert not tasks[1].done() and not tasks[2].done()

    fake.set_run_state(*_path(a), "failed")
    events = await asyncio.wait_for(asyncio.gather(*tasks[1:]), timeout=5)
    assert [e.payload["state"] for e in events] == ["failed", "failed"]
    for trigger in (b, c):
        await trigger.cleanup()
    assert a.run_path not in run_poller_for(CONN)._items  # the last one out unregisters the run


@pytest.mark.parametrize(
    ("faults", "state"),
    [
        ([(2, 500), (1, 200)], "finished"),  # 3 failed rounds (HTTP 500s, a GraphQL error): within the budget
        ([(MAX_READ_ERRORS, 500)], None),  # the budget spent: each trigger fails
    ],
)
async def test_failed_rounds_back_off_and_fail_no_trigger_within_the_budget(
    fake, runs, project, start, rounds, faults, state
):
    interval = 0.1  # a loaded CI must re-register every trigger between rounds (0.1 s apart, then more)
    triggers = runs(project(), 4, poll_interval=interval)
    for times, status in faults:
        fake.fail_next(OP, times, status, message="W&B fake: try again later")
    failing = sum(times for times, _ in faults)
    tasks = start(triggers)
    if state is not None:
        await rounds.next(failing)
        assert not any(task.done() for task in tasks)  # every trigger saw each failed round, none gave up
        for trigger in triggers:
            fake.set_run_state(*_path(trigger), state)
    events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)

    if state is not None:
        assert [e.payload for e in events] == [
            {"status": "done", "run_path": t.run_path, "state": state} for t in triggers
        ]
    else:
        assert len(rounds.log) == MAX_READ_ERRORS  # the triggers gave up together, after the budget's last round
        for event in events:
            assert event.payload["status"] == "error"
            assert event.payload["message"].startswith("W&B read failed: reading it failed 5 times in a row")
            assert "500 Internal Server Error" in event.payload["message"]
    assert all(len(made) == 1 for _, made in rounds.log)  # each round asked once, not once per trigger
    gaps = [b - a for a, b in itertools.pairwise(rounds.started())]
    backoff = [interval * 2 ** min(n, MAX_BACKOFF_EXPONENT) for n in range(1, failing + 1)]  # 0.2, 0.4, ...
    assert all(gap >= want * 0.9 for gap, want in zip(gaps, backoff, strict=False))  # the connection backed off


async def test_a_trigger_resumes_after_its_poller_is_gone(fake, runs, project, start):
    """A triggerer restart (or a move to another triggerer): the trigger rebuilt from its kwargs registers anew."""
    [trigger] = runs(project(), 1)
    [task] = start([trigger])
    old = run_poller_for(CONN)
    await _rounds(1, old)
    await close_pollers()  # the process, its poller and its client are gone; the old wait hangs on
    assert not task.done() and old._client is None

    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_wandb_launch.triggers.wandb.WandbRunTrigger"
    revived = WandbRunTrigger(**kwargs)
    [resumed] = start([revived])
    await _rounds(1, run_poller_for(CONN))
    assert run_poller_for(CONN) is not old
    fake.set_run_state(*_path(trigger), "finished")
    event = await asyncio.wait_for(resumed, timeout=5)
    assert event.payload == {"status": "done", "run_path": trigger.run_path, "state": "finished"}
    await revived.cleanup()
