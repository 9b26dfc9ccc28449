"""Exactly one job per try chain, against the emulators: persist-then-submit, success recorded before Airflow
records it, and a clear (a new try chain) that stops the old job and launches anew while a retry reattaches.

A worker's death is played by the emulator losing a call's response (the call took effect, the caller never
learns it) or by ``post_execute`` failing once after the task's result is recorded; the launch code is not patched.
"""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_wandb_launch.launch.memory import JOB_STATE_KEY, LaunchRecord, Phase
from airflow_wandb_launch.operators import WandbLaunchSageMakerOperator
from airflow_wandb_launch.operators.vertex import WandbLaunchVertexAIOperator
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.airflow import run_dag, task_states
from tests.integration.test_sagemaker_operator import IMAGE, SEED_CONFIG
from tests.integration.test_vertex_operator import IMAGE as VERTEX_IMAGE
from tests.integration.test_vertex_operator import SEED_CONFIG as VERTEX_CONFIG

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def one_attempt(sagemaker, monkeypatch):
    """botocore makes one attempt per call, so a lost response reaches the operator."""
    conn = json.loads(sagemaker.airflow_conn_env())
    conn["extra"]["config_kwargs"] = {"retries": {"total_max_attempts": 1, "mode": "standard"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))


def sagemaker_train(**overrides):
    kwargs = {
        "task_id": "train",
        "image": IMAGE,
        "resource_args": SEED_CONFIG,
        "project": "once-tests",
        "poll_interval": 0.05,
        "retries": 1,
        "retry_delay": timedelta(0),
    }
    return lambda: WandbLaunchSageMakerOperator(**{**kwargs, **overrides})


def test_a_submit_whose_answer_was_lost_is_not_submitted_again(sagemaker, container, one_attempt, capfd):
    """CreateTrainingJob created the job but its answer never came (the worker died with it in flight): the
    retry submits under the recorded name and run id, and attaches to that one job."""
    sagemaker.faults.lose_response("CreateTrainingJob", status=500)
    dag_run, xcom = run_dag(sagemaker_train())

    assert task_states(dag_run) == {"train": "success"}
    [job] = sagemaker.job_names()  # one job, not two
    result = xcom["train"]["return_value"]
    assert result["job_id"] == job and result["job_state"] == "succeeded"
    # the retry kept the first try's run id: the one the job was given
    assert result["run_id"] == sagemaker.create_request(job)["Environment"]["WANDB_RUN_ID"]
    assert f"Training job {job} exists already; attaching to it." in capfd.readouterr().out


def test_a_vertex_submit_whose_answer_was_lost_is_found_by_its_run_label(vertex, wandb_conn, capfd):
    """Vertex names jobs itself: the retry finds the first try's job by its ``wandb-run-id`` label."""
    from tests.helpers.container import TrainingContainer

    vertex.on_create.append(TrainingContainer(wandb_conn))
    vertex.faults.lose_response("CreateCustomJob", status=504)
    dag_run, xcom = run_dag(
        lambda: WandbLaunchVertexAIOperator(
            task_id="train",
            image=VERTEX_IMAGE,
            resource_args=VERTEX_CONFIG,
            project="once-tests",
            poll_interval=0.05,
            retries=1,
            retry_delay=timedelta(0),
        )
    )

    assert task_states(dag_run) == {"train": "success"}
    [job] = vertex.job_names()
    result = xcom["train"]["return_value"]
    assert result["job_id"] == job
    assert result["run_id"] == vertex.create_request(job)["labels"]["wandb-run-id"]
    assert "An earlier try's submit of W&B run" in capfd.readouterr().out


class DiesAfterSuccessOnce(WandbLaunchSageMakerOperator):
    """Its first try dies after the task's work is done, before Airflow records the success."""

    died = False

    def post_execute(self, context, result=None):
        if not DiesAfterSuccessOnce.died:
            DiesAfterSuccessOnce.died = True
            raise SystemExit("the worker died")
        super().post_execute(context, result)


def test_a_try_that_died_after_success_is_not_trained_again(sagemaker, container, capfd):
    dag_run, xcom = run_dag(
        lambda: DiesAfterSuccessOnce(
            task_id="train",
            image=IMAGE,
            resource_args=SEED_CONFIG,
            project="once-tests",
            poll_interval=0.05,
            retries=1,
            retry_delay=timedelta(0),
        )
    )

    assert DiesAfterSuccessOnce.died and task_states(dag_run) == {"train": "success"}
    [job] = sagemaker.job_names()  # the retry returned the recorded result: no second job
    result = xcom["train"]["return_value"]
    assert result["job_id"] == job and result["job_state"] == "succeeded" and result["run_state"] == "finished"
    assert "An earlier try's job" in capfd.readouterr().out


