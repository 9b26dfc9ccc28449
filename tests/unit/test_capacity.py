"""Each cloud's capacity classifier: which failures a fallback may fix, in the clouds' own words, and which never."""

from __future__ import annotations

import pytest

from airflow_wandb_launch.backends.azure_ml import capacity as azure
from airflow_wandb_launch.backends.base import is_pending_timeout
from airflow_wandb_launch.backends.sagemaker import capacity as sagemaker
from airflow_wandb_launch.backends.sagemaker.states import job_status as sagemaker_status
from airflow_wandb_launch.backends.vertex import capacity as vertex
from airflow_wandb_launch.backends.vertex.states import job_status as vertex_status
from airflow_wandb_launch.launch.job import JobState, JobStatus
from tests.emulators.azure_ml import ALLOCATION_ERROR, DEFAULT_ERROR
from tests.emulators.azure_ml import QUOTA_ERROR as AZURE_QUOTA
from tests.emulators.sagemaker import CAPACITY_FAILURE, QUOTA_FAILURE, QUOTA_REFUSAL
from tests.emulators.vertex import QUOTA_ERROR as VERTEX_QUOTA
from tests.emulators.vertex import STOCKOUT_ERROR, USER_CODE_ERROR

# --- SageMaker: DescribeTrainingJob -> job_status -> is_capacity_failure --------------------------------------------


def _described(status: str, secondary: str, reason: str | None = None) -> dict:
    description = {"TrainingJobStatus": status, "SecondaryStatus": secondary}
    if reason is not None:
        description["FailureReason"] = reason
    return description


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (_described("Failed", "Failed", CAPACITY_FAILURE), "capacity"),
        (
            _described(
                "Failed",
                "Failed",
                "InsufficientCapacityError: We currently do not have sufficient capacity for "
                "ml.p4d.24xlarge in the Availability Zone you requested.",
            ),
            "capacity",
        ),
        (_described("Failed", "Failed", QUOTA_FAILURE), "quota"),
        (_described("Stopped", "MaxWaitTimeExceeded"), "spot-wait"),
        (
            _described(
                "Failed", "Failed", "Training job exceeded MaxWaitTimeInSeconds while waiting for spot capacity"
            ),
            "spot-wait",
        ),
        # the job's own failures: never fall back
        (_described("Failed", "Failed", "AlgorithmError: CUDA out of memory. Tried to allocate 2.00 GiB"), None),
        (
            _described("Failed", "Failed", "AlgorithmError: ExecuteUserScriptError: capacity of the queue exceeded"),
            None,
        ),
        (
            _described(
                "Failed", "Failed", "ClientError: Requested image 123.dkr.ecr.us-east-1.amazonaws.com/x:1 not found."
            ),
            None,
        ),
        (_described("Failed", "Failed", "ClientError: Access Denied (403) when downloading s3://bucket/data"), None),
        (_described("Failed", "Failed", "AccessDenied: sagemaker:CreateTrainingJob is not authorized"), None),
        (_described("Stopped", "MaxRuntimeExceeded"), None),
        (_described("Stopped", "Stopped"), None),
        (_described("Completed", "Completed"), None),
        (_described("InProgress", "Starting"), None),
        (_described("Failed", "Failed", ""), None),
    ],
    ids=[
        "capacity-error",
        "insufficient-capacity",
        "quota",
        "spot-wait-secondary",
        "spot-wait-reason",
        "algorithm-error",
        "algorithm-error-saying-capacity",
        "bad-image",
        "s3-denied",
        "access-denied",
        "max-runtime",
        "stopped",
        "completed",
        "running",
        "no-reason",
    ],
)
def test_sagemaker_classifies_failures(description, expected):
    assert sagemaker.is_capacity_failure(sagemaker_status(description)) == expected


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("ResourceLimitExceeded", QUOTA_REFUSAL, "quota"),
        ("ValidationException", "CapacityError: Unable to provision requested ML compute capacity.", "capacity"),
        ("ValidationException", "1 validation error detected: Value 'ml.x' at 'resourceConfig.instanceType'", None),
        ("AccessDeniedException", "User is not authorized to perform: sagemaker:CreateTrainingJob", None),
        ("ResourceInUse", "Training job names must be unique", None),
        (None, "connection reset", None),
    ],
    ids=["quota", "capacity", "validation", "denied", "in-use", "no-code"],
)
def test_sagemaker_classifies_refused_submits(code, message, expected):
    assert sagemaker.refusal_reason(code, message) == expected


