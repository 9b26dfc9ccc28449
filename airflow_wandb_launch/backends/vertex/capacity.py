"""Which Vertex AI failures another machine, region or resource may fix (the operator's ``fallbacks``). Pure.

A CustomJob that ended ``JOB_STATE_FAILED`` carries a ``google.rpc.Status`` in ``error``: code 8
(``RESOURCE_EXHAUSTED``) when the region or zone had no machines (a stockout: "The zone 'us-central1-a' does not
have enough resources available to fulfill the request.", ``ZONE_RESOURCE_POOL_EXHAUSTED``, "Resources are
insufficient in region") or a quota was spent ("The following quota metrics exceed quota limits:
aiplatform.googleapis.com/custom_model_training_nvidia_a100_gpus"). CreateCustomJob itself may answer 429
``RESOURCE_EXHAUSTED`` for a spent quota. Failures of the job's own (code 13 "The replica workerpool0-0 exited with a
non-zero status of 1", 3 ``INVALID_ARGUMENT``, 7 ``PERMISSION_DENIED``) never fall back.
"""

from __future__ import annotations

import re

from airflow_wandb_launch.backends.base import CAPACITY, QUOTA, SPOT_WAIT
from airflow_wandb_launch.launch.job import JobState, JobStatus

#: google.rpc.Code RESOURCE_EXHAUSTED.
RESOURCE_EXHAUSTED = 8
#: codes that are the caller's own doing, whatever the message says: INVALID_ARGUMENT, NOT_FOUND,
#: PERMISSION_DENIED, UNAUTHENTICATED.
USER_CODES = frozenset({3, 5, 7, 16})
_QUOTA = re.compile(r"\bquota\b", re.I)
_THROTTLE = re.compile(r"\brequests?\b.*\bper\b|\brate limit", re.I)
#: (reason, pattern) tried on the error message, in order.
FAILURE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (SPOT_WAIT, re.compile(r"max_wait_duration|maxWaitDuration", re.I)),
    (QUOTA, re.compile(r"quota metrics? exceed|exceed\w* quota|quota exceeded", re.I)),
    (CAPACITY, re.compile(r"does not have enough resources available", re.I)),
    (CAPACITY, re.compile(r"\b\w*RESOURCE_POOL_EXHAUSTED\b|\bstockout\b", re.I)),
    (CAPACITY, re.compile(r"resources? (are|is) insufficient|insufficient resources", re.I)),
)


def is_capacity_failure(status: JobStatus) -> str | None:
    """The reason (``capacity``, ``quota``, ``spot-wait``) an ended CustomJob may fall back, or None.

    :param status: the job's last status (``states.job_status``: ``error.message`` as the message,
        ``error.code`` as ``details.error_code``).
    """
    if not status.state.terminal or status.state is JobState.SUCCEEDED:
        return None
    code, message = status.details.get("error_code"), status.message or ""
    if code in USER_CODES:
        return None
    found = next((reason for reason, pattern in FAILURE_PATTERNS if pattern.search(message)), None)
    if found is None and code == RESOURCE_EXHAUSTED:
        return QUOTA if _QUOTA.search(message) else CAPACITY
    return found


def refusal_reason(status_name: str | None, message: str) -> str | None:
    """The reason a refused CreateCustomJob may fall back, or None.

    :param status_name: the error's RPC status (``RESOURCE_EXHAUSTED``), if known.
    :param message: its message.
    """
    if status_name != "RESOURCE_EXHAUSTED" or _THROTTLE.search(message):
        return None  # not RESOURCE_EXHAUSTED, or a quota on API requests (a throttle: retried, not fallen back)
    if _QUOTA.search(message):
        return QUOTA
    return next((reason for reason, pattern in FAILURE_PATTERNS if pattern.search(message)), None)  # not a throttle


def error_status(error: BaseException) -> tuple[str | None, str]:
    """A google.api_core error's RPC status name and message, looking through a ``RetryError`` to its cause."""
    seen = 0
    while error is not None and seen < 5:
        code = getattr(error, "grpc_status_code", None)
        if code is not None:
            return getattr(code, "name", str(code)), str(getattr(error, "message", None) or error)
        if getattr(error, "code", None) == 429 and type(error).__name__ in ("ResourceExhausted", "TooManyRequests"):
            return "RESOURCE_EXHAUSTED", str(getattr(error, "message", None) or error)
        error = getattr(error, "cause", None) or error.__cause__  # type: ignore[assignment]
        seen += 1
    return None, ""
