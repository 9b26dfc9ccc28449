"""PollingTrigger: the one polling loop of the provider's triggers (and of non-deferrable waits, in-process).

It owns what every wait needs: an error budget with backoff, a deadline, a pending deadline, the ``on_kill``
guard against apache/airflow#73454, and serialization from declared fields. A subclass says what one read
is (``check``) and what to do when time runs out or the task is killed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_wandb_launch.triggers.kill_guard import task_still_deferred

#: consecutive failed reads tolerated before a wait gives up (transient API faults).
MAX_READ_ERRORS = 5
#: the longest back-off multiplier after failed reads (poll_interval x 2**4).
MAX_BACKOFF_EXPONENT = 4


class PollingTrigger(BaseTrigger):
    """Poll ``check()`` every ``poll_interval`` seconds until it returns an event payload.

    A failed read is logged and retried with exponential back-off; ``MAX_READ_ERRORS`` in a row end the wait
    with ``failure_payload``. Past ``deadline`` (epoch seconds) the wait ends with ``on_deadline()``; a read
    that left ``self.pending`` true for longer than ``pending_timeout`` seconds ends it with
    ``on_pending_timeout()``.

    :param poll_interval: seconds between reads.
    :param deadline: epoch seconds after which the wait ends (None: no deadline).
    :param pending_timeout: seconds a job may stay pending in a row (None: no limit).
    :param pending_since: epoch seconds the first pending stretch started (the submit time).
    :param cancel_on_kill: call ``stop()`` when a user kills the deferred task.
    """

    #: ``check`` itself waits for its next read (a shared poller's round): no sleep between checks.
    paced_by_reads: ClassVar[bool] = False
    #: the constructor's arguments, in order; ``serialize`` stores exactly these attributes.
    fields: ClassVar[tuple[str, ...]] = ()
    #: the loop's arguments a subclass uses (and serializes).
    polling_fields: ClassVar[tuple[str, ...]] = (
        "poll_interval",
        "deadline",
        "pending_timeout",
        "pending_since",
        "cancel_on_kill",
    )

    def __init__(
        self,
        *,
        poll_interval: float = 30,
        deadline: float | None = None,
        pending_timeout: float | None = None,
        pending_since: float | None = None,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.poll_interval, self.deadline, self.cancel_on_kill = poll_interval, deadline, cancel_on_kill
        self.pending_timeout, self.pending_since = pending_timeout, pending_since
        #: set by ``check``: the job is waiting to start (queued, no capacity, no agent yet).
        self.pending = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        names = (*self.fields, *self.polling_fields)
        return f"{type(self).__module__}.{type(self).__qualname__}", {name: getattr(self, name) for name in names}

    # -- what a subclass says ---------------------------------------------------------------------------------

    async def check(self) -> dict[str, Any] | None:
        """One read: the event payload when the wait is over, else None. Raise on a failed read."""
        raise NotImplementedError

    def failure_payload(self, message: str) -> dict[str, Any]:
        """The event payload when reads failed ``MAX_READ_ERRORS`` times in a row."""
        raise NotImplementedError

    async def on_deadline(self) -> dict[str, Any]:
        """The event payload once ``deadline`` passed (a job trigger stops the job first)."""
        return self.failure_payload("the wait passed its deadline")

    async def on_pending_timeout(self, seconds: float) -> dict[str, Any]:
        """The event payload once the job stayed pending ``seconds`` in a row."""
        return self.failure_payload(f"still pending after {seconds:g} s")

    async def stop(self) -> None:
        """Stop what the wait watches (called when a user kills the deferred task)."""

    def describe(self) -> str:
        """How log lines name what is waited on."""
        return type(self).__name__

    # -- the loop ---------------------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        errors = 0
        while True:
            try:
                payload = await self.check()
                errors = 0
            except Exception as err:
                errors += 1
                self.log.warning("Reading %s failed (%d/%d): %s", self.describe(), errors, MAX_READ_ERRORS, err)
                if errors >= MAX_READ_ERRORS:
                    yield TriggerEvent(self.failure_payload(f"reading it failed {errors} times in a row: {err}"))
                    return
                payload = None
            payload = payload or await self._out_of_time()
            if payload is not None:
                yield TriggerEvent(payload)
                return
            if not self.paced_by_reads:
                await asyncio.sleep(self._sleep_seconds(errors))
            elif errors:  # the poller backs the connection off; a job's own failed read waits its interval
                await asyncio.sleep(self._sleep_seconds(0))

    async def _out_of_time(self) -> dict[str, Any] | None:
        now = time.time()
        if self.deadline is not None and now >= self.deadline:
            return await self.on_deadline()
        if not self.pending:
            self.pending_since = None
            return None
        self.pending_since = self.pending_since or now
        if self.pending_timeout is not None and now - self.pending_since >= self.pending_timeout:
            return await self.on_pending_timeout(self.pending_timeout)
        return None

    def _sleep_seconds(self, errors: int) -> float:
        return min(self.poll_interval * 2 ** min(errors, MAX_BACKOFF_EXPONENT), self._time_left())

    def _time_left(self) -> float:
        """Seconds until the deadline or the pending deadline, whichever is first (inf without either)."""
        ends = [self.deadline] if self.deadline is not None else []
        if self.pending and self.pending_timeout is not None and self.pending_since is not None:
            ends.append(self.pending_since + self.pending_timeout)
        return min((max(end - time.time(), 0.0) for end in ends), default=float("inf"))

    # -- kill -------------------------------------------------------------------------------------------------

    async def on_kill(self) -> None:
        """Stop the job when a user marks the task failed/success or clears it (Airflow 3.3).

        The guard and the stop run as their own task, shielded: Airflow 3.3.2 cancels ``on_kill`` again with every
        state sync while it runs (and the guard's first read of the task's state can take many seconds in a cold
        triggerer), which would otherwise abort the stop half-way and leave the job running.
        """
        if not self.cancel_on_kill:
            return
        stopping = asyncio.get_running_loop().create_task(self._stop_unless_moving(), name=f"stop {self.describe()}")
        _STOPPING.add(stopping)  # a strong reference until it is done, even when this wait is cancelled
        stopping.add_done_callback(_STOPPING.discard)
        await asyncio.shield(stopping)

    def seen_ended(self) -> bool:
        """Whether this trigger saw its job end (then a kill has nothing to stop)."""
        return False

    async def _stop_unless_moving(self) -> None:
        if self.seen_ended():  # a trigger that fired, cancelled as its task goes on (or run again elsewhere)
            self.log.info("%s already ended: nothing to stop.", self.describe())
            return
        if await task_still_deferred(self.task_instance, self.log):
            self.log.info(
                "Task is still deferred: the trigger is moving, not killed; %s keeps running.", self.describe()
            )
            return
        self.log.info("Task killed: stopping %s.", self.describe())
        await self.stop()


#: stops begun by ``on_kill`` that must outlive its cancellation.
_STOPPING: set[asyncio.Task] = set()


def wait_in_process(trigger: PollingTrigger) -> dict[str, Any]:
    """Run ``trigger``'s loop in this process (a non-deferrable wait) and return its event's payload."""

    async def first_event() -> dict[str, Any]:
        from airflow_wandb_launch.triggers.batch_poller import close_pollers

        try:
            async for event in trigger.run():
                return event.payload
            raise RuntimeError(f"{trigger.describe()}: the wait ended without an event")
        finally:
            await trigger.cleanup()
            await close_pollers()  # this loop ends here: release the clients it built

    return asyncio.run(first_event())
