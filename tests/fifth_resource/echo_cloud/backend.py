"""``echo-cloud``: a job on Echo Cloud (the in-process ``service``). Building and states are pure."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_wandb_launch.backends.base import Backend
from airflow_wandb_launch.launch.job import JobRef, JobStatus
from airflow_wandb_launch.launch.pricing_inputs import Machine, PricingInputs
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import Args
from airflow_wandb_launch.launch.run import RunIdentity
from tests.fifth_resource.echo_cloud import RESOURCE, service
from tests.fifth_resource.echo_cloud.states import job_status

KEYS = frozenset({"machine", "count"})


class EchoCloudBackend(Backend):
    """Echo Cloud jobs.

    :param echo_conn_id: the (unused) connection id, as a real cloud has.
    :param region: where jobs run.
    """

    resource = RESOURCE
    aliases = ("echo",)
    connection_params: ClassVar = {"echo_conn_id": "echo_default", "region": "moon-1"}

    @property
    def region(self) -> str:
        return self.connection_args["region"]

    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        args = Args(RESOURCE, resource_args)
        args.only(KEYS)
        machine = args.get("machine", str, required=True)
        count = args.positive_int("count", required=False) or 1
        return {"name": request.job_name, "machine": machine, "count": count, "image": request.image, "env": env}

    def submit(self, payload: dict[str, Any], run: RunIdentity) -> JobRef:
        # False when a job of that name exists (this try submitted it before): attach to it.
        service.create(payload)
        pricing = PricingInputs(RESOURCE, self.region, False, (Machine(payload["machine"], payload["count"]),))
        return JobRef(RESOURCE, payload["name"], run, {"region": self.region}, pricing)

    def status(self, ref: JobRef) -> JobStatus:
        return job_status(service.read(ref.job_id))

    def cancel(self, ref: JobRef) -> None:
        service.stop(ref.job_id)

    def job_url(self, ref: JobRef) -> str | None:
        return f"https://console.echo.test/{ref.cloud.get('region', self.region)}/jobs/{ref.job_id}"

    def describe(self, ref: JobRef) -> str:
        return f"Echo Cloud job {ref.job_id} ({ref.cloud.get('region')})"
