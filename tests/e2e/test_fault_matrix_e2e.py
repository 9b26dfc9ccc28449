"""The fault matrix on the real stack: each fault, one DAG run, all runs at once; exactly the jobs asked for.

``tests/e2e/dags/fault_matrix.py`` launches one SageMaker job per try (retries=1). Twelve runs start together on
the session's stack; the module's fixture plays the faults on them in one timeline (two to three minutes on two
cores), then each test asserts one scenario: the jobs created for its task at the emulator (by their
``AirflowRunId`` tag), the stop calls, the task's final state, tries and result.

1. the task's worker is SIGKILLed while its CreateTrainingJob is in flight (the request reached SageMaker, the
   job does not exist yet): the retry resubmits the recorded job name and attaches to the job, no second job;
2. the triggerer is SIGKILLed (with every process it started) with the tasks deferred, and restarted: the new
   one takes the triggers over once the old heartbeat is stale, no job is stopped. A SIGKILLed triggerer calls no
   ``on_kill``; the guard against apache/airflow#73454 runs when a *live* triggerer drops triggers that moved
   away: 2b freezes the triggerer (SIGSTOP) past its health threshold, a second triggerer takes its triggers,
   and the thawed one cancels them "by user action", calling ``on_kill`` with the tasks still deferred: no job
   is stopped;
3. a deferred task is marked failed and another marked success (one bulk REST PATCH): their jobs are stopped
   within ``STOP_BOUND`` s. Again at the end on a fresh triggerer running only ``fault_matrix_quiet``'s triggers
   (no log streaming, so nothing has built its supervisor's in-process API yet): ``MARK_BUG`` was found so;
4. a deferred task is cleared (REST clearTaskInstances): its job is stopped, the new try launches a new job and
   succeeds with that job's result;
5. about a third of SageMaker's DescribeTrainingJob/ListTrainingJobs answers fail (500/429, interleaved) for the
   whole timeline: no task fails or retries; a third of W&B's GraphQL run reads fail while two tasks finish: no
   task fails or retries (``WANDB_BUG`` was found so).

Jobs run (``InProgress``) until the timeline ends them, each at least ``SETTLE`` s after its task deferred
(apache/airflow#67287, see test_sagemaker_e2e.py). Left out: the worker dying *after* the job succeeded but
before Airflow recorded it (the retry replays the recorded result) cannot be timed on the stack; it is covered by
tests/integration/test_exactly_once.py.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.conftest import TRIGGERER_HEALTH_CHECK_THRESHOLD
from tests.e2e.stack import AirflowStack, StackError
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.container import TrainingContainer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

DAG, QUIET_DAG, TASK = "fault_matrix", "fault_matrix_quiet", "train"  # tests/e2e/dags/fault_matrix.py
#: CreateTrainingJob answers this late for the worker-kill scenario (the job exists only when it answers)
CREATE_DELAY = 3.0
#: seconds from a user's mark/clear to the StopTrainingJob call
STOP_BOUND = 30.0
#: a job ends no sooner than this many seconds after its task deferred (apache/airflow#67287)
SETTLE = 6.0
#: one request in this many of a faulted operation fails (~33 %), never two in a row
FAULT_EVERY = 3
SAGEMAKER_READS = ("DescribeTrainingJob", "ListTrainingJobs")
WANDB_READS = ("AirflowRunResult", "UpsertBucket")
#: the trigger's log line when on_kill sees the task still deferred (triggers/polling.py)
GUARD_KEPT = "Task is still deferred: the trigger is moving, not killed"
#: the triggerer's log lines (in the task's log) when it cancels a trigger "by user action", and when it ends
USER_ACTION_CANCEL = "Trigger cancelled by user action, invoking on_kill"
TRIGGER_ENDED = '"trigger completed"'
ON_KILL_TIMEOUT = "on_kill() timed out"

# the DAG runs, named for their scenario
WORKER_KILLED = "worker-killed"
TRIGGERER_KILLED = ("triggerer-killed-1", "triggerer-killed-2")
MARKED_FAILED, MARKED_SUCCESS = "marked-failed", "marked-success"
CLEARED = "cleared"
SAGEMAKER_FAULTS = ("sagemaker-faults-1", "sagemaker-faults-2")
WANDB_FAULTS = ("wandb-faults-1", "wandb-faults-2")
TOGETHER = (*TRIGGERER_KILLED, MARKED_FAILED, MARKED_SUCCESS, CLEARED, *SAGEMAKER_FAULTS, *WANDB_FAULTS)
RUNS = (WORKER_KILLED, *TOGETHER)
# fault_matrix_quiet's runs (no log streaming), marked at the end on a fresh triggerer running only them
COLD_MARKED_FAILED, COLD_MARKED_SUCCESS = "cold-marked-failed", "cold-marked-success"
QUIET = (COLD_MARKED_FAILED, COLD_MARKED_SUCCESS)
ALL_RUNS = (*RUNS, *QUIET)
MARKS = ((MARKED_FAILED, "failed"), (MARKED_SUCCESS, "success"))
COLD_MARKS = ((COLD_MARKED_FAILED, "failed"), (COLD_MARKED_SUCCESS, "success"))
TERMINAL = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})


def dag_of(run: str) -> str:
    return QUIET_DAG if run in QUIET else DAG


# provider bugs the matrix found (see each test)
MARK_BUG = (
    "on_kill's guard (triggers/kill_guard.py) reads the task's state through the triggerer's supervisor "
    "(RuntimeTaskInstance.get_task_states -> GetTaskStates); the first supervisor request of a triggerer process "
    "builds Airflow's in-process execution API inside the supervisor's loop (~7 s idle, 10-30 s under load: no "
    "heartbeat, no trigger comms meanwhile), and Airflow 3.3.2 re-sends a trigger's cancel with every state sync "
    "while its on_kill runs: of two tasks marked together, the on_kill still waiting for its answer is cancelled "
    "(silently) and its job is never stopped"
)
WANDB_BUG = (
    "a W&B GraphQL 500/429 while the worker reads the ended job's run (finish_launch -> read_run -> "
    "wandb_api.runs.read_run, no retry) fails the try although the job and its run succeeded; the retry "
    "reattaches (one job), but if its read fails too, _wait's `except BaseException` stops the Completed job"
)


class FaultPump:
    """Fails about one request in ``every`` of each operation, never two in a row (so the client's retry succeeds).

    A thread arms one fault for an operation's next request, then re-arms once ``every - 1`` more requests of it
    went through. The first request after ``start`` fails.

    :param count: how many requests of an operation the fake has served (faulted ones too).
    :param arm: make the next request of an operation answer this HTTP status.
    """

    def __init__(
        self,
        operations: Iterable[str],
        count: Callable[[str], int],
        arm: Callable[[str, int], None],
        statuses: tuple[int, ...] = (500, 429),
        every: int = FAULT_EVERY,
    ) -> None:
        self.operations, self.count, self.arm, self.every = tuple(operations), count, arm, every
        self.statuses = {op: itertools.cycle(statuses) for op in self.operations}
        self.armed: dict[str, int] = dict.fromkeys(self.operations, 0)
        self._next: dict[str, int] = dict.fromkeys(self.operations, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-pump", daemon=True)

    def start(self) -> FaultPump:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for op in self.operations:
                if self.count(op) >= self._next[op]:
                    self.arm(op, next(self.statuses[op]))
                    self.armed[op] += 1
                    # counted after arming: whatever came in between took the fault, then every-1 succeed
                    self._next[op] = self.count(op) + self.every


@dataclass
class Outcome:
    """One run at the end of the timeline."""

    run_state: str | None
    ti: dict[str, Any]
    jobs: list[str]  # created for it at the emulator, in order
    result: dict[str, Any] | None
    xcom_run_id: str | None
    logs: dict[int, str]  # try number -> the try's whole log

    @property
    def state(self) -> str | None:
        return self.ti.get("state")

    @property
    def tries(self) -> int:
        return self.ti.get("try_number", 0)


@dataclass
class Matrix:
    """The timeline: plays every fault on the runs, notes what it saw, then collects each run's ``Outcome``."""

    stack: AirflowStack
    sagemaker: Any
    wandb: Any
    container: TrainingContainer
    started: float = field(default_factory=time.monotonic)
    notes: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # soft waits that timed out, for the assertion messages
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    _tis: dict[str, dict[str, Any]] = field(default_factory=dict)
    _run_states: dict[str, str] = field(default_factory=dict)
    _deferred_since: dict[tuple[str, int], float] = field(default_factory=dict)

    # -- observing --------------------------------------------------------------------------------------------
    def poll(self) -> dict[str, dict[str, Any]]:
        """Every run's task instance and run state now; notes when each try was first seen deferred."""
        params = {"limit": 100, "dag_id_prefix_pattern": DAG}
        tis = self.stack.api("GET", "/dags/~/dagRuns/~/taskInstances", params=params)["task_instances"]
        runs = self.stack.api("GET", "/dags/~/dagRuns", params={"limit": 100})["dag_runs"]
        now = time.monotonic()
        self._tis = {ti["dag_run_id"]: ti for ti in tis if ti["dag_run_id"] in ALL_RUNS and ti["task_id"] == TASK}
        self._run_states = {run["dag_run_id"]: run["state"] for run in runs if run["dag_id"] in (DAG, QUIET_DAG)}
        for run, ti in self._tis.items():
            if ti["state"] == "deferred":
                self._deferred_since.setdefault((run, ti["try_number"]), now)
        return self._tis

    def state(self, run: str) -> str | None:
        return self._tis.get(run, {}).get("state")

    def ended(self, run: str) -> bool:
        """The task and its DAG run ended (the scheduler sets the run's state after the task's)."""
        return self.state(run) in TERMINAL and self._run_states.get(run) in ("success", "failed")

    def settled(self, run: str) -> bool:
        """Deferred for at least SETTLE s on its current try."""
        ti = self._tis.get(run, {})
        since = self._deferred_since.get((run, ti.get("try_number", 0)))
        return ti.get("state") == "deferred" and since is not None and time.monotonic() - since >= SETTLE

    def jobs(self, run: str) -> list[str]:
        """The jobs created for ``run`` at the emulator, in order (by the job's ``AirflowRunId`` tag)."""
        return [name for name in self.sagemaker.job_names() if self.tag(name, "AirflowRunId") == run]

    def tag(self, job: str, key: str) -> str | None:
        tags = self.sagemaker.create_request(job).get("Tags") or []
        return next((t["Value"] for t in tags if t["Key"] == key), None)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def wait(self, ready: Callable[[], Any], timeout: float, what: str, hard: bool = False) -> bool:
        """Poll until ``ready()`` (after a ``poll()``); a timeout is noted (or raised if ``hard``)."""
        deadline = time.monotonic() + timeout
        while True:
            self.stack.check_alive()
            self.poll()
            if ready():
                return True
            if time.monotonic() > deadline:
                message = f"timed out after {timeout:.0f} s waiting for {what} (at {self.elapsed():.0f} s)"
                if hard:
                    raise StackError(f"{message}\n{self.stack.log_tails()}")
                self.problems.append(message)
                return False
            time.sleep(0.25)

    def mark(self, name: str) -> None:
        self.timings[name] = round(self.elapsed(), 1)

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """``stack.api``, again after SQLite's "database is locked" (the API's 500 "Database error": the request
        was rolled back), which a write may meet on this busy two-core stack."""
        for attempt in range(1, 4):
            try:
                return self.stack.api(method, path, **kwargs)
            except StackError as err:
                if "Database error" not in str(err) or attempt == 3:
                    raise
                self.notes.setdefault("database locked", []).append(f"{method} {path}")
                time.sleep(1)
        raise AssertionError("unreachable")

    def trigger(self, run: str) -> None:
        """Start the run ``run`` of its DAG now."""
        self.api("POST", f"/dags/{dag_of(run)}/dagRuns", json={"logical_date": None, "dag_run_id": run, "conf": {}})

    # -- the timeline -----------------------------------------------------------------------------------------
    def play(self) -> None:
        sm = self.sagemaker
        sm.default_lifecycle = Lifecycle("InProgress")  # every job runs until the timeline ends it
        sm.faults.inject(200, delay=CREATE_DELAY, method="CreateTrainingJob")  # the first create: the kill's
        pump = FaultPump(
            SAGEMAKER_READS,
            lambda op: sm.meter.requests().get(op, 0),
            lambda op, status: sm.faults.inject(status, method=op),
        ).start()
        try:
            self.trigger(WORKER_KILLED)
            self.kill_worker_in_create()
            for run in (*TOGETHER, *QUIET):
                self.trigger(run)
            self.mark("triggered")
            every = "every task deferred"
            self.wait(lambda: all(self.state(r) == "deferred" for r in ALL_RUNS), 240, every, hard=True)
            self.mark("all deferred")
            self.mark_and_clear()  # on the triggerer the tasks deferred to (their log cursor reads warmed it)
            self.kill_triggerer()
            self.move_triggers()
            self.finish_under_wandb_faults()
            self.finish_the_rest()
        finally:
            pump.stop()
            self.notes["sagemaker faults armed"] = dict(pump.armed)
            self.notes["sagemaker requests"] = {op: sm.meter.requests().get(op, 0) for op in SAGEMAKER_READS}
        self.wait(lambda: all(self.ended(r) for r in RUNS), 180, "every run but the quiet ones to end")
        self.mark("all ended")
        self.mark_on_a_cold_triggerer()
        self.wait(lambda: all(self.ended(r) for r in QUIET), 60, "the quiet runs to end")
        self.collect()

    def kill_worker_in_create(self) -> None:
        """SIGKILL the worker (the task runner process) once its CreateTrainingJob reached SageMaker, unanswered."""
        sm = self.sagemaker
        self.wait(
            lambda: sm.meter.requests().get("CreateTrainingJob", 0) >= 1, 120, "the first CreateTrainingJob", True
        )
        ti = self.stack.task_instance(DAG, WORKER_KILLED, TASK)
        runner = self.stack.task_runner(ti["id"])
        jobs_at_kill = sm.job_names()
        if runner is not None:
            runner.send_signal(signal.SIGKILL)
        self.notes["worker kill"] = {
            "ti": {k: ti[k] for k in ("state", "try_number", "pid", "hostname")},
            "runner pid": runner.pid if runner else None,
            "jobs at kill": jobs_at_kill,
            "creates at kill": sm.meter.requests().get("CreateTrainingJob", 0),
        }
        self.mark("worker killed")

    def mark_both(self, failed: str, success: str) -> dict[str, tuple[str, float]]:
        """Mark one deferred task failed and one success in one request (a user selecting both in the UI): one
        commit, so the triggerer drops both triggers in the same round. Returns run -> (its job, when)."""
        marks = ((failed, "failed"), (success, "success"))  # one commit: both triggers dropped in one round
        entities = [{"task_id": TASK, "dag_run_id": run, "new_state": state} for run, state in marks]
        body = {"actions": [{"action": "update", "entities": entities}]}
        jobs = {run: self.jobs(run)[-1] for run, _ in marks}
        marked = self.api("PATCH", f"/dags/{dag_of(failed)}/dagRuns/~/taskInstances", json=body)
        self.notes.setdefault("marked", {})[dag_of(failed)] = marked.get("update")
        return {run: (jobs[run], time.monotonic()) for run, _ in marks}

    def wait_for_stops(self, acted: dict[str, tuple[str, float]], what: str) -> dict[str, float]:
        """Wait (up to STOP_BOUND s) for the stop calls of the jobs ``acted`` on: run -> seconds it took."""
        stopped_after: dict[str, float] = {}

        def all_stopped() -> bool:
            calls = self.sagemaker.stop_calls()
            for run, (job, when) in acted.items():
                if run not in stopped_after and job in calls:
                    stopped_after[run] = round(time.monotonic() - when, 1)
            return len(stopped_after) == len(acted)

        self.wait(all_stopped, STOP_BOUND, what)
        self.notes.setdefault("acted on", {}).update({run: job for run, (job, _) in acted.items()})
        self.notes.setdefault("stopped after", {}).update(stopped_after)
        return stopped_after

    def mark_and_clear(self) -> None:
        """Mark one deferred task failed and one success, clear a third; wait for their jobs' stop calls."""
        acted = self.mark_both(MARKED_FAILED, MARKED_SUCCESS)
        job = self.jobs(CLEARED)[-1]
        body = {"dry_run": False, "dag_run_id": CLEARED, "task_ids": [TASK], "only_failed": False}
        self.notes["cleared"] = [
            ti["task_id"] for ti in self.api("POST", f"/dags/{DAG}/clearTaskInstances", json=body)["task_instances"]
        ]
        acted[CLEARED] = (job, time.monotonic())
        self.mark("marked and cleared")
        self.wait_for_stops(acted, "the stop calls of the marked and cleared tasks' jobs")

    def mark_on_a_cold_triggerer(self) -> None:
        """SIGKILL both triggerers and start a fresh one: it runs only the quiet runs' triggers, which never ask
        its supervisor anything; mark both tasks at once: the first on_kill calls of that triggerer process."""
        held = self.deferred_triggers()
        self.notes["deferred before the cold triggerer"] = sorted(held)  # the quiet runs only
        for name in ("triggerer", "triggerer-2"):
            if self.stack.running(name):
                self.stack.kill_component(name)
        self.stack.start_component("triggerer")
        self.wait_taken_over(held, "a fresh triggerer to poll the quiet jobs")
        self.mark("cold triggerer polls the quiet jobs")
        acted = self.mark_both(COLD_MARKED_FAILED, COLD_MARKED_SUCCESS)
        self.mark("quiet runs marked")
        self.wait_for_stops(acted, "the stop calls of the quiet marked tasks' jobs")

    def deferred_triggers(self) -> dict[str, int | None]:
        """run -> the triggerer job id holding its trigger, for the tasks deferred now."""
        return {
            run: (ti.get("trigger") or {}).get("triggerer_id")
            for run, ti in self.poll().items()
            if ti["state"] == "deferred"
        }

    def kill_triggerer(self) -> None:
        """SIGKILL the triggerer with every process it started; start it again 3 s later; wait for the takeover."""
        held = self.deferred_triggers()
        self.stack.kill_component("triggerer")
        self.mark("triggerer killed")
        time.sleep(3)
        self.stack.start_component("triggerer")
        self.wait_taken_over(held, "the restarted triggerer to poll the jobs")
        self.mark("triggers taken over")
        self.notes["deferred at triggerer kill"] = sorted(held)

    def wait_taken_over(self, held: dict[str, int | None], what: str) -> None:
        """Wait until another triggerer than the ones in ``held`` holds each trigger, and has read its job since."""
        old = set(held.values())
        reads = {run: self.sagemaker.meter.reads(self.jobs(run)[-1]) for run in held}

        def taken_over() -> bool:
            for run in held:
                ti = self._tis[run]
                holder = (ti.get("trigger") or {}).get("triggerer_id")
                if ti["state"] == "deferred" and (
                    holder is None or holder in old or self.sagemaker.meter.reads(self.jobs(run)[-1]) <= reads[run]
                ):
                    return False
            return True

        self.wait(taken_over, TRIGGERER_HEALTH_CHECK_THRESHOLD + 90, what)

    def move_triggers(self) -> None:
        """Freeze the triggerer past its health threshold, let a second one take its triggers, thaw it: it drops
        them as a user's action and calls on_kill, with their tasks still deferred (apache/airflow#73454)."""
        held = self.deferred_triggers()
        frozen = {t for t in held.values() if t is not None}
        before = {run: self.log_counts(run) for run in held}
        self.stack.signal_component("triggerer", signal.SIGSTOP)
        self.mark("triggerer frozen")
        try:
            self.stack.start_component("triggerer-2", "triggerer")

            def moved() -> bool:
                now = {run: (self._tis[run].get("trigger") or {}).get("triggerer_id") for run in held}
                return all(t is not None and t not in frozen for t in now.values())

            self.wait(moved, TRIGGERER_HEALTH_CHECK_THRESHOLD + 90, "the second triggerer to take the triggers over")
            self.mark("triggers moved")
        finally:
            self.stack.signal_component("triggerer", signal.SIGCONT)
        self.notes["deferred at freeze"] = sorted(held)

        def new_lines() -> dict[str, dict[str, int]]:
            return {run: {line: n - before[run][line] for line, n in self.log_counts(run).items()} for run in held}

        def dropped() -> bool:  # each moved trigger's old instance was cancelled and ended
            return all(c[USER_ACTION_CANCEL] >= 1 and c[TRIGGER_ENDED] >= 1 for c in new_lines().values())

        self.wait(dropped, 60, "the thawed triggerer to drop its moved triggers (on_kill)")
        self.mark("thawed triggerer dropped them")
        self.notes["on thaw"] = new_lines()

    def log_counts(self, run: str) -> dict[str, int]:
        """How often the on_kill lines are in ``run``'s task logs so far."""
        text = self.trigger_logs(run)
        return {line: text.count(line) for line in (USER_ACTION_CANCEL, TRIGGER_ENDED, GUARD_KEPT, ON_KILL_TIMEOUT)}

    def trigger_logs(self, run: str) -> str:
        """Every log file of ``run``'s task (worker and triggerer parts), as written so far."""
        folder = self.stack.home / "logs" / f"dag_id={dag_of(run)}" / f"run_id={run}"
        return "\n".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file())

    def finish_under_wandb_faults(self) -> None:
        """End the W&B-fault runs' jobs while a third of W&B's run reads and summary writes fail."""
        self.wait(lambda: all(self.settled(r) for r in WANDB_FAULTS), 120, "the W&B-fault runs to settle deferred")
        before = {op: self.wandb.operations().count(op) for op in WANDB_READS}
        pump = FaultPump(
            WANDB_READS,
            lambda op: self.wandb.operations().count(op),
            lambda op, status: self.wandb.fail_next(op, 1, status),
        ).start()
        try:
            for run in WANDB_FAULTS:
                self.sagemaker.set_status(self.jobs(run)[-1], "Completed")
            self.mark("W&B faults on")
            self.wait(lambda: all(self.state(r) in TERMINAL for r in WANDB_FAULTS), 150, "the W&B-fault runs to end")
        finally:
            pump.stop()
            self.wandb.clear_faults()
        self.mark("W&B faults off")
        self.notes["wandb faults armed"] = dict(pump.armed)
        self.notes["wandb requests"] = {op: self.wandb.operations().count(op) - before[op] for op in WANDB_READS}

    def finish_the_rest(self) -> None:
        """End the remaining runs' current jobs once each task has settled deferred."""
        left = [WORKER_KILLED, *TRIGGERER_KILLED, CLEARED, *SAGEMAKER_FAULTS]
        done: set[str] = set()

        def finish_settled() -> bool:
            for run in left:
                if run not in done and self.settled(run):
                    self.sagemaker.set_status(self.jobs(run)[-1], "Completed")
                    done.add(run)
            return all(r in done or self.state(r) in TERMINAL for r in left)

        self.wait(finish_settled, 180, "the remaining runs to settle deferred")
        self.mark("rest finished")

    # -- the end ----------------------------------------------------------------------------------------------
    def collect(self) -> None:
        for run in ALL_RUNS:
            dag = dag_of(run)
            with contextlib.suppress(StackError):
                ti = self.stack.task_instance(dag, run, TASK)
                dag_run = self.stack.dag_run(dag, run)
                result = xcom_run_id = None
                with contextlib.suppress(StackError):
                    result = self.stack.xcom(dag, run, TASK)
                with contextlib.suppress(StackError):
                    xcom_run_id = self.stack.xcom(dag, run, TASK, "run_id")
                logs = {}
                for number in range(1, ti["try_number"] + 1):
                    with contextlib.suppress(StackError):
                        logs[number] = self.stack.task_log(dag, run, TASK, number)
                self.outcomes[run] = Outcome(dag_run["state"], ti, self.jobs(run), result, xcom_run_id, logs)

    def report(self, *runs: str) -> str:
        """What the timeline saw, for an assertion message."""
        lines = [f"timeline (s): {self.timings}", f"notes: {self.notes}", f"problems: {self.problems}"]
        lines.append(f"stop calls: {self.sagemaker.stop_calls()}")
        for run in runs:
            o = self.outcomes.get(run)
            if o is None:
                lines.append(f"{run}: not collected")
                continue
            lines.append(f"{run}: run {o.run_state}, task {o.state} after {o.tries} tries, jobs {o.jobs}")
            for number, text in o.logs.items():
                lines.append(f"--- {run} try {number} log (last 40 lines) ---")
                lines.extend(text.splitlines()[-40:])
        return "\n".join(lines)

    def teardown(self) -> None:
        """Leave the stack as the other e2e modules expect it: one triggerer, no run of this DAG going on."""
        with contextlib.suppress(Exception):
            self.stack.signal_component("triggerer", signal.SIGCONT)
        if self.stack.running("triggerer-2"):
            self.stack.stop_component("triggerer-2")
        if not self.stack.running("triggerer"):
            self.stack.start_component("triggerer")
        for dag in (DAG, QUIET_DAG):
            with contextlib.suppress(StackError):
                self.api("PATCH", f"/dags/{dag}", json={"is_paused": True})
        for run in ALL_RUNS:
            with contextlib.suppress(StackError):
                if self.stack.dag_run(dag_of(run), run)["state"] not in ("success", "failed"):
                    self.api("PATCH", f"/dags/{dag_of(run)}/dagRuns/{run}", json={"state": "failed"})


