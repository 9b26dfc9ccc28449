"""``fallbacks`` through dag.test() against the emulators: a job that fails for capacity, quota or a spot wait is
tried again, as the same W&B run, with the next fallback; a job that failed on its own is not; a retry after a worker
death reattaches to the attempt that was running."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from airflow.sdk.exceptions import TaskDeferred

from airflow_wandb_launch.launch.job import JobState, JobStatus
from airflow_wandb_launch.launch.memory import JOB_STATE_KEY, LaunchRecord, Phase
from airflow_wandb_launch.operators import WandbLaunchSageMakerOperator
from tests.emulators.lifecycle import Lifecycle
from tests.emulators.sagemaker import CAPACITY_FAILURE, QUOTA_REFUSAL, capacity_failure, spot_wait_exceeded
from tests.emulators.vertex import STOCKOUT_ERROR
from tests.helpers.airflow import run_dag, task_states
from tests.integration.test_exactly_once import _context, _Store
from tests.integration.test_sagemaker_operator import IMAGE, SEED_CONFIG
from tests.integration.test_vertex_operator import SEED_CONFIG as VERTEX_CONFIG

pytestmark = pytest.mark.usefixtures("airflow_db")

BIGGER = {"ResourceConfig": {"InstanceType": "ml.p3.8xlarge"}}
SUCCEEDS = Lifecycle(("InProgress", 1), ("Completed", None, {"BillableTimeInSeconds": 3600}))


def seed(**resources) -> dict:
    """The seed SageMaker queue config as a dict, its ResourceConfig updated (a priced instance type, say)."""
    config = yaml.safe_load(Path(SEED_CONFIG).read_text())
    config["ResourceConfig"].update(resources)
    return config


def train(**overrides):
    kwargs = {
        "task_id": "train",
        "image": IMAGE,
        "resource_args": SEED_CONFIG,
        "project": "fallback-tests",
        "poll_interval": 0.1,
    }
    return lambda: WandbLaunchSageMakerOperator(**{**kwargs, **overrides})


def jobs(sagemaker) -> list[dict]:
    return [sagemaker.create_request(name) for name in sagemaker.job_names()]


def test_a_capacity_failure_falls_back_to_another_instance_type_as_the_same_run(sagemaker, container, capfd):
    sagemaker.script(capacity_failure(BillableTimeInSeconds=360))
    sagemaker.script(SUCCEEDS)
    dag_run, xcom = run_dag(
        train(
            resource_args=seed(InstanceType="ml.p3.2xlarge"), fallbacks=[BIGGER, {"EnableManagedSpotTraining": False}]
        )
    )

    assert task_states(dag_run) == {"train": "success"}
    first, second = jobs(sagemaker)
    run_id = xcom["train"]["run_id"]
    # the same W&B run, resumable: WANDB_RUN_ID and WANDB_RESUME=allow in both jobs
    assert first["Environment"]["WANDB_RUN_ID"] == second["Environment"]["WANDB_RUN_ID"] == run_id
    assert first["Environment"]["WANDB_RESUME"] == second["Environment"]["WANDB_RESUME"] == "allow"
    assert second["TrainingJobName"] == f"{first['TrainingJobName']}-a1"
    assert first["ResourceConfig"]["InstanceType"] == "ml.p3.2xlarge"
    assert second["ResourceConfig"]["InstanceType"] == "ml.p3.8xlarge"
    assert second["CheckpointConfig"] == first["CheckpointConfig"]  # the rest of the config is the same
    assert {t["Key"]: t["Value"] for t in second["Tags"]}["AirflowAttempt"] == "1"
    assert "AirflowAttempt" not in {t["Key"] for t in first["Tags"]}

    result = xcom["train"]["return_value"]
    assert result["job_id"] == second["TrainingJobName"] == xcom["train"]["job_id"]
    assert result["job_state"] == "succeeded" and result["run_id"] == run_id
    failed, succeeded = result["attempts"]
    assert failed["attempt"] == 0 and failed["job_id"] == first["TrainingJobName"]
    assert (failed["job_state"], failed["reason"], failed["message"]) == ("failed", "capacity", CAPACITY_FAILURE)
    assert (succeeded["attempt"], succeeded["job_state"], succeeded["reason"]) == (1, "succeeded", None)
    assert failed["cost_usd"] == pytest.approx(0.38) and succeeded["cost_usd"] == pytest.approx(14.69)
    assert result["cost_usd"] == pytest.approx(15.07)  # the attempts' sum
    assert result["cost"]["usd"] == succeeded["cost_usd"]  # the job's own estimate
    out = capfd.readouterr().out
    assert "failed for capacity" in out and "trying fallback 1 of 2" in out


def test_the_jobs_own_failure_never_falls_back(sagemaker, container, capfd):
    sagemaker.script(Lifecycle(("InProgress", 1), ("Failed", None, {"FailureReason": "AlgorithmError: CUDA OOM"})))
    dag_run, xcom = run_dag(train(fallbacks=[BIGGER]))

    assert task_states(dag_run) == {"train": "failed"}
    [job] = sagemaker.job_names()
    failure = xcom["train"]["failure"]
    assert failure["job_id"] == job and "AlgorithmError: CUDA OOM" in failure["reason"]
    [attempt] = failure["attempts"]
    assert (attempt["job_state"], attempt["reason"], attempt["message"]) == ("failed", None, "AlgorithmError: CUDA OOM")
    assert "trying fallback" not in capfd.readouterr().out


def test_when_every_fallback_failed_the_failure_lists_the_attempts(sagemaker, container, capfd):
    sagemaker.script(capacity_failure(BillableTimeInSeconds=60))
    sagemaker.script(capacity_failure(BillableTimeInSeconds=60))
    dag_run, xcom = run_dag(train(resource_args=seed(InstanceType="ml.p3.2xlarge"), fallbacks=[BIGGER]))

    assert task_states(dag_run) == {"train": "failed"}
    first, second = sagemaker.job_names()
    failure = xcom["train"]["failure"]
    assert failure["job_id"] == second
    assert [(a["attempt"], a["job_id"], a["job_state"], a["reason"]) for a in failure["attempts"]] == [
        (0, first, "failed", "capacity"),
        (1, second, "failed", "capacity"),
    ]
    costs = [a["cost_usd"] for a in failure["attempts"]]
    assert all(c > 0 for c in costs) and failure["cost_usd"] == pytest.approx(round(sum(costs), 2))
    assert (
        f"Attempts: sagemaker job {first} (failed, capacity); sagemaker job {second} (failed, capacity)."
        in (failure["reason"])
    )
    assert "Attempts: sagemaker job" in capfd.readouterr().out


def test_a_spot_job_that_waited_past_its_limit_falls_back_to_on_demand(sagemaker, container):
    sagemaker.script(spot_wait_exceeded())
    sagemaker.script(SUCCEEDS)
    dag_run, xcom = run_dag(train(fallbacks=[{"EnableManagedSpotTraining": False}]))

    assert task_states(dag_run) == {"train": "success"}
    spot, on_demand = jobs(sagemaker)
    assert spot["EnableManagedSpotTraining"] is True and spot["StoppingCondition"]["MaxWaitTimeInSeconds"] == 172800
    assert on_demand["EnableManagedSpotTraining"] is False
    assert on_demand["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}  # the wait limit went with spot
    assert "MaxWaitTimeInSeconds" not in on_demand
    [waited, _] = xcom["train"]["return_value"]["attempts"]
    assert (waited["job_state"], waited["reason"]) == ("timed_out", "spot-wait")


def test_a_fallback_naming_hardware_gets_the_equivalent_instance_type(sagemaker, container):
    sagemaker.script(capacity_failure())
    sagemaker.script(SUCCEEDS)
    dag_run, _ = run_dag(train(fallbacks=[{"hardware": "1x V100"}]))

    assert task_states(dag_run) == {"train": "success"}
    _, fallback = jobs(sagemaker)
    assert fallback["ResourceConfig"]["InstanceType"] == "ml.p3.2xlarge"
    assert fallback["ResourceConfig"]["InstanceCount"] == 1 and fallback["EnableManagedSpotTraining"] is False


def test_a_job_pending_past_pending_timeout_is_stopped_and_falls_back(sagemaker, container):
    sagemaker.script(Lifecycle(("InProgress", None, {"SecondaryStatus": "Starting"})))  # never gets machines
    sagemaker.script(SUCCEEDS)
    # the triggerer reads with Describe (moto's listing carries no SecondaryStatus, which tells pending from running)
    sagemaker.faults.inject(403, times=3, method="ListTrainingJobs")
    dag_run, xcom = run_dag(train(pending_timeout=timedelta(seconds=1), fallbacks=[BIGGER]))

    assert task_states(dag_run) == {"train": "success"}
    first, second = sagemaker.job_names()
    assert sagemaker.stop_calls() == [first] and second == f"{first}-a1"
    [pending, _] = xcom["train"]["return_value"]["attempts"]
    assert (pending["job_id"], pending["reason"]) == (first, "pending-timeout")
    assert "(pending_timeout)" in pending["message"]


def test_a_submit_refused_for_quota_falls_back_without_a_job(sagemaker, container, capfd):
    sagemaker.refuse_create()
    dag_run, xcom = run_dag(train(fallbacks=[BIGGER]))

    assert task_states(dag_run) == {"train": "success"}
    [job] = sagemaker.job_names()  # the refused submit created nothing
    assert job.endswith("-a1") and sagemaker.create_request(job)["ResourceConfig"]["InstanceType"] == "ml.p3.8xlarge"
    refused, succeeded = xcom["train"]["return_value"]["attempts"]
    assert (refused["job_id"], refused["job_state"], refused["reason"]) == (None, "refused", "quota")
    assert QUOTA_REFUSAL in refused["message"] and succeeded["job_id"] == job
    assert "refused the submit for quota" in capfd.readouterr().out


def test_a_capacity_failure_falls_back_to_another_cloud(sagemaker, vertex, container, wandb_conn):
    vertex.on_create.append(container)  # the same training container, whichever cloud runs it
    sagemaker.script(capacity_failure())
    vertex.script(Lifecycle(("JOB_STATE_RUNNING", 1), "JOB_STATE_SUCCEEDED"))
    fallback = {"resource": "vertex", "resource_args": VERTEX_CONFIG, "hardware": "1x A100-40GB"}
    dag_run, xcom = run_dag(train(fallbacks=[fallback]))

    assert task_states(dag_run) == {"train": "success"}
    [sagemaker_job] = sagemaker.job_names()
    [vertex_job] = vertex.job_names()
    custom_job = vertex.create_request(vertex_job)
    run_id = xcom["train"]["run_id"]
    assert custom_job["labels"]["wandb-run-id"] == run_id and custom_job["labels"]["airflow-attempt"] == "1"
    assert custom_job["displayName"].endswith(f"{run_id}-a1")
    pool = custom_job["jobSpec"]["workerPoolSpecs"][0]
    assert pool["machineSpec"]["machineType"] == "a2-highgpu-1g"
    env = {e["name"]: e["value"] for e in pool["containerSpec"]["env"]}
    assert env["WANDB_RUN_ID"] == run_id and env["WANDB_RESUME"] == "allow"
    result = xcom["train"]["return_value"]
    assert result["resource"] == "vertex" and result["job_id"] == vertex_job
    assert [(a["resource"], a["job_id"], a["reason"]) for a in result["attempts"]] == [
        ("sagemaker", sagemaker_job, "capacity"),
        ("vertex", vertex_job, None),
    ]


def test_a_vertex_stockout_falls_back_to_another_region(vertex, wandb_conn):
    from airflow_wandb_launch.operators.vertex import WandbLaunchVertexAIOperator
    from tests.emulators.vertex import stockout
    from tests.helpers.container import TrainingContainer

    vertex.on_create.append(TrainingContainer(wandb_conn))
    vertex.script(stockout())
    vertex.script(Lifecycle(("JOB_STATE_RUNNING", 1), "JOB_STATE_SUCCEEDED"))
    dag_run, xcom = run_dag(
        lambda: WandbLaunchVertexAIOperator(
            task_id="train",
            image=IMAGE,
            resource_args=VERTEX_CONFIG,
            project="fallback-tests",
            poll_interval=0.1,
            fallbacks=[{"region": "us-central1", "hardware": "1x T4"}],
        )
    )
    assert task_states(dag_run) == {"train": "success"}
    [stocked_out, _] = xcom["train"]["return_value"]["attempts"]
    assert (stocked_out["reason"], stocked_out["message"]) == ("capacity", STOCKOUT_ERROR["message"])


# --- retries: the record names the attempt -----------------------------------------------------------------------


def _operator(**overrides):
    kwargs = {
        "task_id": "train",
        "image": IMAGE,
        "resource_args": SEED_CONFIG,
        "project": "once-tests",
        "retries": 1,
        "retry_delay": timedelta(0),
        "fallbacks": [BIGGER, {"EnableManagedSpotTraining": False}],
    }
    return WandbLaunchSageMakerOperator(**{**kwargs, **overrides})


def test_a_retry_mid_fallback_reattaches_to_the_running_attempt(sagemaker, container):
    sagemaker.script(Lifecycle(("Failed", None, {"FailureReason": CAPACITY_FAILURE})))  # attempt 0: at once
    sagemaker.script(Lifecycle("InProgress"))  # attempt 1: runs until the test ends it
    store = _Store()
    with pytest.raises(TaskDeferred) as deferred:
        _operator().execute(_context(store, try_number=1, max_tries=1))
    first, second = sagemaker.job_names()
    assert deferred.value.kwargs["attempt"] == 1 and deferred.value.trigger.job_ref["job_id"] == second
    record = LaunchRecord.from_dict(store[JOB_STATE_KEY])
    assert (record.phase, record.attempt, record.job_id) == (Phase.SUBMITTED, 1, second)
    assert [(a["job_id"], a["reason"]) for a in record.attempts] == [(first, "capacity")]

    # the worker died while deferred; the retry (same try chain) reattaches to attempt 1, with its past
    with pytest.raises(TaskDeferred) as again:
        _operator().execute(_context(store, try_number=2, max_tries=1))
    assert sagemaker.job_names() == [first, second] and sagemaker.stop_calls() == []
    assert again.value.kwargs == deferred.value.kwargs
    assert again.value.trigger.job_ref["job_id"] == second

    sagemaker.set_status(second, "Completed", BillableTimeInSeconds=60)
    event = {"job": again.value.trigger.job_ref, "status": JobStatus(JobState.SUCCEEDED, "Completed").to_dict()}
    result = _operator().execute_complete(_context(store, try_number=2, max_tries=1), event, **again.value.kwargs)
    assert result["job_id"] == second
    assert [(a["attempt"], a["job_id"], a["job_state"]) for a in result["attempts"]] == [
        (0, first, "failed"),
        (1, second, "succeeded"),
    ]
    assert LaunchRecord.from_dict(store[JOB_STATE_KEY]).phase is Phase.SUCCEEDED


def test_a_retry_finding_its_attempt_failed_for_capacity_makes_the_next_one(sagemaker, container):
    """The worker died after attempt 0 failed for capacity, before the fallback: the retry falls back (the same
    run) instead of starting over on the resource that had no capacity."""
    sagemaker.script(Lifecycle("InProgress"))
    store = _Store()
    with pytest.raises(TaskDeferred):
        _operator().execute(_context(store, try_number=1, max_tries=1))
    [first] = sagemaker.job_names()
    sagemaker.set_status(first, "Failed", FailureReason=CAPACITY_FAILURE)
    sagemaker.script(Lifecycle("InProgress"))

    with pytest.raises(TaskDeferred) as deferred:
        _operator().execute(_context(store, try_number=2, max_tries=1))
    assert sagemaker.job_names() == [first, f"{first}-a1"]
    assert deferred.value.kwargs["attempt"] == 1
    run_ids = {sagemaker.create_request(name)["Environment"]["WANDB_RUN_ID"] for name in sagemaker.job_names()}
    assert len(run_ids) == 1  # the first try's run, not the retry's own


# --- Azure ML ------------------------------------------------------------------------------------------------------


def azure_train(**overrides):
    from airflow_wandb_launch.operators.azure_ml import WandbLaunchAzureMLOperator

    kwargs = {
        "task_id": "train",
        "image": "myregistry.azurecr.io/train:1",
        "entry_point": "python train.py",
        "resource_args": {"instance_type": "Standard_NC24ads_A100_v4", "queue_settings": {"job_tier": "Spot"}},
        "project": "fallback-tests",
        "poll_interval": 0.1,
    }
    return lambda: WandbLaunchAzureMLOperator(**{**kwargs, **overrides})


def azure_jobs(aml) -> list[dict]:
    return [aml.create_request(name)["properties"] for name in aml.job_names()]


def test_an_azure_allocation_failure_on_spot_falls_back_to_dedicated_as_the_same_run(aml, wandb_conn):
    from tests.emulators.azure_ml import ALLOCATION_ERROR
    from tests.helpers.container import TrainingContainer

    aml.on_create.append(TrainingContainer(wandb_conn))
    aml.script(Lifecycle(("Queued", 1), ("Failed", None, {"error": ALLOCATION_ERROR})))
    aml.script(Lifecycle(("Running", 1), "Completed"))
    dag_run, xcom = run_dag(azure_train(fallbacks=[{"queue_settings": {"job_tier": "Standard"}}]))

    assert task_states(dag_run) == {"train": "success"}
    first_name, second_name = aml.job_names()
    first, second = azure_jobs(aml)
    run_id = xcom["train"]["run_id"]
    assert first["environmentVariables"]["WANDB_RUN_ID"] == second["environmentVariables"]["WANDB_RUN_ID"] == run_id
    assert second["environmentVariables"]["WANDB_RESUME"] == "allow"
    assert second_name == f"{first_name}-a1"
    assert first["queueSettings"] == {"jobTier": "Spot"} and second["queueSettings"] == {"jobTier": "Standard"}
    assert first["resources"]["instanceType"] == second["resources"]["instanceType"] == "Standard_NC24ads_A100_v4"
    result = xcom["train"]["return_value"]
    assert result["job_id"] == second_name and result["job_state"] == "succeeded"
    assert [(a["attempt"], a["job_id"], a["reason"]) for a in result["attempts"]] == [
        (0, first_name, "capacity"),
        (1, second_name, None),
    ]
    assert result["attempts"][0]["message"].startswith("AllocationFailed")


def test_an_azure_quota_failure_falls_back_to_an_a100_on_vertex(aml, vertex, wandb_conn):
    from tests.emulators.azure_ml import QUOTA_ERROR
    from tests.helpers.container import TrainingContainer

    stand_in = TrainingContainer(wandb_conn)
    aml.on_create.append(stand_in)
    vertex.on_create.append(stand_in)
    aml.script(Lifecycle(("Queued", 1), ("Failed", None, {"error": QUOTA_ERROR})))
    vertex.script(Lifecycle(("JOB_STATE_RUNNING", 1), "JOB_STATE_SUCCEEDED"))
    fallback = {"resource": "vertex", "resource_args": VERTEX_CONFIG, "hardware": "1x A100"}
    dag_run, xcom = run_dag(azure_train(fallbacks=[fallback]))

    assert task_states(dag_run) == {"train": "success"}
    [azure_job], [vertex_job] = aml.job_names(), vertex.job_names()
    custom_job = vertex.create_request(vertex_job)
    run_id = xcom["train"]["run_id"]
    assert custom_job["labels"]["wandb-run-id"] == run_id
    machine = custom_job["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
    assert (machine["machineType"], machine["acceleratorCount"]) == ("a2-highgpu-1g", 1)
    result = xcom["train"]["return_value"]
    assert [(a["resource"], a["job_id"], a["reason"]) for a in result["attempts"]] == [
        ("azure-ml", azure_job, "quota"),
        ("vertex", vertex_job, None),
    ]
    assert result["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in result["attempts"]), abs=0.01)


def test_an_azure_jobs_own_failure_does_not_fall_back(aml, wandb_conn):
    from tests.helpers.container import TrainingContainer

    aml.on_create.append(TrainingContainer(wandb_conn))
    aml.script(Lifecycle(("Running", 1), ("Failed", None, {"error": "CUDA out of memory"})))
    dag_run, xcom = run_dag(azure_train(fallbacks=[{"queue_settings": {"job_tier": "Standard"}}]))

    assert task_states(dag_run) == {"train": "failed"}
    [job] = aml.job_names()
    [attempt] = xcom["train"]["failure"]["attempts"]
    assert (attempt["job_id"], attempt["reason"]) == (job, None) and "CUDA out of memory" in attempt["message"]


@pytest.mark.parametrize(
    ("fallbacks", "key_path", "value"),
    [
        ([{"queue_settings": {"job_tier": "Dedicated"}}], "fallbacks[0].queue_settings.job_tier", "Dedicated"),
        (
            [{"queue_settings": {"job_tier": "Standard"}}, {"resource": "vertex", "resource_args": {"spec": {"x": 1}}}],
            "fallbacks[1].resource_args.spec.x",
            1,
        ),
    ],
    ids=["partial", "other-resource"],
)
def test_a_bad_fallback_stops_the_task_before_the_first_job(aml, vertex, wandb_conn, fallbacks, key_path, value):
    """Each fallback's request is built before the first submit: a bad one is not found hours later."""
    dag_run, xcom = run_dag(azure_train(fallbacks=fallbacks))

    assert task_states(dag_run) == {"train": "failed"}
    assert aml.job_names() == [] and vertex.job_names() == []
    reason = xcom["train"]["failure"]["reason"]
    assert f"{key_path} = {value!r}" in reason and "expected" in reason
