"""``@task.wandb_launch`` through dag.test(): the function says what to launch, the task is a WandbLaunchOperator.

local-process offline (no cloud, no W&B account), and SageMaker on the emulator for a task that defers.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk import task

from airflow_wandb_launch.decorators.wandb_launch import OVERRIDE_KEYS, read_return_value, wandb_launch_task
from airflow_wandb_launch.errors import ResourceArgsError
from tests.conftest import ROOT
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.airflow import run_dag, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

#: a job that logs its config and environment to its W&B run's summary.
JOB = (
    "import os, wandb; r = wandb.init(); "
    "r.summary['lr'] = r.config.get('lr'); r.summary['env_name'] = r.config.get('env'); "
    "r.summary['greeting'] = os.environ.get('GREETING'); r.summary['tags'] = os.environ.get('WANDB_TAGS'); "
    "r.finish()"
)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def by_map_index(dag_id: str, run_id: str, task_id: str) -> dict[int, dict]:
    """``{map_index: {xcom key: value}}`` of one (mapped) task."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    found: dict[int, dict] = {}
    with create_session() as session:
        rows = session.execute(
            select(XComModel.map_index, XComModel.key, XComModel.value).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.task_id == task_id
            )
        ).all()
    for row in rows:
        found.setdefault(row.map_index, {})[row.key] = XComModel.deserialize_value(row)
    return found


def mapped_states(dag_run, task_id: str) -> dict[int, str]:
    return {
        ti.map_index: str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        for ti in dag_run.get_task_instances()
        if ti.task_id == task_id
    }


# --- what the function returns ---------------------------------------------------------------------------------


def test_returned_run_config_launches_like_the_operator():
    calls = []

    def build():
        @task.wandb_launch(resource="local-process", project="deco-tests", entry_point=python(JOB))
        def train(lr: float) -> dict:
            calls.append(lr)
            return {"lr": lr, "env": "CartPole-v1"}  # not all override keys: the run's config

        train(0.3)

    dag_run, xcom = run_dag(build)
    assert task_states(dag_run) == {"train": "success"}
    assert calls == [0.3]
    result = xcom["train"]["return_value"]
    assert result["resource"] == "local-process" and result["job_state"] == "succeeded"
    assert result["run_state"] == "finished" and result["offline"] is True
    assert result["run_id"] == xcom["train"]["run_id"] and result["job_id"] == xcom["train"]["job_id"]
    assert result["run_path"] == f"deco-tests/{result['run_id']}" == xcom["train"]["run_path"]
    assert result["summary"]["lr"] == 0.3 and result["summary"]["env_name"] == "CartPole-v1"
    # one return_value, not one XCom per LaunchResult key (the `-> dict` annotation does not imply multiple_outputs)
    assert "summary" not in xcom["train"] and "failure" not in xcom["train"]


def test_returned_overrides_choose_the_command_env_tags_and_config():
    def build():
        @task.wandb_launch(resource="local-process", project="deco-tests", tags=["from-decorator"])
        def train(greeting: str, ds=None) -> dict:
            assert ds is not None  # context keys reach the function
            return {
                "entry_point": python(JOB),
                "env": {"GREETING": greeting},
                "tags": ["sweep", "from-function"],
                "run_config": {"env": "CartPole-v1", "lr": 0.05},
            }

        train("hello")

    dag_run, xcom = run_dag(build)
    assert task_states(dag_run) == {"train": "success"}
    summary = xcom["train"]["return_value"]["summary"]
    assert summary["greeting"] == "hello" and summary["tags"] == "sweep,from-function"
    assert summary["lr"] == 0.05 and summary["env_name"] == "CartPole-v1"


def test_expand_maps_over_the_function_arguments_one_run_each():
    def build():
        @task.wandb_launch(resource="local-process", project="deco-tests", entry_point=python(JOB))
        def train(lr: float) -> dict:
            return {"run_config": {"lr": lr}}

        train.expand(lr=[0.1, 0.2, 0.3])

    dag_run, _ = run_dag(build)
    assert mapped_states(dag_run, "train") == {0: "success", 1: "success", 2: "success"}
    found = by_map_index(dag_run.dag_id, dag_run.run_id, "train")
    results = [found[i]["return_value"] for i in range(3)]
    assert [r["summary"]["lr"] for r in results] == [0.1, 0.2, 0.3]
    run_ids = [r["run_id"] for r in results]
    assert len(set(run_ids)) == 3
    assert run_ids == [found[i]["run_id"] for i in range(3)]


