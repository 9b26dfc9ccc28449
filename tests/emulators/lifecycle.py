"""Scripted job lifecycles and injectable faults, shared by every cloud emulator.

A ``Lifecycle`` is what a fake cloud reports for one job across successive status reads::

    Lifecycle(("Pending", 1), ("InProgress", 2), "Completed")

reports ``Pending`` on the first read, ``InProgress`` on the next two, then ``Completed`` forever.
A step given as a bare string holds forever. ``stop(states)`` replaces what is left with a
stopping state for one read, then the stopped state (what a cloud does after a cancel call).
Each step may carry fields the emulator copies onto the job (a failure reason, say).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    """One state, reported for ``reads`` status reads (``None``: for ever)."""

    state: str
    reads: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def _as_step(spec: Step | str | tuple) -> Step:
    if isinstance(spec, Step):
        return spec
    if isinstance(spec, str):
        return Step(spec)
    state, reads, *rest = spec
    return Step(state, reads, rest[0] if rest else {})


class Lifecycle:
    """A thread-safe script of states, advanced by one on every status read."""

    def __init__(self, *steps: Step | str | tuple) -> None:
        if not steps:
            raise ValueError("a lifecycle needs at least one step")
        self._steps = [_as_step(s) for s in steps]
        self._lock = threading.Lock()
        self._index = 0
        self._reads_in_step = 0
        self.reads = 0

    @property
    def current(self) -> Step:
        with self._lock:
            return self._steps[self._index]

    def read(self) -> Step:
        """Return the step to report now, and count the read."""
        with self._lock:
            step = self._steps[self._index]
            self.reads += 1
            self._reads_in_step += 1
            last = self._index == len(self._steps) - 1
            if not last and step.reads is not None and self._reads_in_step >= step.reads:
                self._index += 1
                self._reads_in_step = 0
            return step

    def copy(self) -> Lifecycle:
        """A fresh, unread lifecycle with the same steps (for giving each job its own)."""
        with self._lock:
            return Lifecycle(*[Step(s.state, s.reads, dict(s.fields)) for s in self._steps])

    def stop(self, stopping: str | None, stopped: str, **fields: Any) -> None:
        """Replace what is left with ``stopping`` for one read (if given), then ``stopped``."""
        with self._lock:
            tail = [Step(stopping, 1)] if stopping else []
            self._steps = [*tail, Step(stopped, None, fields)]
            self._index = 0
            self._reads_in_step = 0


class Faults:
    """HTTP faults to answer instead of the real response: ``inject(429, times=2)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[tuple[int, float, str | None]] = []
        self._lost: list[tuple[int, str]] = []
        self.served: list[int] = []

    def lose_response(self, method: str, status: int = 500, times: int = 1) -> None:
        """Serve the next ``times`` ``method`` requests for real, then answer ``status`` instead of the result:
        the request took effect but its caller never learns it (a worker killed with the call in flight)."""
        with self._lock:
            self._lost.extend([(status, method)] * times)

    def take_lost(self, method: str) -> int | None:
        """The status to answer instead of this served request's result, if its response is to be lost."""
        with self._lock:
            for i, (status, only) in enumerate(self._lost):
                if only == method:
                    del self._lost[i]
                    self.served.append(status)
                    return status
            return None

    def inject(self, status: int, times: int = 1, *, delay: float = 0.0, method: str | None = None) -> None:
        """Answer the next ``times`` requests (of ``method``, if given) with ``status`` after ``delay`` s.

        ``status=200`` with a delay makes a slow but correct answer.
        """
        with self._lock:
            self._queue.extend([(status, delay, method)] * times)

    def take(self, method: str) -> tuple[int, float] | None:
        """The fault to serve for this request, if one is queued for it."""
        with self._lock:
            for i, (status, delay, only) in enumerate(self._queue):
                if only is None or only == method:
                    del self._queue[i]
                    self.served.append(status)
                    return status, delay
            return None
