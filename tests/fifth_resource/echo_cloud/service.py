"""The cloud itself: a process-wide job table, as a tiny API would keep it (dag.test() runs the task and the
trigger in this process). Tests script the next job's ``Lifecycle``, inject failing reads and watch stops.

A job's record gets each step's fields (``start_time``, ``end_time``, ``error``) as its lifecycle reaches it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.emulators.lifecycle import Lifecycle

HOUR = {"start_time": "2026-01-01T00:00:00+00:00", "end_time": "2026-01-01T01:00:00+00:00"}
#: a job's lifecycle unless one is scripted: running for one read, then done after an hour.
DEFAULT = Lifecycle(("RUNNING", 1), ("DONE", None, HOUR))

JOBS: dict[str, dict[str, Any]] = {}
SCRIPTS: deque[Lifecycle] = deque()
#: called with (job name, env) when a job is created: the "container" that logs the W&B run.
ON_CREATE: list[Callable[[str, dict[str, str]], None]] = []
STOP_CALLS: list[str] = []
_faults = {"reads": 0}
_lock = threading.Lock()


class EchoCloudError(RuntimeError):
    """What the echo API answers with a fault."""


def reset() -> None:
    with _lock:
        JOBS.clear()
        SCRIPTS.clear()
        ON_CREATE.clear()
        STOP_CALLS.clear()
        _faults["reads"] = 0


def script(*lifecycles: Lifecycle) -> None:
    """The next jobs' lifecycles, in creation order."""
    SCRIPTS.extend(lifecycles)


def fail_reads(times: int) -> None:
    """The next ``times`` status reads raise."""
    _faults["reads"] += times


def create(payload: dict[str, Any]) -> bool:
    """Create the job; False if one of that name exists (nothing created)."""
    name = payload["name"]
    with _lock:
        if name in JOBS:
            return False
        lifecycle = SCRIPTS.popleft() if SCRIPTS else DEFAULT.copy()
        JOBS[name] = {"payload": payload, "lifecycle": lifecycle, "state": "QUEUED", "reads": 0}
    for callback in ON_CREATE:
        callback(name, dict(payload["env"]))
    return True


def read(name: str) -> dict[str, Any]:
    """The job's record, its lifecycle advanced by one read."""
    with _lock:
        if _faults["reads"] > 0:
            _faults["reads"] -= 1
            raise EchoCloudError(f"injected read fault for {name}")
        job = JOBS[name]
        step = job["lifecycle"].read()
        job.update(step.fields, state=step.state, reads=job["reads"] + 1)
        return dict(job)


def stop(name: str) -> None:
    with _lock:
        STOP_CALLS.append(name)
        job = JOBS[name]
        if job["state"] not in ("DONE", "ERROR", "HALTED"):
            job["lifecycle"].stop("HALTING", "HALTED")