@pytest.fixture(scope="module")
def matrix(airflow_stack: AirflowStack, _sagemaker_server, wandb_server) -> Iterator[Matrix]:
    """The timeline, played once for the module's tests; what it saw is also written to fault_matrix.json in the
    stack's home (beside the components' logs)."""
    sm = _sagemaker_server
    sm.reset()
    wandb_server.clear_faults()
    container = TrainingContainer(wandb_server)
    sm.on_create.append(container)
    for dag in (DAG, QUIET_DAG):
        airflow_stack.wait_for_dag(dag)
        airflow_stack.unpause(dag)
    played = Matrix(airflow_stack, sm, wandb_server, container)
    try:
        try:
            played.play()
        finally:
            seen = {"timeline": played.timings, "notes": played.notes, "problems": played.problems}
            (airflow_stack.home / "fault_matrix.json").write_text(json.dumps(seen, indent=2, default=str))
        airflow_stack.timings["fault matrix"] = played.elapsed()
        yield played
    finally:
        played.teardown()
        wandb_server.clear_faults()
        sm.reset()


def result_of(m: Matrix, run: str, job: str) -> None:
    """The run's task returned ``job``'s result: its W&B run is the run id the job was given."""
    o = m.outcomes[run]
    env = m.sagemaker.create_request(job)["Environment"]
    assert o.result is not None, m.report(run)
    assert o.result["job_id"] == job and o.result["job_state"] == "succeeded", o.result
    assert o.result["run_state"] == "finished" and o.result["summary"] == m.container.summary, o.result
    assert o.result["run_path"].split("/")[-1] == env["WANDB_RUN_ID"] == o.xcom_run_id, (o.result, env)