def test_sagemaker_reads_a_botocore_error():
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "ResourceLimitExceeded", "Message": QUOTA_REFUSAL}}, "CreateTrainingJob")
    assert sagemaker.error_code(error) == ("ResourceLimitExceeded", QUOTA_REFUSAL)
    assert sagemaker.error_code(RuntimeError("boom")) == (None, "boom")


def test_sagemaker_turning_spot_off_drops_the_wait_limit():
    merged = {
        "EnableManagedSpotTraining": False,
        "MaxWaitTimeInSeconds": 7200,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
    }
    sagemaker.after_merge(merged, {"EnableManagedSpotTraining": False})
    assert merged == {"EnableManagedSpotTraining": False, "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}
    snake = {"enable_managed_spot_training": False, "stopping_condition": {"max_wait_time_in_seconds": 10}}
    sagemaker.after_merge(snake, {"enable_managed_spot_training": False})
    assert snake == {"enable_managed_spot_training": False, "stopping_condition": {}}
    kept = {"EnableManagedSpotTraining": True, "StoppingCondition": {"MaxWaitTimeInSeconds": 10}}
    sagemaker.after_merge(kept, {"ResourceConfig": {"InstanceType": "ml.p3.8xlarge"}})
    assert kept["StoppingCondition"] == {"MaxWaitTimeInSeconds": 10}


# --- Vertex AI: CustomJob -> job_status -> is_capacity_failure ------------------------------------------------------


def _custom_job(state: str, error: dict | None = None) -> dict:
    job = {"state": state}
    if error is not None:
        job["error"] = error
    return job


@pytest.mark.parametrize(
    ("custom_job", "expected"),
    [
        (_custom_job("JOB_STATE_FAILED", STOCKOUT_ERROR), "capacity"),
        (_custom_job("JOB_STATE_FAILED", VERTEX_QUOTA), "quota"),
        (
            _custom_job(
                "JOB_STATE_FAILED", {"code": 8, "message": "Resources are insufficient in region: us-central1."}
            ),
            "capacity",
        ),
        (_custom_job("JOB_STATE_FAILED", {"code": 8, "message": "RESOURCE_EXHAUSTED"}), "capacity"),
        (
            _custom_job("JOB_STATE_FAILED", {"code": 9, "message": "ZONE_RESOURCE_POOL_EXHAUSTED in us-central1-b"}),
            "capacity",
        ),
        (_custom_job(5, STOCKOUT_ERROR), "capacity"),  # the state as its enum number
        (
            _custom_job(
                "JOB_STATE_FAILED", {"code": 13, "message": "Spot VMs: job did not start within max_wait_duration"}
            ),
            "spot-wait",
        ),
        # the job's own failures
        (_custom_job("JOB_STATE_FAILED", USER_CODE_ERROR), None),
        (
            _custom_job(
                "JOB_STATE_FAILED",
                {"code": 13, "message": "The replica workerpool0-0 exited with a non-zero status of 1."},
            ),
            None,
        ),
        (
            _custom_job(
                "JOB_STATE_FAILED",
                {
                    "code": 3,
                    "message": "Image us-docker.pkg.dev/p/r/x:1 not found: does not have enough resources available",
                },
            ),
            None,
        ),
        (
            _custom_job("JOB_STATE_FAILED", {"code": 7, "message": "Permission 'aiplatform.customJobs.create' denied"}),
            None,
        ),
        (_custom_job("JOB_STATE_FAILED"), None),
        (_custom_job("JOB_STATE_SUCCEEDED"), None),
        (_custom_job("JOB_STATE_PENDING"), None),
        (_custom_job("JOB_STATE_CANCELLED", {"code": 1, "message": "CANCELED"}), None),
    ],
    ids=[
        "stockout",
        "quota",
        "insufficient-in-region",
        "code-8-alone",
        "resource-pool-exhausted",
        "enum-state",
        "spot-wait",
        "user-code",
        "exit-status",
        "invalid-argument",
        "permission-denied",
        "no-error",
        "succeeded",
        "pending",
        "cancelled",
    ],
)
def test_vertex_classifies_failures(custom_job, expected):
    assert vertex.is_capacity_failure(vertex_status(custom_job)) == expected


def test_vertex_keeps_the_error_code_in_the_details():
    assert vertex_status(_custom_job("JOB_STATE_FAILED", STOCKOUT_ERROR)).details["error_code"] == 8
    assert "error_code" not in vertex_status(_custom_job("JOB_STATE_SUCCEEDED")).details


@pytest.mark.parametrize(
    ("status_name", "message", "expected"),
    [
        ("RESOURCE_EXHAUSTED", VERTEX_QUOTA["message"], "quota"),
        ("RESOURCE_EXHAUSTED", STOCKOUT_ERROR["message"], "capacity"),
        ("RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Job service requests' per minute", None),
        ("RESOURCE_EXHAUSTED", "Too many requests", None),
        ("PERMISSION_DENIED", "quota", None),
        (None, "", None),
    ],
    ids=["quota", "stockout", "throttle-quota", "throttle", "denied", "unknown"],
)
def test_vertex_classifies_refused_submits(status_name, message, expected):
    assert vertex.refusal_reason(status_name, message) == expected


def test_vertex_reads_google_api_errors_through_a_retry_error():
    from google.api_core import exceptions
    from google.api_core.exceptions import RetryError

    exhausted = exceptions.ResourceExhausted(VERTEX_QUOTA["message"])
    assert vertex.error_status(exhausted) == ("RESOURCE_EXHAUSTED", VERTEX_QUOTA["message"])
    assert vertex.error_status(RetryError("deadline", exhausted))[0] == "RESOURCE_EXHAUSTED"
    assert vertex.error_status(exceptions.PermissionDenied("no"))[0] == "PERMISSION_DENIED"
    assert vertex.error_status(RuntimeError("x")) == (None, "")


# --- Azure ML: Run History's error -> is_capacity_failure -----------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (AZURE_QUOTA["message"], "quota"),
        ("QuotaExceeded: the job's request exceeds the workspace's quota for family NCADSA100v4", "quota"),
        ("Requested 24 cores exceeds the dedicated quota of 0 for the VM family", "quota"),
        (ALLOCATION_ERROR["message"], "capacity"),
        ("ZonalAllocationFailed: Allocation failed in zone 1", "capacity"),
        (DEFAULT_ERROR["message"], None),
        ("ImagePullError: failed to pull image myregistry.azurecr.io/train:1 (quota of the registry exceeded)", None),
        ("AuthorizationFailed: the client does not have authorization to perform action", None),
        ("", None),
    ],
    ids=["quota", "quota-exceeded", "exceeds-quota", "allocation", "zonal", "user-error", "image", "auth", "empty"],
)
def test_azure_classifies_failures(message, expected):
    assert azure.is_capacity_failure(JobStatus(JobState.FAILED, "Failed", message)) == expected
    assert azure.classify(message) == expected  # a refused create says the same words


