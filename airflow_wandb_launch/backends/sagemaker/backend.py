"""``sagemaker``: a SageMaker training job (CreateTrainingJob) through the Amazon provider's SageMakerHook.

The hook (and boto3) load on first use; building, states and pricing are pure (``request``, ``states``,
``pricing``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from airflow_wandb_launch.backends.base import Backend, NoBillableTime
from airflow_wandb_launch.backends.sagemaker import RESOURCE, capacity
from airflow_wandb_launch.backends.sagemaker.batch import (
    CREATED_AT,
    is_denied,
    list_summaries,
    listing_start,
    needs_describe,
)
from airflow_wandb_launch.backends.sagemaker.logs import JobLogs, ListingAllowance, read_log_chunk, read_log_chunks
from airflow_wandb_launch.backends.sagemaker.pricing import pricing_inputs
from airflow_wandb_launch.backends.sagemaker.request import MAX_ENV_VALUE, build_training_job
from airflow_wandb_launch.backends.sagemaker.states import ENDED, job_status
from airflow_wandb_launch.errors import MissingExtraError
from airflow_wandb_launch.launch.job import JobRef, JobStatus
from airflow_wandb_launch.launch.logs import LogChunk, LogRead
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity

log = logging.getLogger(__name__)


class SageMakerBackend(Backend):
    """SageMaker training jobs.

    :param aws_conn_id: Airflow AWS connection id (``extra.endpoint_url`` points it elsewhere).
    :param region_name: AWS region; default from the connection.
    """

    resource = RESOURCE
    aliases = ("sagemaker",)
    extra = "amazon"
    connection_params: ClassVar = {"aws_conn_id": "aws_default", "region_name": None}
    max_env_value_length = MAX_ENV_VALUE
    streams_logs = True
    batches_log_reads = True  # CloudWatch Logs rations reads per account and region: one call reads many jobs

    def __init__(self, **connection_args: Any) -> None:
        super().__init__(**connection_args)
        self._hook: Any = None
        self._may_list = True
        self._logs: Any = None
        self._logs_lock = threading.Lock()
        self._listings = ListingAllowance()  # the connection's DescribeLogStreams calls

    @property
    def hook(self) -> Any:
        if self._hook is None:
            try:
                from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
            except ImportError as err:
                raise MissingExtraError(RESOURCE, "amazon", err) from err
            self._hook = SageMakerHook(
                aws_conn_id=self.connection_args["aws_conn_id"], region_name=self.connection_args["region_name"]
            )
        return self._hook

    def prepare_client(self) -> None:
        self.hook.conn  # noqa: B018 - the boto3 client (and the connection read) built now, in the caller's thread

    @property
    def logs_client(self) -> Any:
        """The connection's CloudWatch Logs client (the Amazon provider's AwsLogsHook), built on first use: the
        triggerer builds it in a thread, once per backend, so every trigger of the connection shares it."""
        with self._logs_lock:
            if self._logs is None:
                from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

                hook = AwsLogsHook(
                    aws_conn_id=self.connection_args["aws_conn_id"], region_name=self.connection_args["region_name"]
                )
                self._logs = hook.conn
            return self._logs

    @property
    def region(self) -> str:
        return self.connection_args["region_name"] or self.hook.conn_region_name

    @classmethod
    def request_lineage(cls, payload: dict[str, Any]) -> Any:
        from airflow_wandb_launch.backends.sagemaker.lineage import sagemaker_datasets

        return sagemaker_datasets(payload)

    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        return build_training_job(request, resource_args, env)

    def submit(self, payload: dict[str, Any], run: RunIdentity) -> JobRef:
        payload = dict(payload)
        payload["RoleArn"] = self._role_arn(payload["RoleArn"])
        name = payload["TrainingJobName"]
        client = self.hook.conn
        try:
            self.hook.create_training_job(payload, wait_for_completion=False, print_log=False)
        except client.exceptions.ResourceInUse:
            # The same try submitted it before (a re-executed try): reattach rather than fail.
            self.hook.log.info("Training job %s exists already; attaching to it.", name)
        where = {"region": self.region, CREATED_AT: time.time()}
        return JobRef(RESOURCE, name, run, where, pricing_inputs(payload, self.region))

    def planned_job_id(self, payload: dict[str, Any]) -> str:
        """SageMaker jobs are named by the caller: a submit of the same name attaches to the existing job."""
        return payload["TrainingJobName"]

    def _role_arn(self, role: str) -> str:
        """A bare role name becomes an ARN in the connection's account, as W&B Launch does."""
        if role.startswith("arn:"):
            return role
        identity = self.hook.get_session().client("sts", endpoint_url=self.hook.conn_config.endpoint_url)
        account = identity.get_caller_identity()["Account"]
        return f"arn:aws:iam::{account}:role/{role}"

    def status(self, ref: JobRef) -> JobStatus:
        return job_status(self.hook.conn.describe_training_job(TrainingJobName=ref.job_id))

    async def astatus_many(self, refs: list[JobRef]) -> dict[str, JobStatus | BaseException]:
        """ListTrainingJobs pages for the jobs created since the oldest one, Describe only for those not listed;
        job by job if the caller's policy forbids listing."""
        since = listing_start(refs)
        if not self._may_list or since is None:
            return await super().astatus_many(refs)
        try:
            listed, _ = await asyncio.to_thread(list_summaries, self.hook.conn, since, {r.job_id for r in refs})
        except Exception as err:
            if not is_denied(err):
                raise
            log.warning("ListTrainingJobs is denied (%s): reading each job with DescribeTrainingJob instead.", err)
            self._may_list = False
            return await super().astatus_many(refs)
        described = await super().astatus_many(needs_describe(refs, listed))
        return {**listed, **described}

    def log_lines(self, ref: JobRef, cursor: dict[str, Any] | None, limit: int, *, final: bool = False) -> LogChunk:
        """The job's CloudWatch lines since ``cursor``, prefixed by instance (``[algo-1] ...``); see ``logs``."""
        expected = ref.pricing.machine_count if ref.pricing else None
        return read_log_chunk(
            self.logs_client, ref.job_id, cursor, limit, expected_streams=expected, now=time.time(), final=final
        )

    async def alog_many(self, reads: list[LogRead]) -> dict[str, LogChunk | BaseException]:
        """Many jobs' lines in a thread: their streams listed where needed, then ``FilterLogEvents`` calls of up to
        100 streams each (see ``logs``); a failed read fails every job of it."""

        def job(one: LogRead) -> JobLogs:
            pricing = one.ref.pricing
            expected, spot = (pricing.machine_count, pricing.spot) if pricing else (None, True)
            return JobLogs(one.ref.job_id, one.cursor, one.limit, expected, one.final, spot)

        jobs = [job(one) for one in reads]
        async with self.log_read_slots():
            try:
                return await asyncio.to_thread(
                    read_log_chunks, self.logs_client, jobs, now=time.time(), allowance=self._listings
                )
            except Exception as err:
                return dict.fromkeys((job.job_name for job in jobs), err)

    def final_status(self, ref: JobRef, status: JobStatus) -> JobStatus:
        """A listed end lacks FailureReason and BillableTimeInSeconds: one Describe, on the worker."""
        if not status.state.terminal or status.cloud_state not in ENDED or "BillableTimeInSeconds" in status.details:
            return status  # not a listed end (a deadline, a read budget spent): nothing to add
        described = self.status(ref)
        if described.cloud_state == status.cloud_state:
            return described  # the same end, with SecondaryStatus (a timeout), FailureReason and billable time
        return replace(status, message=status.message or described.message, details=described.details)

    def cancel(self, ref: JobRef) -> None:
        client = self.hook.conn
        try:
            client.stop_training_job(TrainingJobName=ref.job_id)
        except client.exceptions.ClientError as err:
            # Stopping a job that already ended is not an error worth failing a kill over.
            if err.response.get("Error", {}).get("Code") != "ValidationException":
                raise

    @classmethod
    def billable_seconds(cls, details: Mapping[str, Any]) -> float:
        """``BillableTimeInSeconds``: already net of managed spot's saving (so billed at the on-demand rate)."""
        seconds = details.get("BillableTimeInSeconds")
        if seconds is None:
            raise NoBillableTime("SageMaker reported no BillableTimeInSeconds")
        return float(seconds)

    def fallback_reason(self, status: JobStatus) -> str | None:
        """A capacity, quota or spot-wait failure (``FailureReason``, ``SecondaryStatus``): see ``capacity``."""
        return capacity.is_capacity_failure(status)

    def refusal_reason(self, error: BaseException) -> str | None:
        """CreateTrainingJob refused with ``ResourceLimitExceeded`` (a quota) or a capacity error."""
        return capacity.refusal_reason(*capacity.error_code(error))

    def job_url(self, ref: JobRef) -> str | None:
        region = ref.cloud.get("region") or self.region
        return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{ref.job_id}"