def test_worker_killed_with_create_in_flight_retries_onto_the_same_job(matrix: Matrix):
    m, run = matrix, WORKER_KILLED
    kill = m.notes["worker kill"]
    # the kill hit the worker running the task, while SageMaker held its CreateTrainingJob unanswered
    assert kill["ti"]["state"] == "running" and kill["runner pid"] == kill["ti"]["pid"], kill
    assert kill["jobs at kill"] == [] and kill["creates at kill"] == 1, kill
    o = m.outcomes[run]
    assert (o.run_state, o.state, o.tries) == ("success", "success", 2), m.report(run)
    # the in-flight request made the one job; the retry resubmitted the recorded name and attached to it
    [job] = o.jobs
    assert m.tag(job, "AirflowTryNumber") == "1", m.sagemaker.create_request(job)
    assert "exists already; attaching to it" in o.logs[2], m.report(run)
    assert job not in m.sagemaker.stop_calls()
    result_of(m, run, job)


def unasked_stops(m: Matrix) -> set[str]:
    """Jobs stopped that no user asked to stop (not a marked task's, nor a cleared try's), but the W&B-fault runs'
    (a finding of their own: test_wandb_faults_while_reading_the_runs_fail_no_task)."""
    wandb_jobs = {job for run in WANDB_FAULTS for job in m.outcomes[run].jobs}
    return set(m.sagemaker.stop_calls()) - set(m.notes["acted on"].values()) - wandb_jobs


