"""Request and read counters every cloud emulator keeps, for load figures (``benchmarks/triggerer_scale.py``).

``Meter.request(operation)`` counts one request served (faulted ones too), by the cloud's operation name
(``DescribeTrainingJob``, ``GetCustomJob``, Azure ML's route ``job_get``...). ``Meter.read(*jobs)`` counts
one status read of each job: a get of that job, or a list that returned it. ``snapshot()`` is a consistent
copy, with the ``time.monotonic()`` of each job's first read (one clock for every process on the machine,
on Linux), and ``timeline(since)`` every request and read with its time, to count any window after the fact::

    before = emulator.meter.snapshot()
    ...
    served = Meter.diff(before, emulator.meter.snapshot())["requests"]
"""

from __future__ import annotations

import threading
import time
from typing import Any


class Meter:
    """Thread-safe counters of requests per operation and reads per job."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: dict[str, int] = {}
            self._reads: dict[str, int] = {}
            self._first_read: dict[str, float] = {}
            self._request_log: list[tuple[float, str]] = []
            self._read_log: list[tuple[float, str]] = []

    def request(self, operation: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._requests[operation] = self._requests.get(operation, 0) + 1
            self._request_log.append((now, operation))

    def read(self, *jobs: str) -> None:
        now = time.monotonic()
        with self._lock:
            for job in jobs:
                self._reads[job] = self._reads.get(job, 0) + 1
                self._first_read.setdefault(job, now)
                self._read_log.append((now, job))

    def requests(self) -> dict[str, int]:
        with self._lock:
            return dict(self._requests)

    def reads(self, job: str) -> int:
        with self._lock:
            return self._reads.get(job, 0)

    def jobs_read(self) -> int:
        """How many jobs have been read at least once."""
        with self._lock:
            return len(self._reads)

    def snapshot(self) -> dict[str, Any]:
        """``{"requests": {op: n}, "reads": {job: n}, "first_read": {job: monotonic}}``, copied under the lock."""
        with self._lock:
            return {
                "requests": dict(self._requests),
                "reads": dict(self._reads),
                "first_read": dict(self._first_read),
            }

    def timeline(self, since: float = 0.0) -> dict[str, list[tuple[float, str]]]:
        """``{"requests": [(monotonic, operation)], "reads": [(monotonic, job)]}`` from ``since`` on, in order."""
        with self._lock:
            return {
                "requests": [entry for entry in self._request_log if entry[0] >= since],
                "reads": [entry for entry in self._read_log if entry[0] >= since],
            }

    @staticmethod
    def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, int]]:
        """What was counted between two snapshots (operations and jobs with no change are left out)."""
        out: dict[str, dict[str, int]] = {}
        for key in ("requests", "reads"):
            old = before.get(key, {})
            out[key] = {k: n - old.get(k, 0) for k, n in after.get(key, {}).items() if n != old.get(k, 0)}
        return out