def test_the_api_key_is_left_out_of_the_job_when_asked(sagemaker, container, wandb_conn):
    dag_run, _ = run_dag(sagemaker_train(wandb_api_key_env=False, require_wandb_run=False))
    assert task_states(dag_run) == {"train": "success"}
    [job] = sagemaker.job_names()
    environment = sagemaker.create_request(job)["Environment"]
    assert "WANDB_API_KEY" not in environment and wandb_conn.api_key not in json.dumps(environment)
    assert environment["WANDB_RUN_ID"]


def test_the_api_key_is_in_the_job_by_default(sagemaker, container, wandb_conn):
    run_dag(sagemaker_train())
    [job] = sagemaker.job_names()
    assert sagemaker.create_request(job)["Environment"]["WANDB_API_KEY"] == wandb_conn.api_key


# --- clear vs retry: what Airflow records about the try chain ----------------------------------------------------


class _Store(dict):
    """Airflow's task state store, as far as the operator uses it (get/set/delete)."""

    def set(self, key, value, **_):
        self[key] = value

    def delete(self, key):
        self.pop(key, None)


def _context(store: _Store, *, try_number: int, max_tries: int) -> dict:
    ti = SimpleNamespace(
        dag_id="once",
        task_id="train",
        run_id="manual_1",
        map_index=-1,
        try_number=try_number,
        max_tries=max_tries,
        start_date=None,
        xcom_push=lambda key, value: None,
    )
    return {"ti": ti, "task_state_store": store}


def _defer(store: _Store, *, try_number: int, max_tries: int) -> None:
    operator = WandbLaunchSageMakerOperator(
        task_id="train", image=IMAGE, resource_args=SEED_CONFIG, project="once-tests", retries=1
    )
    with pytest.raises(TaskDeferred):
        operator.execute(_context(store, try_number=try_number, max_tries=max_tries))


def test_a_retry_reattaches_but_a_clear_stops_the_job_and_launches_anew(sagemaker, wandb_conn):
    sagemaker.default_lifecycle = Lifecycle("InProgress")
    store = _Store()
    _defer(store, try_number=1, max_tries=1)  # try 1 of a task with retries=1: max_tries 1
    [first] = sagemaker.job_names()
    assert LaunchRecord.from_dict(store[JOB_STATE_KEY]).phase is Phase.SUBMITTED

    _defer(store, try_number=2, max_tries=1)  # a retry: the same chain
    assert sagemaker.job_names() == [first] and sagemaker.stop_calls() == []

    _defer(store, try_number=3, max_tries=3)  # cleared after try 2: Airflow set max_tries = 2 + retries
    assert sagemaker.stop_calls() == [first]
    [second] = [name for name in sagemaker.job_names() if name != first]
    record = LaunchRecord.from_dict(store[JOB_STATE_KEY])
    assert (record.chain, record.job_id) == (3, second)


def test_a_cleared_success_trains_anew(sagemaker, container):
    store = _Store()
    operator = WandbLaunchSageMakerOperator(
        task_id="train", image=IMAGE, resource_args=SEED_CONFIG, project="once-tests", deferrable=False
    )
    operator.poll_interval = 0.05
    first = operator.execute(_context(store, try_number=1, max_tries=0))
    assert LaunchRecord.from_dict(store[JOB_STATE_KEY]).phase is Phase.SUCCEEDED
    again = operator.execute(_context(store, try_number=1, max_tries=0))  # the same chain: the recorded result
    assert again == first and len(sagemaker.job_names()) == 1
    cleared = operator.execute(_context(store, try_number=2, max_tries=1))  # cleared: max_tries = 1 + 0
    assert cleared["job_id"] != first["job_id"] and len(sagemaker.job_names()) == 2
    assert sagemaker.stop_calls() == []  # the old job had ended: nothing to stop


def test_a_queue_push_whose_answer_was_lost_is_found_by_its_run_id(wandb_conn, capfd):
    """W&B assigns queue item ids: the retry finds the first try's item by the run id its spec carries."""
    from airflow_wandb_launch.operators import WandbLaunchQueueOperator
    from tests.conftest import ENTITY
    from tests.emulators.wandb_queue import AgentScript

    queues = wandb_conn.queues
    queues.reset()
    queues.add_queue(ENTITY, name="once-queue", resource="sagemaker", script=AgentScript(claim_after=2))
    wandb_conn.lose_next("pushToRunQueueByName")
    dag_run, xcom = run_dag(
        lambda: WandbLaunchQueueOperator(
            task_id="train",
            queue_name="once-queue",
            image=IMAGE,
            project="once-tests",
            poll_interval=0.05,
            retries=1,
            retry_delay=timedelta(0),
        )
    )

    assert task_states(dag_run) == {"train": "success"}
    [item] = queues.items("once-queue")  # one item, not two
    result = xcom["train"]["return_value"]
    assert result["job_id"] == item["id"] and result["run_id"] == item["spec"]["run_id"]
    assert "An earlier try's submit of W&B run" in capfd.readouterr().out
    queues.reset()
