"""SageMaker training jobs on loopback: moto's ``ThreadedMotoServer`` with scripted lifecycles.

moto answers every SageMaker and S3 call; while the emulator runs, a few ``SageMakerResponse``
handlers are patched (in this process, so callers in other processes see the same script):

* ``CreateTrainingJob`` records the JSON body as received and gives the job a ``Lifecycle``
  (a named script, else the next queued script, else a copy of ``default_lifecycle``);
  a second job with the same name is refused with ``ResourceInUse``, as on AWS.
* ``DescribeTrainingJob`` advances that lifecycle by one read and reports its step (an ended job with its
  ``TrainingTimeInSeconds`` and ``BillableTimeInSeconds``, which a step's fields may script).
* ``ListTrainingJobs`` answers as moto does, and counts as one read of each job it returns: those lifecycles
  advance one step, as a Describe would (``set_status`` jobs stay where they were set).
* ``StopTrainingJob`` (missing from moto) is recorded and turns the job Stopping, then Stopped.
* ``set_status(name, "Completed")`` / ``finish_all()`` end jobs at once, for Describe and List alike.
* Failures a fallback may fix, worded as SageMaker words them: ``capacity_failure()`` (a job that fails with
  :data:`CAPACITY_FAILURE`), ``quota_failure()`` (:data:`QUOTA_FAILURE`), ``spot_wait_exceeded()`` (a managed spot
  job ``Stopped`` with ``SecondaryStatus: MaxWaitTimeExceeded``); ``refuse_create()`` makes the next
  CreateTrainingJob fail with ``ResourceLimitExceeded`` (the quota checked at submit), creating nothing.
* ``meter`` counts requests per operation and reads per job (a Describe, or a List that returned it).
* ``faults`` are served before moto sees the call; ``Faults.inject(..., method=...)`` takes the
  operation name (``"DescribeTrainingJob"``), not the HTTP method (always POST here).
* CloudWatch Logs (a training job's output) is moto's own, at the same endpoint: ``write_logs`` writes a job's
  instance stream in ``/aws/sagemaker/TrainingJobs`` as SageMaker does; ``logs_faults`` (a ``Faults`` of their
  own, so that SageMaker faults never land on a log read) answer ``DescribeLogStreams``/``GetLogEvents``
  instead of moto (403: ``AccessDeniedException``), and ``meter`` counts those requests too::

    with SageMakerEmulator() as sm:
        sm.script(Lifecycle(("InProgress", 2), ("Failed", None, {"FailureReason": "OOM"})))
        sm.faults.inject(500, method="DescribeTrainingJob")
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult, BaseResponse, EmptyResult
from moto.logs.models import logs_backends
from moto.logs.responses import LogsResponse
from moto.sagemaker.exceptions import ResourceInUseException, SagemakerClientError, ValidationError
from moto.sagemaker.models import FakeTrainingJob, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.server import ThreadedMotoServer

from tests.emulators.lifecycle import Faults, Lifecycle, Step
from tests.emulators.metering import Meter

TERMINAL = {"Completed", "Failed", "Stopped"}
# TrainingJobStatus -> the SecondaryStatus AWS reports with it.
SECONDARY = {
    "InProgress": "Training",
    "Completed": "Completed",
    "Failed": "Failed",
    "Stopping": "Stopping",
    "Stopped": "Stopped",
}
# HTTP status of an injected fault -> AWS JSON error code (botocore retries these).
ERROR_CODES = {
    400: "ThrottlingException",
    403: "AccessDeniedException",  # a policy without the action (sagemaker:ListTrainingJobs, say)
    429: "ThrottlingException",
    500: "InternalFailure",
    503: "ServiceUnavailable",
}
DEFAULT_FAILURE = "AlgorithmError: scripted failure"
#: DescribeTrainingJob's FailureReason when SageMaker had no instances of the type (the service's own words).
CAPACITY_FAILURE = (
    "CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance type."
)
#: ... when the account's quota for the instance type is spent.
QUOTA_FAILURE = (
    "ResourceLimitExceeded: The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances, "
    "with current utilization of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to "
    "request an increase for this quota. If AWS Service Quotas is not available, contact AWS support to request an "
    "increase for this quota."
)
#: CreateTrainingJob's refusal of a job past the account's quota (``refuse_create``).
QUOTA_REFUSAL = (
    "The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances, with current "
    "utilization of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to request an "
    "increase for this quota."
)


def capacity_failure(starting_reads: int = 1, **fields: Any) -> Lifecycle:
    """A job that is Starting for ``starting_reads`` reads, then fails for capacity (``fields`` on its end)."""
    end = {"FailureReason": CAPACITY_FAILURE, "SecondaryStatus": "Failed", **fields}
    return Lifecycle(("InProgress", starting_reads, {"SecondaryStatus": "Starting"}), ("Failed", None, end))


def quota_failure(starting_reads: int = 1, **fields: Any) -> Lifecycle:
    """A job that fails for the account's quota of its instance type."""
    end = {"FailureReason": QUOTA_FAILURE, "SecondaryStatus": "Failed", **fields}
    return Lifecycle(("InProgress", starting_reads, {"SecondaryStatus": "Starting"}), ("Failed", None, end))