def test_triggerer_killed_and_restarted_stops_no_job(matrix: Matrix):
    """A SIGKILLed triggerer runs no on_kill; the restarted one takes its triggers over once its heartbeat is stale."""
    m = matrix
    held = m.notes["deferred at triggerer kill"]
    assert set(ALL_RUNS) - {MARKED_FAILED, MARKED_SUCCESS, CLEARED} <= set(held), m.report()  # all still deferred
    assert m.timings["triggers taken over"] - m.timings["triggerer killed"] < TRIGGERER_HEALTH_CHECK_THRESHOLD + 60
    assert not unasked_stops(m), m.report()
    for run in TRIGGERER_KILLED:
        o = m.outcomes[run]
        assert (o.run_state, o.state, o.tries) == ("success", "success", 1), m.report(run)
        [job] = o.jobs
        result_of(m, run, job)


def test_triggers_moved_off_a_frozen_triggerer_keep_their_jobs(matrix: Matrix):
    """The thawed triggerer cancels the triggers it lost "by user action" and calls their on_kill; the guard reads
    the tasks still deferred and keeps their jobs (apache/airflow#73454)."""
    m = matrix
    moved, on_thaw = m.notes["deferred at freeze"], m.notes["on thaw"]
    assert set(TRIGGERER_KILLED) <= set(moved), m.report()
    assert all(on_thaw[run][USER_ACTION_CANCEL] >= 1 for run in moved), on_thaw  # on_kill ran for each
    assert sum(on_thaw[run][GUARD_KEPT] for run in moved) >= 1, on_thaw  # the guard said "moving, keep it"
    assert not unasked_stops(m), m.report()
    for run in TRIGGERER_KILLED:
        assert m.outcomes[run].state == "success", m.report(run)