def test_azure_success_and_running_never_fall_back():
    assert azure.is_capacity_failure(JobStatus(JobState.SUCCEEDED, "Completed", AZURE_QUOTA["message"])) is None
    assert azure.is_capacity_failure(JobStatus(JobState.PENDING, "Queued", AZURE_QUOTA["message"])) is None


# --- any cloud: the trigger's pending_timeout ----------------------------------------------------------------------


def test_a_pending_timeout_is_recognized_by_the_backends_own_words():
    from airflow_wandb_launch.backends.sagemaker.backend import SageMakerBackend
    from airflow_wandb_launch.launch.job import JobRef
    from airflow_wandb_launch.launch.run import RunIdentity

    backend = SageMakerBackend(region_name="us-east-1")
    ref = JobRef("sagemaker", "job-1", RunIdentity("r1", "p"))
    message = backend.pending_timeout_message(ref, JobStatus(JobState.PENDING, "InProgress"), 60)
    assert is_pending_timeout(JobStatus(JobState.FAILED, "InProgress", f"{message}; the job was stopped"))
    assert not is_pending_timeout(JobStatus(JobState.FAILED, "Failed", CAPACITY_FAILURE))
    assert not is_pending_timeout(JobStatus(JobState.TIMED_OUT, "deadline", message))