def test_bad_return_value_fails_the_task_before_anything_runs(tmp_path, capfd):
    marker = tmp_path / "ran"

    def build():
        @task.wandb_launch(resource="local-process", project="deco-tests")
        def train() -> dict:
            return {"entry_point": python(f"open({str(marker)!r}, 'w')"), "tag": ["x"]}

        train()

    dag_run, xcom = run_dag(build)
    assert task_states(dag_run) == {"train": "failed"}
    assert not marker.exists() and "job_id" not in xcom.get("train", {})
    message = "local-process: return value.tag = ['x']: expected one of the override keys"
    assert xcom["train"]["failure"]["reason"].startswith(message)
    out = capfd.readouterr().out
    assert message in out and "did you mean 'tags'?" in out


# --- read_return_value: the rule, and what each key must be ----------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "overrides"),
    [
        ({"lr": 0.1, "epochs": 3}, {"run_config": {"lr": 0.1, "epochs": 3}}),
        ({}, {"run_config": {}}),
        # not all override keys: a config that happens to name one
        ({"env": "CartPole-v1", "lr": 0.1}, {"run_config": {"env": "CartPole-v1", "lr": 0.1}}),
        ({"image": "x.png", "image_size": 224}, {"run_config": {"image": "x.png", "image_size": 224}}),
        ({"run_config": {"lr": 0.1}}, {"run_config": {"lr": 0.1}}),
        ({"run_config": {"env": "prod"}, "tags": ("a",)}, {"run_config": {"env": "prod"}, "tags": ["a"]}),
        ({"image": "img:2", "env": {"A": "1", "N": 2}}, {"image": "img:2", "env": {"A": "1", "N": 2}}),
        (
            {"entry_point": "python t.py", "resource_args": "q.yaml"},
            {"entry_point": "python t.py", "resource_args": "q.yaml"},
        ),
    ],
)
def test_return_value_is_the_run_config_or_overrides(returned, overrides):
    assert read_return_value("local-process", returned) == overrides


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("python train.py", "return value = 'python train.py': expected a dict: the run's config, or launch overrides"),
        (None, "return value = None: expected a dict"),
        ({"image": "img:1", "entry_poin": "x"}, "return value.entry_poin = 'x': expected one of the override keys"),
        ({"run_config": {}, "imgae": "img:1"}, "did you mean 'image'?"),
        ({"run_config": {}, "lr": 0.1}, "return value.lr = 0.1: expected one of the override keys"),
        ({"run_config": {}, "lr": 0.1}, "the run's config goes inside run_config"),
        ({"run_config": {}, 1: "x"}, "return value.1 = 'x': expected one of the override keys"),
        ({"image": "i", "imgae": "j"}, "to launch it as the run's config, return {'run_config': {...}}"),
        ({"run_config": [1]}, "return value.run_config = [1]: expected a dict: the run's config"),
        ({"run_config": {"when": object}}, "return value.run_config.when = <class 'object'>: expected a JSON value"),
        ({"lr": float("nan")}, "return value.lr = nan: expected a finite number"),
        ({"run_config": {"a": [1, {2: 3}]}}, "return value.run_config.a[1].2 = 3: expected a string key"),
        ({"entry_point": ["python", 3]}, "return value.entry_point[1] = 3: expected a string"),
        ({"entry_point": ""}, "return value.entry_point = '': expected a command"),
        ({"image": ""}, "return value.image = '': expected a container image URI"),
        ({"resource_args": 3}, "return value.resource_args = 3: expected the resource's W&B Launch queue config"),
        ({"env": ["A=1"]}, "return value.env = ['A=1']: expected a dict of environment variables"),
        ({"env": {"A": {"b": 1}}}, "return value.env.A = {'b': 1}: expected a string"),
        ({"env": {"WANDB_RUN_ID": "mine"}}, "return value.env.WANDB_RUN_ID = 'mine': expected no value"),
        ({"env": {"HF_TOKEN": None}}, "return value.env.HF_TOKEN = <masked>: expected a string"),
        ({"tags": "a,b"}, "return value.tags = 'a,b': expected a list of tags"),
    ],
)
def test_bad_return_values_name_the_key(returned, message):
    with pytest.raises(ResourceArgsError) as err:
        read_return_value("local-process", returned)
    assert message in str(err.value)
    assert str(err.value).startswith("local-process: return value")