def test_marked_tasks_end_as_marked_without_another_job(matrix: Matrix):
    m = matrix
    for dag, marked in m.notes["marked"].items():
        assert not marked["errors"] and len(marked["success"]) == 2, (dag, marked)
    assert m.notes["deferred before the cold triggerer"] == sorted(QUIET), m.notes  # it ran only the quiet ones
    for run, state in (*MARKS, *COLD_MARKS):
        o = m.outcomes[run]
        assert o.jobs == [m.notes["acted on"][run]], m.report(run)
        assert (o.run_state, o.state, o.tries) == (state, state, 1), m.report(run)
        assert o.result is None  # the task did not run on: Airflow took the user's word


def test_marking_deferred_tasks_failed_and_success_stops_their_jobs(matrix: Matrix):
    """On a triggerer whose triggers stream logs (SageMaker's default): their log cursor reads have built the
    supervisor's in-process API before the marks, so the guard answers at once."""
    m = matrix
    stopped = m.notes["stopped after"]
    assert all(stopped.get(run, float("inf")) <= STOP_BOUND for run, _ in MARKS), m.report(MARKED_FAILED)


def test_marking_deferred_tasks_on_a_cold_triggerer_stops_their_jobs(matrix: Matrix):
    """The same marks on a fresh triggerer whose triggers stream no logs: both on_kill calls need the supervisor's
    first GetTaskStates."""
    m = matrix
    stopped = m.notes["stopped after"]
    assert all(stopped.get(run, float("inf")) <= STOP_BOUND for run, _ in COLD_MARKS), m.report(COLD_MARKED_FAILED)


