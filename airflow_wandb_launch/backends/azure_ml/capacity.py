"""Which Azure ML failures another VM size, region or resource may fix (the operator's ``fallbacks``). Pure.

Azure ML keeps a failed job's error in Run History (``error.message``, the job's status message). A spent quota
reads "QuotaExceeded", "Subscription ... does not have enough quota for Standard_NC24ads_A100_v4" or "... exceeds
the quota ..."; no machines in the region "AllocationFailed", "ZonalAllocationFailed",
"OverconstrainedAllocationRequest" or "... not enough capacity ...". A create refused for quota carries the same
words. User errors (the script's exit code, an image that cannot be pulled, ``AuthorizationFailed``) never fall
back.
"""

from __future__ import annotations

import re

from airflow_wandb_launch.backends.base import CAPACITY, QUOTA
from airflow_wandb_launch.launch.job import JobState, JobStatus

#: (reason, pattern) tried on the error message, in order.
FAILURE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (QUOTA, re.compile(r"\bQuotaExceeded\b|\bquota exceeded\b", re.I)),
    (QUOTA, re.compile(r"\bexceed\w*\s+(the\s+)?(\w+\s+){0,3}quota\b", re.I)),
    (QUOTA, re.compile(r"(does not have|not) enough quota|\binsufficient (\w+\s+)?quota\b", re.I)),
    (CAPACITY, re.compile(r"\b(Zonal)?AllocationFailed\b|\bOverconstrainedAllocationRequest\b")),
    (CAPACITY, re.compile(r"\bnot (have )?(enough|sufficient) capacity\b|\binsufficient capacity\b", re.I)),
    (CAPACITY, re.compile(r"\bcapacity is not available\b", re.I)),
)
#: words of failures that are the job's own, whatever else the message says.
USER_ERRORS = re.compile(r"\bAuthorizationFailed\b|\bImagePull|\bexit(ed)? (with )?(exit )?code\b", re.I)


def is_capacity_failure(status: JobStatus) -> str | None:
    """The reason (``capacity``, ``quota``) an ended Azure ML job may fall back, or None.

    :param status: the job's last status (``states.job_status``: Run History's error as the message).
    """
    if not status.state.terminal or status.state is JobState.SUCCEEDED:
        return None
    return classify(status.message or "")


def classify(message: str) -> str | None:
    """The reason an Azure ML error message (a job's, or a refused create's) may fall back, or None."""
    if not message or USER_ERRORS.search(message):
        return None
    return next((reason for reason, pattern in FAILURE_PATTERNS if pattern.search(message)), None)
