"""The ``aiplatform_v1`` JobService clients' module and call settings, loaded lazily.

Importing ``google.cloud.aiplatform`` costs ~10 s, so only ``aiplatform_v1`` is imported, and only when a job runs.
"""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.backends.vertex import RESOURCE
from airflow_wandb_launch.errors import MissingExtraError

DEFAULT_ENDPOINT = "{region}-aiplatform.googleapis.com"
#: seconds one API call may take before it is abandoned (a hung endpoint must not hang the task).
CALL_TIMEOUT = 60.0
#: back-off of sync calls over transient faults (the sync REST client does not retry by itself).
RETRY_INITIAL, RETRY_MAXIMUM, RETRY_DEADLINE = 0.5, 8.0, 60.0


def aiplatform_v1() -> Any:
    """``google.cloud.aiplatform_v1``, imported on first use."""
    try:
        from google.cloud import aiplatform_v1
    except ImportError as err:
        raise MissingExtraError(RESOURCE, "google", err) from err
    return aiplatform_v1


def as_dict(custom_job: Any) -> dict[str, Any]:
    """A CustomJob message as a snake_case dict with enum names."""
    return type(custom_job).to_dict(custom_job, use_integers_for_enums=False)


def retry_on(*errors: type[BaseException]) -> Any:
    """Exponential back-off over ``errors``, within RETRY_DEADLINE."""
    from google.api_core.retry import Retry, if_exception_type

    return Retry(
        predicate=if_exception_type(*errors),
        initial=RETRY_INITIAL,
        maximum=RETRY_MAXIMUM,
        multiplier=2.0,
        timeout=RETRY_DEADLINE,
    )


def read_retry() -> Any:
    """Idempotent calls ride over 429/500/503 and dropped connections."""
    import requests
    from google.api_core import exceptions

    return retry_on(
        exceptions.TooManyRequests,
        exceptions.InternalServerError,
        exceptions.ServiceUnavailable,
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
    )
