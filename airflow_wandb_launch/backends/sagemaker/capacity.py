"""Which SageMaker failures another instance type, region or resource may fix (the operator's ``fallbacks``). Pure.

SageMaker words them in a training job's ``FailureReason`` (DescribeTrainingJob)::

    CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance type.
    ResourceLimitExceeded: The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances, ...

a managed spot job that waited past ``StoppingCondition.MaxWaitTimeInSeconds`` ends ``Stopped`` with
``SecondaryStatus: MaxWaitTimeExceeded`` (or says so in its ``FailureReason``), and CreateTrainingJob itself may
refuse a job with the error code ``ResourceLimitExceeded`` (a quota checked at submit). Everything else, above all
``AlgorithmError`` (the training code failed) and ``ClientError`` texts about the image, the data or the role, is
the job's own and never falls back.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_wandb_launch.backends.base import CAPACITY, QUOTA, SPOT_WAIT
from airflow_wandb_launch.cost.hardware import config_key
from airflow_wandb_launch.launch.job import JobState, JobStatus

#: FailureReason prefixes of failures that are the job's own, whatever else the text says.
USER_PREFIXES = ("AlgorithmError",)
#: (reason, pattern) in the order they are tried on a FailureReason.
FAILURE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (SPOT_WAIT, re.compile(r"MaxWaitTime(InSeconds)?\b.*\bexceed|exceed\w*\s+(the\s+)?\S*MaxWaitTime", re.I | re.S)),
    (SPOT_WAIT, re.compile(r"\bMaxWaitTimeExceeded\b")),
    (CAPACITY, re.compile(r"\b(Insufficient)?CapacityError\b")),
    (CAPACITY, re.compile(r"Unable to provision requested ML compute capacity", re.I)),
    (CAPACITY, re.compile(r"\binsufficient (instance |compute )?capacity\b", re.I)),
    (QUOTA, re.compile(r"\bResourceLimitExceeded\b")),
    (QUOTA, re.compile(r"account-level service limit", re.I)),
)
#: CreateTrainingJob error codes -> reason (the API refused the job before it existed).
REFUSAL_CODES = {
    "ResourceLimitExceeded": QUOTA,
    "CapacityError": CAPACITY,
    "InsufficientCapacityError": CAPACITY,
}
#: the SecondaryStatus of a spot job that waited past its limit.
SPOT_WAIT_SECONDARY = "MaxWaitTimeExceeded"


def is_capacity_failure(status: JobStatus) -> str | None:
    """The reason (``capacity``, ``quota``, ``spot-wait``) an ended SageMaker job may fall back, or None.

    :param status: the job's last status (``states.job_status``: ``FailureReason`` as the message,
        ``SecondaryStatus`` in the details).
    """
    if not status.state.terminal or status.state is JobState.SUCCEEDED:
        return None
    if status.details.get("SecondaryStatus") == SPOT_WAIT_SECONDARY:
        return SPOT_WAIT
    message = (status.message or "").strip()
    if not message or message.startswith(USER_PREFIXES):
        return None
    return next((reason for reason, pattern in FAILURE_PATTERNS if pattern.search(message)), None)


def refusal_reason(code: str | None, message: str | None = None) -> str | None:
    """The reason a refused CreateTrainingJob may fall back, from the AWS error code (and message), or None.

    :param code: the error's ``Error.Code`` (``ResourceLimitExceeded``, ``ValidationException``, ...).
    :param message: its message (a ``CapacityError`` may only say so there).
    """
    if code in REFUSAL_CODES:
        return REFUSAL_CODES[code]
    if code in (None, "", "ValidationException") and message and "CapacityError" in message:
        return CAPACITY
    return None


def error_code(error: BaseException) -> tuple[str | None, str]:
    """A botocore ``ClientError``'s code and message (``(None, str(error))`` for anything else)."""
    response = getattr(error, "response", None)
    details = response.get("Error", {}) if isinstance(response, dict) else {}
    return details.get("Code"), str(details.get("Message") or error)


def after_merge(merged: dict[str, Any], partial: dict[str, Any]) -> None:
    """Fix up a fallback's ``partial`` resource_args merged over the current ones, in place: one that turns managed
    spot off (``EnableManagedSpotTraining: false``) also drops the wait limit only spot allows, unless it sets one."""
    if partial.get(config_key(partial, "EnableManagedSpotTraining")) is not False:
        return
    wait = "MaxWaitTimeInSeconds"
    stopping_given = partial.get(config_key(partial, "StoppingCondition"))
    stopping_given = stopping_given if isinstance(stopping_given, dict) else {}
    if config_key(partial, wait) in partial or config_key(stopping_given, wait) in stopping_given:
        return
    merged.pop(config_key(merged, wait), None)
    stopping = merged.get(config_key(merged, "StoppingCondition"))
    if isinstance(stopping, dict):
        stopping.pop(config_key(stopping, wait), None)