def spot_wait_exceeded(waiting_reads: int = 1, **fields: Any) -> Lifecycle:
    """A managed spot job that waited for spot capacity past StoppingCondition.MaxWaitTimeInSeconds: Stopped,
    SecondaryStatus MaxWaitTimeExceeded (no training time billed)."""
    end = {"SecondaryStatus": "MaxWaitTimeExceeded", "BillableTimeInSeconds": 0, **fields}
    return Lifecycle(("InProgress", waiting_reads, {"SecondaryStatus": "Starting"}), ("Stopped", None, end))


class ResourceLimitExceeded(SagemakerClientError):
    """CreateTrainingJob's error for a job past the account's quota."""

    code = "ResourceLimitExceeded"


#: where SageMaker writes its training jobs' output, one stream per instance start.
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"

_active: SageMakerEmulator | None = None  # the patches are class-wide: one emulator per process


def _fault_response(status: int, operation: str) -> tuple[int, dict[str, str], str]:
    code = ERROR_CODES.get(status, "InternalFailure" if status >= 500 else "ValidationException")
    body = {"__type": code, "message": f"Injected fault {status} for {operation}"}
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}
    return status, headers, json.dumps(body)


class SageMakerEmulator:
    """moto's server on 127.0.0.1, with scripted training-job lifecycles and faults."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.account_id = DEFAULT_ACCOUNT_ID
        self.endpoint_url = ""
        self.default_lifecycle = Lifecycle(("InProgress", 1), "Completed")
        self.faults = Faults()
        #: faults of CloudWatch Logs calls (``DescribeLogStreams``, ``GetLogEvents``, ...)
        self.logs_faults = Faults()
        #: called as ``callback(job_name, environment)`` when a job is created (e.g. to play the container's W&B run)
        self.on_create: list[Callable[[str, dict[str, str]], None]] = []
        self._server: ThreadedMotoServer | None = None
        self._originals: dict[str, Any] = {}  # patched name -> SageMakerResponse's own (None: inherited)
        self._logs_call_action: Any = None  # LogsResponse's own call_action (None: inherited)
        self._logs_writer: Any = None
        self._lock = threading.Lock()
        self.meter = Meter()
        self._forget()

    def _forget(self) -> None:
        self._queued: list[Lifecycle] = []
        self._named: dict[str, Lifecycle] = {}
        self._lifecycles: dict[str, Lifecycle] = {}
        self._requests: dict[str, dict[str, Any]] = {}
        self._stops: list[str] = []
        self._describes: dict[str, int] = {}
        self._refusals: list[str] = []  # messages the next CreateTrainingJob calls are refused with
        self._log_clock: dict[str, int] = {}  # stream -> its last event's timestamp (ms)
        self.meter.reset()

    # -- running -------------------------------------------------------------------------------
    def start(self) -> SageMakerEmulator:
        global _active
        if _active is not None:
            raise RuntimeError("a SageMakerEmulator already runs in this process")
        _active = self
        self._patch()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        global _active
        if self._server is not None:
            self._server.stop()
            self._server = None
        for name, original in self._originals.items():
            if original is None:
                delattr(SageMakerResponse, name)
            else:
                setattr(SageMakerResponse, name, original)
        self._originals.clear()
        if self._logs_call_action is not None:
            LogsResponse.call_action = self._logs_call_action
        elif "call_action" in LogsResponse.__dict__:  # ours, over the inherited one
            del LogsResponse.call_action
        self._logs_call_action = self._logs_writer = None
        if _active is self:
            _active = None

    def __enter__(self) -> SageMakerEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget jobs, scripts, calls, logs and faults (moto's SageMaker and Logs state too); keep S3 and the
        server."""
        for backends in (sagemaker_backends, logs_backends):
            for account in list(backends.values()):
                account.reset()
        with self._lock:
            self._forget()
            self.faults = Faults()
            self.logs_faults = Faults()
            self.default_lifecycle = Lifecycle(("InProgress", 1), "Completed")
            self.on_create.clear()

    # -- connection and setup ---------------------------------------------------------------------
    def aws_connection(self) -> dict[str, Any]:
        """An Airflow ``aws`` connection pointing at the emulator."""
        extra = {"endpoint_url": self.endpoint_url, "region_name": self.region}
        return {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}

    def airflow_conn_env(self) -> str:
        """The connection as JSON, for ``AIRFLOW_CONN_<ID>``."""
        return json.dumps(self.aws_connection())

    def create_bucket(self, name: str) -> None:
        """Create an S3 bucket (no error if it exists)."""
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(**kwargs)

    def write_logs(
        self,
        job_name: str,
        lines: list[str],
        *,
        instance: str = "algo-1",
        started: int = 1700000000,
        timestamps: list[int] | None = None,
    ) -> str:
        """Append ``lines`` to the job's ``<job>/<instance>-<started>`` stream, as the instance's output (the
        group and stream are created on first use); returns the stream's name.

        :param timestamps: each line's time in ms (default: now, one ms apart, after what the stream holds).
        """
        import boto3

        if self._logs_writer is None:
            self._logs_writer = boto3.client(
                "logs",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        logs, stream = self._logs_writer, f"{job_name}/{instance}-{started}"
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=TRAINING_LOG_GROUP)
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=TRAINING_LOG_GROUP, logStreamName=stream)
        if timestamps is None:
            first = max(int(time.time() * 1000), self._log_clock.get(stream, 0) + 1)
            timestamps = [first + i for i in range(len(lines))]
        if timestamps:
            self._log_clock[stream] = max(self._log_clock.get(stream, 0), *timestamps)
        events = [{"timestamp": t, "message": m} for t, m in zip(timestamps, lines, strict=True)]
        for start in range(0, len(events), 1000):  # PutLogEvents takes at most 10,000 events (and 1 MB)
            batch = events[start : start + 1000]
            logs.put_log_events(logGroupName=TRAINING_LOG_GROUP, logStreamName=stream, logEvents=batch)
        return stream

    # -- scripting and inspection -------------------------------------------------------------
    def script(self, lifecycle: Lifecycle, name: str | None = None) -> Lifecycle:
        """Script the job ``name`` (even if it already exists), or the next job created if None."""
        with self._lock:
            if name is None:
                self._queued.append(lifecycle)
            elif name in self._lifecycles:
                self._lifecycles[name] = lifecycle
            else:
                self._named[name] = lifecycle
        return lifecycle

    def refuse_create(self, message: str = QUOTA_REFUSAL, times: int = 1) -> None:
        """Refuse the next ``times`` CreateTrainingJob calls with ``ResourceLimitExceeded`` (nothing is created)."""
        with self._lock:
            self._refusals.extend([message] * times)

    def take_refusal(self) -> str | None:
        with self._lock:
            return self._refusals.pop(0) if self._refusals else None

    def lifecycle(self, name: str) -> Lifecycle:
        with self._lock:
            return self._lifecycles[name]

    def job_names(self) -> list[str]:
        with self._lock:
            return list(self._requests)

    def create_request(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self._requests[name]

    def stop_calls(self) -> list[str]:
        with self._lock:
            return list(self._stops)

    def describe_count(self, name: str) -> int:
        with self._lock:
            return self._describes.get(name, 0)

    def set_status(self, name: str, status: str, **fields: Any) -> None:
        """Report ``status`` (with ``fields``, e.g. ``FailureReason``) for job ``name`` from now on, on every read."""
        with self._lock:
            if name not in self._lifecycles:
                raise KeyError(f"no training job {name!r}")
            self._lifecycles[name] = Lifecycle(Step(status, None, dict(fields)))

    def finish_all(self, status: str = "Completed", **fields: Any) -> int:
        """``set_status`` every job created so far; returns how many."""
        with self._lock:
            names = list(self._lifecycles)
        for name in names:
            self.set_status(name, status, **fields)
        return len(names)

    # -- server side (runs in the server's request threads) ------------------------------------
    def _created(self, body: dict[str, Any]) -> None:
        name = body["TrainingJobName"]
        with self._lock:
            self._requests[name] = body
            lifecycle = self._named.pop(name, None)
            if lifecycle is None:
                lifecycle = self._queued.pop(0) if self._queued else self.default_lifecycle.copy()
            self._lifecycles[name] = lifecycle
        for callback in list(self.on_create):
            callback(name, dict(body.get("Environment") or {}))

    def _describe(self, job: FakeTrainingJob) -> dict[str, Any]:
        name = job.training_job_name
        with self._lock:
            self._describes[name] = self._describes.get(name, 0) + 1
            self.meter.read(name)
            lifecycle = self._lifecycles.get(name)
            step = lifecycle.read() if lifecycle is not None else None
            if step is not None:
                self._apply(job, step)
            response = job.response_object
            if environment := self._requests.get(name, {}).get("Environment"):
                response["Environment"] = environment  # moto drops it
            response.update(_training_seconds(job))
            return {**response, **(step.fields if step else {})}

    @staticmethod
    def _apply(job: FakeTrainingJob, step: Step) -> None:
        now = datetime.now(UTC)
        if job.training_job_status != step.state:
            job.last_modified_time = now
        job.training_job_status = step.state
        job.secondary_status = step.fields.get("SecondaryStatus", SECONDARY.get(step.state, step.state))
        failed = step.state == "Failed"
        job.failure_reason = step.fields.get("FailureReason", DEFAULT_FAILURE) if failed else None
        if step.state not in TERMINAL:
            job.training_end_time = None
        elif job.training_end_time is None:
            job.training_end_time = now

    def _list(self, response: SageMakerResponse) -> ActionResult:
        """A listing is a read of each job it returns: those lifecycles advance one step, as a Describe would."""
        jobs = response.sagemaker_backend.training_jobs
        with self._lock:
            for name, job in list(jobs.items()):
                if (lifecycle := self._lifecycles.get(name)) is not None:
                    self._apply(job, lifecycle.current)  # what a read reports now, so the filters see it
            listed = self._originals["list_training_jobs"](response)
            names = [s["TrainingJobName"] for s in listed.result.get("TrainingJobSummaries") or []]  # type: ignore[attr-defined]
            for name in names:
                if (lifecycle := self._lifecycles.get(name)) is not None:
                    self._apply(jobs[name], lifecycle.read())
            result = self._originals["list_training_jobs"](response)
        self.meter.read(*names)
        return result

    def _stop(self, name: str, backend: Any) -> None:
        with self._lock:
            self._stops.append(name)
            lifecycle = self._lifecycles.get(name)
            if lifecycle is None or name not in backend.training_jobs:
                arn = FakeTrainingJob.arn_formatter(name, backend.account_id, backend.region_name)
                raise ValidationError(message=f"Could not find training job '{arn}'.")
            if (state := lifecycle.current.state) != "InProgress":
                message = f"The request was rejected because the training job is in status {state}."
                raise ValidationError(message=message)
            lifecycle.stop("Stopping", "Stopped")

    def _patch(self) -> None:
        handlers: dict[str, Callable[..., Any]] = {
            "call_action": _call_action,
            "create_training_job": _create_training_job,
            "describe_training_job": _describe_training_job,
            "list_training_jobs": _list_training_jobs,
            "stop_training_job": _stop_training_job,
        }
        for name, handler in handlers.items():
            self._originals[name] = SageMakerResponse.__dict__.get(name)
            setattr(SageMakerResponse, name, handler)
        self._logs_call_action = LogsResponse.__dict__.get("call_action")
        LogsResponse.call_action = _logs_call_action


def _training_seconds(job: FakeTrainingJob) -> dict[str, int]:
    """An ended job's TrainingTimeInSeconds and BillableTimeInSeconds (moto reports neither): its wall time.

    A step's scripted fields (``{"BillableTimeInSeconds": 600}``) override these, as for a spot job's savings.
    """
    if job.training_job_status not in TERMINAL or job.training_end_time is None:
        return {}
    start, end = job.training_start_time, job.training_end_time
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
    seconds = max(0, int((end - start).total_seconds()))
    return {"TrainingTimeInSeconds": seconds, "BillableTimeInSeconds": seconds}


# -- the patched SageMakerResponse methods ------------------------------------------------------
def _emulator() -> SageMakerEmulator:
    assert _active is not None, "SageMakerEmulator patches outlived the emulator"
    return _active


def _call_action(self: SageMakerResponse) -> Any:
    operation = str(self.headers.get("X-Amz-Target", "")).rpartition(".")[2]
    _emulator().meter.request(operation or "unknown")
    fault = _emulator().faults.take(operation)
    if fault is not None:
        status, delay = fault
        time.sleep(delay)
        if status != 200:
            return _fault_response(status, operation)
    response = BaseResponse.call_action(self)
    if (lost := _emulator().faults.take_lost(operation)) is not None:
        return _fault_response(lost, operation)
    return response


def _logs_call_action(self: LogsResponse) -> Any:
    """A CloudWatch Logs call (``X-Amz-Target: Logs_20140328.GetLogEvents``): metered, maybe faulted."""
    operation = str(self.headers.get("X-Amz-Target", "")).rpartition(".")[2]
    _emulator().meter.request(operation or "unknown")
    fault = _emulator().logs_faults.take(operation)
    if fault is not None:
        status, delay = fault
        time.sleep(delay)
        if status != 200:
            return _fault_response(status, operation)
    return BaseResponse.call_action(self)


def _create_training_job(self: SageMakerResponse) -> ActionResult:
    body = json.loads(self.raw_body)
    name = body.get("TrainingJobName", "")
    if name in self.sagemaker_backend.training_jobs:
        arn = FakeTrainingJob.arn_formatter(name, self.current_account, self.region)
        raise ResourceInUseException(
            "Training job names must be unique within an AWS account and region, "
            f"and a training job with this name already exists ({arn})"
        )
    if (refusal := _emulator().take_refusal()) is not None:
        raise ResourceLimitExceeded(refusal)
    result = _emulator()._originals["create_training_job"](self)
    job = self.sagemaker_backend.training_jobs[name]
    job.training_job_status, job.secondary_status, job.training_end_time = "InProgress", "Starting", None
    _emulator()._created(body)
    return result


def _describe_training_job(self: SageMakerResponse) -> ActionResult:
    name = self._get_param("TrainingJobName")
    job = self.sagemaker_backend.training_jobs.get(name)
    if job is None:
        return _emulator()._originals["describe_training_job"](self)  # raises moto's ValidationError
    return ActionResult(_emulator()._describe(job))


def _list_training_jobs(self: SageMakerResponse) -> ActionResult:
    return _emulator()._list(self)


def _stop_training_job(self: SageMakerResponse) -> EmptyResult:
    _emulator()._stop(self._get_param("TrainingJobName"), self.sagemaker_backend)
    return EmptyResult()