def test_unknown_override_key_lists_the_known_ones():
    with pytest.raises(ResourceArgsError) as err:
        read_return_value("sagemaker", {"run_config": {}, "entrypoint": "python t.py"})
    assert str(err.value).startswith(
        f"sagemaker: return value.entrypoint = 'python t.py': expected one of the override keys {list(OVERRIDE_KEYS)}; "
        "did you mean 'entry_point'?"
    )


def test_nothing_to_run_is_an_error_of_the_return_value(capfd):
    def build():
        @task.wandb_launch(resource="local-process", project="deco-tests")
        def train() -> dict:
            return {"lr": 0.1}

        train()

    dag_run, _ = run_dag(build)
    assert task_states(dag_run) == {"train": "failed"}
    assert "local-process: return value.entry_point = <missing>: expected an image, a W&B job or an entry_point" in (
        capfd.readouterr().out
    )


def test_decorated_task_without_what_to_run_parses():
    """What to run may come from the function: the decorator alone does not need it."""
    from airflow.sdk import DAG

    with DAG("deco_parse", schedule=None):

        @wandb_launch_task(resource="sagemaker", project="p")
        def train() -> dict:
            return {"image": "img:1"}

        op = train().operator
    assert op.custom_operator_name == "@task.wandb_launch" and op.resource == "sagemaker"
    assert {"op_kwargs", "run_config", "entry_point", "image", "env"} <= set(op.template_fields)
    assert op.multiple_outputs is False and not op.overwrite_rtif_after_execution


# --- a task that defers --------------------------------------------------------------------------------------


def test_deferred_task_resumes_without_calling_the_function_again(sagemaker, container, triggers):
    calls = []
    sagemaker.script(Lifecycle(("InProgress", 3), "Completed"))

    def build():
        @task.wandb_launch(
            resource="sagemaker",
            resource_args=str(ROOT / "example_dags" / "sagemaker_queue_config.yaml"),
            project="deco-sm",
            poll_interval=0.2,
        )
        def train(lr: float) -> dict:
            calls.append(lr)
            if len(calls) > 1:
                raise AssertionError("called again on resumption")
            return {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest", "run_config": {"lr": lr}}

        train(0.5)

    dag_run, xcom = run_dag(build)
    assert task_states(dag_run) == {"train": "success"}
    assert calls == [0.5] and len(triggers) == 1  # it deferred, and resumed in execute_complete
    [job] = sagemaker.job_names()
    body = sagemaker.create_request(job)
    assert body["AlgorithmSpecification"]["TrainingImage"].endswith("/train:latest")
    assert json.loads(body["Environment"]["WANDB_CONFIG"]) == {"lr": 0.5}
    result = xcom["train"]["return_value"]
    assert result["job_id"] == job and result["summary"] == {"loss": 0.12, "accuracy": 0.91}


def test_retry_reattaching_to_the_earlier_job_does_not_call_the_function_again(sagemaker, container, monkeypatch):
    """Try 1 submits, then cannot read the job and fails; try 2 reattaches to that job, without the function."""
    conn = json.loads(sagemaker.airflow_conn_env())  # one attempt per API call, so the faults are counted exactly
    conn["extra"]["config_kwargs"] = {"retries": {"total_max_attempts": 1, "mode": "standard"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    sagemaker.script(Lifecycle(("InProgress", 3), "Completed"))
    sagemaker.faults.inject(500, times=1, method="DescribeTrainingJob")
    sagemaker.faults.inject(500, times=5, method="ListTrainingJobs")
    calls = []

    def build():
        @task.wandb_launch(
            resource="sagemaker",
            resource_args=str(ROOT / "example_dags" / "sagemaker_queue_config.yaml"),
            project="deco-sm",
            poll_interval=0.01,
            retries=1,
            retry_delay=timedelta(0),
        )
        def train() -> dict:
            calls.append(len(calls) + 1)
            return {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest", "run_config": {"try": 1}}

        train()

    dag_run, xcom = run_dag(build)
    assert task_states(dag_run) == {"train": "success"}
    [job] = sagemaker.job_names()  # one job, not two
    assert calls == [1] and xcom["train"]["return_value"]["job_id"] == job


# --- registration ------------------------------------------------------------------------------------------------


def test_task_wandb_launch_is_the_providers_decorator():
    assert task.wandb_launch is wandb_launch_task
    assert Path(sys.modules[wandb_launch_task.__module__].__file__).name == "wandb_launch.py"
