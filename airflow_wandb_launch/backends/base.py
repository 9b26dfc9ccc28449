"""The one interface every resource implements: build, submit, status, cancel."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from airflow_wandb_launch.request import LaunchRequest
from airflow_wandb_launch.results import JobRef, JobStatus


class Backend(ABC):
    """Runs launch requests on one resource.

    ``build`` is pure (no network): it validates ``resource_args`` and returns the cloud's own request.
    ``submit``/``status``/``cancel`` talk to the cloud; a backend keeps its client across calls.
    ``astatus``/``acancel`` are their event-loop-safe twins for the triggerer: by default the sync call
    runs in a thread with the same client.

    :param connection_args: connection ids and locations (never secrets): they are stored in trigger
        kwargs so the triggerer can build the same backend.
    """

    resource: ClassVar[str]
    #: W&B Launch's names for this resource, accepted as a wrapper key in ``resource_args``.
    aliases: ClassVar[tuple[str, ...]] = ()
    #: the pip extra that brings this resource's SDK.
    extra: ClassVar[str | None] = None
    #: connection arguments and their defaults, accepted by the operator.
    connection_params: ClassVar[Mapping[str, Any]] = {}
    #: runs inside the worker process (no deferral), streaming its output to the task log.
    runs_on_worker: ClassVar[bool] = False
    #: the cloud's limit on one environment variable's length, if any.
    max_env_value_length: ClassVar[int | None] = None

    def __init__(self, **connection_args: Any) -> None:
        unknown = set(connection_args) - set(self.connection_params)
        if unknown:
            raise TypeError(f"{self.resource}: unknown connection arguments {sorted(unknown)}")
        self.connection_args = {**self.connection_params, **connection_args}

    @abstractmethod
    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        """Validate ``resource_args`` and return the cloud request that runs ``request`` with ``env``."""

    @abstractmethod
    def submit(self, payload: dict[str, Any]) -> JobRef:
        """Submit a built request; return a reference to the job."""

    @abstractmethod
    def status(self, ref: JobRef) -> JobStatus:
        """Read the job's state once."""

    @abstractmethod
    def cancel(self, ref: JobRef) -> None:
        """Ask the cloud to stop the job (a no-op for a job that already ended)."""

    def job_url(self, ref: JobRef) -> str | None:
        """The job's page in the cloud console, if it has one."""
        return None

    async def astatus(self, ref: JobRef) -> JobStatus:
        return await asyncio.to_thread(self.status, ref)

    async def acancel(self, ref: JobRef) -> None:
        await asyncio.to_thread(self.cancel, ref)

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release clients (called when the trigger or task is done with the backend)."""