def test_clearing_a_deferred_task_stops_its_job_and_trains_anew(matrix: Matrix):
    m, run = matrix, CLEARED
    o = m.outcomes[run]
    assert m.notes["cleared"] == [TASK]
    old, new = o.jobs  # exactly one more job: the new try's
    assert m.notes["acted on"][run] == old
    assert m.notes["stopped after"].get(run, float("inf")) <= STOP_BOUND, m.report(run)
    assert old in m.sagemaker.stop_calls() and new not in m.sagemaker.stop_calls()
    assert (o.run_state, o.state, o.tries) == ("success", "success", 2), m.report(run)
    assert o.ti["max_tries"] > 1  # a new try chain: the clear raised max_tries
    assert m.sagemaker.create_request(old)["Environment"]["WANDB_RUN_ID"] != o.xcom_run_id
    result_of(m, run, new)


def test_sagemaker_read_faults_fail_no_task(matrix: Matrix):
    m = matrix
    armed, requests = m.notes["sagemaker faults armed"], m.notes["sagemaker requests"]
    for op in SAGEMAKER_READS:  # about a third of the reads failed, all along the timeline
        assert armed[op] >= 3 and armed[op] * FAULT_EVERY >= requests[op] * 0.8, (armed, requests)
    for run in SAGEMAKER_FAULTS:
        o = m.outcomes[run]
        assert (o.run_state, o.state, o.tries) == ("success", "success", 1), m.report(run)
        [job] = o.jobs
        result_of(m, run, job)
    # and every run got exactly the jobs asked for: one each, the cleared one a second
    assert {r: len(m.outcomes[r].jobs) for r in ALL_RUNS} == {r: 2 if r == CLEARED else 1 for r in ALL_RUNS}


def test_wandb_faults_while_reading_the_runs_fail_no_task(matrix: Matrix):
    m = matrix
    assert m.notes["wandb faults armed"]["AirflowRunResult"] >= 1, m.notes
    for run in WANDB_FAULTS:
        o = m.outcomes[run]
        [job] = o.jobs  # exactly once, whatever happened
        assert job not in m.sagemaker.stop_calls(), m.report(run)
        assert (o.run_state, o.state, o.tries) == ("success", "success", 1), m.report(run)
        result_of(m, run, job)
