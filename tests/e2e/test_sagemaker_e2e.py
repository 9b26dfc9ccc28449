"""example_dags/sagemaker_training.py on a real Airflow stack: the train task defers to the real triggerer.

SageMaker is moto on loopback (scripted: InProgress, then Completed or Failed); the training container is
played by ``TrainingContainer``, which logs the job's W&B run to the W&B fake from the env the job was given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.conftest import ENTITY
from tests.e2e.conftest import DAG_ID, read_trigger
from tests.e2e.stack import COMPONENTS, AirflowStack
from tests.emulators.lifecycle import Lifecycle

pytestmark = pytest.mark.e2e

PROJECT = "sagemaker-training"
TRIGGER_CLASSPATH = "airflow_wandb_launch.triggers.launch.LaunchJobTrigger"
# InProgress reads (1 before deferring, then one listing a second in the triggerer). A job that ends within seconds
# of the deferral trips an Airflow 3.3.2 scheduler race: the worker's defer-exit "success" event, processed after the
# resumed TI is already queued again, fails the task (apache/airflow#67287, #72716). Keep the job running longer.
SLOW = 6


@dataclass
class TrainWatch:
    """Called on every poll of the dag run: records the train task's states, and its trigger while deferred."""

    stack: AirflowStack
    run_id: str
    states: list[str] = field(default_factory=list)
    trigger: tuple[str, str] | None = None  # (classpath, kwargs as stored), read while deferred

    def __call__(self) -> None:
        ti = self.stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{self.run_id}/taskInstances/train")
        state = ti["state"]
        if not self.states or self.states[-1] != state:
            self.states.append(state)
        if state == "deferred" and self.trigger is None:
            self.trigger = read_trigger(self.stack.db_path, DAG_ID, self.run_id, "train")

    def trigger_kwargs(self) -> dict[str, Any]:
        """The deferred trigger's kwargs as the triggerer reads them from the metadata DB.

        Airflow 3.3 stores the kwargs of a task's trigger as plain JSON (the execution API does not encrypt
        them); others are fernet-encrypted. Either way, whoever reads the DB reads them: they must hold no secret.
        """
        assert self.trigger is not None, f"no trigger row seen for train; states {self.states}"
        classpath, stored = self.trigger
        assert classpath == TRIGGER_CLASSPATH
        if not stored.startswith("{"):
            stored = Fernet(self.stack.fernet_key.encode()).decrypt(stored.encode()).decode()
        return json.loads(stored)


def run_dag(stack: AirflowStack) -> tuple[str, dict[str, Any], TrainWatch]:
    """Trigger the DAG and wait for the run to end: (run id, task instances by id, what was seen of train)."""
    run_id = stack.trigger(DAG_ID)
    watch = TrainWatch(stack, run_id)
    stack.wait_for_dag_run(DAG_ID, run_id, timeout=120, on_poll=watch)
    return run_id, stack.task_instances(DAG_ID, run_id), watch


@pytest.fixture(scope="module", autouse=True)
def _sagemaker_training_unpaused(airflow_stack: AirflowStack) -> None:
    airflow_stack.wait_for_dag(DAG_ID)
    airflow_stack.unpause(DAG_ID)


def test_train_defers_to_the_triggerer_and_hands_the_model_to_register(airflow_stack, sagemaker, container):
    sagemaker.script(Lifecycle(("InProgress", SLOW), "Completed"))
    run_id, tis, watch = run_dag(airflow_stack)

    assert {t: ti["state"] for t, ti in tis.items()} == {"train": "success", "register": "success"}, watch.states
    # the task really deferred, to the trigger the real triggerer rebuilt from the metadata DB
    assert "deferred" in watch.states, watch.states
    [job] = sagemaker.job_names()
    # read SLOW + 1 times: one Describe before deferring, then the triggerer's listings, then one Describe of the end
    assert sagemaker.meter.reads(job) > SLOW and sagemaker.describe_count(job) == 2
    assert sagemaker.meter.requests().get("ListTrainingJobs", 0) >= SLOW - 1
    kwargs = watch.trigger_kwargs()
    assert kwargs["job_ref"]["job_id"] == job and kwargs["poll_interval"] == 1.0

    xcom = lambda task_id, key="return_value": airflow_stack.xcom(DAG_ID, run_id, task_id, key)  # noqa: E731
    result = xcom("train")
    env = sagemaker.create_request(job)["Environment"]
    run = env["WANDB_RUN_ID"]
    uri = f"wandb-artifact://{ENTITY}/{PROJECT}/model:v0"
    assert xcom("train", "run_id") == run
    assert result["job_id"] == job and result["job_state"] == "succeeded" and result["run_state"] == "finished"
    assert result["run_path"] == f"{ENTITY}/{PROJECT}/{run}"
    assert result["summary"] == container.summary
    assert [a["uri"] for a in result["artifacts"]] == [uri]
    assert xcom("register") == [uri]

    # the W&B API key went to the job only: not into the trigger's kwargs, XCom, the task or component logs
    key = container.server.api_key
    assert env["WANDB_API_KEY"] == key
    train_log = airflow_stack.task_log(DAG_ID, run_id, "train")
    register_log = airflow_stack.task_log(DAG_ID, run_id, "register")
    assert f"{job} is running (InProgress)" in train_log  # written by the trigger, in the triggerer
    assert uri in register_log
    components = [airflow_stack.log_file(name).read_text(errors="replace") for name in COMPONENTS]
    for text in (json.dumps(kwargs), json.dumps(result), train_log, register_log, *components):
        assert key not in text


def test_failed_job_fails_the_run_with_sagemakers_reason(airflow_stack, sagemaker, container):
    reason = "AlgorithmError: CUDA out of memory (scripted)"
    sagemaker.script(Lifecycle(("InProgress", SLOW), ("Failed", None, {"FailureReason": reason})))
    run_id, tis, watch = run_dag(airflow_stack)

    assert airflow_stack.dag_run(DAG_ID, run_id)["state"] == "failed"
    assert {t: ti["state"] for t, ti in tis.items()} == {"train": "failed", "register": "upstream_failed"}
    assert "deferred" in watch.states, watch.states
    assert reason in airflow_stack.task_log(DAG_ID, run_id, "train")
