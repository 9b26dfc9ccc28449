"""example_dags/hyperparameter_sweep.py on the real stack: six mapped SageMaker jobs deferred together, each map
index with its own run id and result, and the comparison picking the best (SageMaker: the emulator)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_sagemaker_e2e import SLOW
from tests.emulators.lifecycle import Lifecycle

pytestmark = pytest.mark.e2e

DAG = "hyperparameter_sweep"


def test_mapped_sweep_runs_six_deferred_jobs_and_picks_the_best(airflow_stack, sagemaker, wandb_server):
    def play(job_name, env):  # each job logs its run: the loss is lowest for lr = 0.6
        config = json.loads(env["WANDB_CONFIG"])
        wandb_server.add_run(
            env["WANDB_ENTITY"],
            env["WANDB_PROJECT"],
            env["WANDB_RUN_ID"],
            summary={"final_loss": abs(config["lr"] - 0.6) + 0.01},
            config=config,
            name=env.get("WANDB_NAME"),
            group=env.get("WANDB_RUN_GROUP"),
        )

    sagemaker.on_create.append(play)
    for _ in range(6):
        sagemaker.script(Lifecycle(("InProgress", SLOW), "Completed"))
    airflow_stack.wait_for_dag(DAG)
    airflow_stack.unpause(DAG)
    run_id = airflow_stack.trigger(DAG)
    assert airflow_stack.wait_for_dag_run(DAG, run_id, timeout=300)["state"] == "success"

    base = f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/train"
    mapped = airflow_stack.api("GET", f"{base}/listMapped")["task_instances"]
    assert sorted((ti["map_index"], ti["state"]) for ti in mapped) == [(i, "success") for i in range(6)]
    results = [
        airflow_stack.api("GET", f"{base}/xcomEntries/return_value", params={"map_index": i})["value"] for i in range(6)
    ]
    assert len({r["run_id"] for r in results}) == 6 and len(sagemaker.job_names()) == 6
    assert {r["job_state"] for r in results} == {"succeeded"}
    table = airflow_stack.xcom(DAG, run_id, "pick_best")
    assert table["winner"] == "train[4]"
