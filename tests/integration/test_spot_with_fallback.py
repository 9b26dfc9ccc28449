"""example_dags/spot_with_fallback.py through dag.test(), against the SageMaker and Vertex AI emulators and the W&B
fake: spot waits past its limit, on demand has no capacity, Vertex AI trains; one W&B run throughout."""

from __future__ import annotations

import pytest

from tests.emulators.lifecycle import Lifecycle
from tests.emulators.sagemaker import CAPACITY_FAILURE, capacity_failure, spot_wait_exceeded
from tests.helpers.airflow import task_states, xcoms
from tests.helpers.container import TrainingContainer
from tests.integration.test_multi_cloud_comparison import load_example

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def clouds(sagemaker, vertex, wandb_conn, monkeypatch):
    monkeypatch.setenv("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "0.1")
    stand_in = TrainingContainer(wandb_conn)  # the same training container, whichever cloud runs it
    sagemaker.on_create.append(stand_in)
    vertex.on_create.append(stand_in)
    return sagemaker, vertex


def test_spot_then_on_demand_then_vertex_as_one_run(clouds, capfd):
    sagemaker, vertex = clouds
    sagemaker.script(spot_wait_exceeded())
    sagemaker.script(capacity_failure(BillableTimeInSeconds=60))
    vertex.script(
        Lifecycle(
            ("JOB_STATE_RUNNING", 1),
            ("JOB_STATE_SUCCEEDED", None, {"startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T01:00:00Z"}),
        )
    )
    dag = load_example("spot_with_fallback")
    dag_run = dag.test()

    assert task_states(dag_run) == {"train": "success", "report": "success"}
    xcom = xcoms(dag.dag_id, dag_run.run_id)
    spot, on_demand = (sagemaker.create_request(name) for name in sagemaker.job_names())
    [vertex_job] = vertex.job_names()
    custom_job = vertex.create_request(vertex_job)
    run_id = xcom["train"]["run_id"]
    assert spot["EnableManagedSpotTraining"] is True and spot["StoppingCondition"]["MaxWaitTimeInSeconds"] == 90000
    assert on_demand["EnableManagedSpotTraining"] is False
    assert "MaxWaitTimeInSeconds" not in on_demand["StoppingCondition"]
    assert on_demand["ResourceConfig"]["InstanceType"] == "ml.p4d.24xlarge"
    assert on_demand["CheckpointConfig"] == spot["CheckpointConfig"]  # the resume point stays
    assert spot["Environment"]["WANDB_RUN_ID"] == on_demand["Environment"]["WANDB_RUN_ID"] == run_id
    pool = custom_job["jobSpec"]["workerPoolSpecs"][0]
    assert pool["machineSpec"]["machineType"] == "a2-highgpu-8g" and pool["machineSpec"]["acceleratorCount"] == 8
    env = {e["name"]: e["value"] for e in pool["containerSpec"]["env"]}
    assert env["WANDB_RUN_ID"] == run_id and env["WANDB_RESUME"] == "allow"

    result = xcom["train"]["return_value"]
    assert [(a["resource"], a["job_state"], a["reason"]) for a in result["attempts"]] == [
        ("sagemaker", "timed_out", "spot-wait"),
        ("sagemaker", "failed", "capacity"),
        ("vertex", "succeeded", None),
    ]
    assert result["attempts"][1]["message"] == CAPACITY_FAILURE
    vertex_hour = result["attempts"][2]["cost_usd"]
    assert vertex_hour == pytest.approx(33.80, abs=0.01)  # a2-highgpu-8g + 8 A100 for an hour
    assert result["cost_usd"] == pytest.approx(sum(a["cost_usd"] or 0 for a in result["attempts"]), abs=0.01)
    assert xcom["report"]["return_value"] == {"resource": "vertex", "attempts": 3, "cost_usd": result["cost_usd"]}
    assert f"finished on vertex; total ${result['cost_usd']:.2f}" in capfd.readouterr().out
