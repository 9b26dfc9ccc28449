"""One batched read per round for every trigger of one connection in a triggerer: the shared machinery.

Triggers register what they wait on (a key and the item to read) and await the next round. A round reads every
registered item in one batched call (``read``), hands each trigger its own answer (or the round's error), then
sleeps the shortest poll interval of its triggers; after a failed round the whole connection backs off, not each
item. The client a round reads with is built once, in a thread (never on the event loop), and rebuilt after
``CLIENT_TTL_SECONDS`` so that a connection edited in the UI is picked up.

Nothing here is serialized: a trigger that lands on another triggerer (or after a restart) simply registers there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from airflow_wandb_launch.triggers.polling import MAX_BACKOFF_EXPONENT

log = logging.getLogger(__name__)

#: how long one client serves a connection before it is rebuilt from the connection.
CLIENT_TTL_SECONDS = 600.0

Client = TypeVar("Client")
Item = TypeVar("Item")
Answer = TypeVar("Answer")


class BatchPoller(ABC, Generic[Client, Item, Answer]):
    """Reads every registered item of one connection, one batched call per round.

    :param label: what it reads, for the log (``sagemaker jobs``).
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._items: dict[str, Item] = {}
        self._intervals: dict[str, float] = {}
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._task: asyncio.Task | None = None
        self._client: Client | None = None
        self._built_at = 0.0
        self._errors = 0
        self.rounds = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    @abstractmethod
    def build_client(self) -> Client:
        """The connection's client (called in a thread: blocking credential and SDK set-up belong here)."""

    @abstractmethod
    async def read(self, client: Client, items: list[Item]) -> dict[str, Answer | BaseException]:
        """Every item's answer, by key, in as few calls as the service allows."""

    async def close_client(self, client: Client) -> None:
        """Release a client that is being replaced or dropped."""

    async def client(self) -> Client:
        """The connection's client, built in a thread and rebuilt after the TTL."""
        if self._client is None or time.monotonic() - self._built_at > CLIENT_TTL_SECONDS:
            old, self._client = self._client, await asyncio.to_thread(self.build_client)
            self._built_at = time.monotonic()
            if old is not None:
                await self.close_client(old)
        return self._client

    async def get(self, key: str, item: Item, poll_interval: float) -> Answer:
        """``item``'s answer from the next round; raises the round's error if that round failed for it."""
        self._items[key], self._intervals[key] = item, poll_interval
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"poller of {self.label}")
        return await future

    def forget(self, key: str) -> None:
        """A trigger is done with ``key`` (cleanup); kept while another trigger still waits on the same key."""
        if any(not future.done() for future in self._waiters.get(key, ())):
            return
        self._items.pop(key, None)
        self._intervals.pop(key, None)
        self._waiters.pop(key, None)

    async def _run(self) -> None:
        """Rounds while any trigger waits; the pause after a failed round grows for the whole connection."""
        while any(self._waiters.values()):  # ends when no trigger waits; the next one to ask starts it again
            started = time.monotonic()
            await self._round()
            interval = min(self._intervals.values(), default=0.0) * 2 ** min(self._errors, MAX_BACKOFF_EXPONENT)
            await asyncio.sleep(max(interval - (time.monotonic() - started), 0.0))  # rounds start on the interval

    async def _round(self) -> None:
        waiting = {key: futures for key, futures in self._waiters.items() if futures}
        if not waiting:
            return
        self._waiters = {key: [] for key in self._items}
        items = [self._items[key] for key in waiting if key in self._items]
        try:
            results = await self.read(await self.client(), items)
            self._errors = 0
        except Exception as err:  # the whole round failed (throttled, unreachable): back off, tell every waiter
            self._errors += 1
            log.warning("Reading %d %s failed (round %d): %s", len(items), self.label, self.rounds + 1, err)
            results = dict.fromkeys(waiting, err)
        self.rounds += 1  # rounds completed
        for key, futures in waiting.items():
            result = results.get(key, LookupError(f"{key} was not read"))
            for future in futures:
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def aclose(self) -> None:
        """Stop the rounds and release the client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._client is not None:
            await self.close_client(self._client)
            self._client = None


_POLLERS: dict[tuple[int, str], BatchPoller] = {}

P = TypeVar("P", bound=BatchPoller)


def shared_poller(kind: type[P], *args: Any) -> P:
    """The ``kind`` poller of one connection (``args``) in the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    for stale in [key for key, poller in _POLLERS.items() if poller.loop is None or poller.loop.is_closed()]:
        _POLLERS.pop(stale)  # its loop is gone, and with it what its client held
    key = (id(loop), json.dumps([kind.__qualname__, *args], sort_keys=True, default=str))
    poller = _POLLERS.get(key)
    if poller is None or poller.loop is not loop:
        poller = _POLLERS[key] = kind(*args)
        poller.loop = loop
    return poller  # type: ignore[return-value]


async def close_pollers() -> None:
    """Stop this event loop's pollers and release their clients (tests, shutdown)."""
    loop = asyncio.get_running_loop()
    for key, poller in list(_POLLERS.items()):
        if poller.loop is loop:
            await poller.aclose()
            del _POLLERS[key]
