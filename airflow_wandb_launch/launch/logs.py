"""A job's log lines as a trigger tails them: one bounded chunk per poll, and where the next one starts. Pure.

A backend reads the lines its job wrote since a *cursor* (small and JSON-able: it travels in the trigger's
kwargs and its resume point) and returns a ``LogChunk``: the lines to show, the cursor after them, and how many
new lines it left out to keep within the per-poll budget. Lines left out are counted, never shown later: the
next chunk starts after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class LogsDenied(Exception):
    """The job's logs may not be read (a permission error): the trigger stops streaming them, the wait goes on."""


@dataclass(frozen=True)
class LogChunk:
    """The new log lines of one read.

    :param lines: what to show, oldest first, each prefixed by its instance or replica (``[algo-1] ...``).
    :param cursor: where the next read starts (JSON-able; the trigger keeps it and persists it).
    :param skipped: new lines left out (the oldest ones) to keep within the budget.
    :param supported: False when the backend cannot read its jobs' logs at all.
    """

    lines: list[str] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    skipped: int = 0
    supported: bool = True


@dataclass(frozen=True)
class LogRead:
    """One trigger's ask for its job's new lines.

    :param ref: the job.
    :param cursor: where its lines resume (None: from the job's start).
    :param limit: lines to show at most.
    :param final: the job ended: the last read.
    """

    ref: Any
    cursor: dict[str, Any] | None
    limit: int
    final: bool = False


def covered_until(last: int | None, complete: bool, settled: int) -> int | None:
    """Up to when a listing saw every line of what it listed (in the service's time unit): ``settled`` (now less
    how late a line may arrive) if it listed them all, else no later than its last line's time ``last``. Pure."""
    if complete:
        return settled
    return min(last, settled) if last is not None else None


def keep_tail(lines: Sequence[str], limit: int) -> tuple[list[str], int]:
    """The newest ``limit`` lines (the tail is what a follower wants: the job's latest state, its last error)
    and how many older ones that leaves out. ``limit <= 0`` keeps none. Pure."""
    limit = max(limit, 0)
    kept = list(lines[max(len(lines) - limit, 0) :]) if limit else []
    return kept, len(lines) - len(kept)


def skip_marker(skipped: int, limit: int) -> str:
    """The line that stands for the lines a poll left out. Pure."""
    noun = "line" if skipped == 1 else "lines"
    return f"… {skipped} {noun} skipped (max_log_lines_per_poll={limit})"


def prefixed_lines(prefix: str, message: str) -> list[str]:
    """One log event's message as prefixed lines: a multi-line event gives a line each; a blank event one
    line. Pure."""
    parts = message.rstrip("\r\n").splitlines() or [""]
    return [f"[{prefix}] {part}".rstrip() for part in parts]
