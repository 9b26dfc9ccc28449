"""local-process through dag.test(): the quickstart example end to end, offline, and the ways a process can end."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_wandb_launch.operators import WandbLaunchOperator
from tests.helpers.airflow import run_dag, task_states, xcoms

pytestmark = pytest.mark.usefixtures("airflow_db")


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def launch(**overrides):
    kwargs = {"task_id": "job", "resource": "local-process", "project": "local-tests"}
    return lambda: WandbLaunchOperator(**{**kwargs, **overrides})


def test_quickstart_example_runs_offline_end_to_end():
    from example_dags.quickstart_local import dag_object

    dag_run = dag_object.test()
    assert task_states(dag_run) == {"train": "success", "evaluate": "success", "report": "success"}
    found = xcoms(dag_object.dag_id, dag_run.run_id)
    trained, evaluated, report = (found[t]["return_value"] for t in ("train", "evaluate", "report"))

    assert trained["offline"] is True and trained["run_url"] is None and trained["job_url"] is None
    assert trained["run_state"] == "finished" and trained["job_state"] == "succeeded"
    assert trained["run_path"] == f"airflow-quickstart/{found['train']['run_id']}"
    [model] = trained["artifacts"]
    assert model["uri"] == "wandb-artifact://airflow-quickstart/quickstart-model:latest"
    assert model["type"] == "model" and "latest" in model["aliases"]
    assert Path(model["files"]["model.json"]).is_file()
    assert trained["summary"]["final_loss"] < 0.05 and trained["summary"]["epoch"] == 29
    # evaluate received the model through XCom and scored it
    assert 0 < evaluated["summary"]["eval_mse"] < 0.05
    assert report["model"] == model["uri"] and report["train_run"] == trained["run_path"]
    assert evaluated["run_id"] != trained["run_id"]


def test_failing_process_fails_the_task_with_its_exit_code_and_output(capfd):
    dag_run, _ = run_dag(launch(entry_point=python("import sys; print('loading data'); sys.exit(3)")))
    assert task_states(dag_run) == {"job": "failed"}
    out = capfd.readouterr().out
    assert "local-process job local-" in out and "failed (exit 3): the process exited with code 3" in out
    assert "loading data" in out


def test_process_that_never_creates_its_run_fails_when_required(capfd):
    dag_run, _ = run_dag(launch(entry_point=python("print('no wandb here')")))
    assert task_states(dag_run) == {"job": "failed"}
    assert "succeeded but W&B has no run" in capfd.readouterr().out


def test_process_without_a_run_passes_when_not_required():
    dag_run, xcom = run_dag(launch(entry_point=python("print('no wandb here')"), require_wandb_run=False))
    assert task_states(dag_run) == {"job": "success"}
    assert xcom["job"]["return_value"]["run_state"] is None


def test_the_job_gets_its_run_identity_in_its_environment():
    code = (
        "import os, wandb; r = wandb.init(); assert r.id == os.environ['WANDB_RUN_ID']; "
        "r.summary['group'] = os.environ['WANDB_RUN_GROUP']; r.summary['tags'] = os.environ['WANDB_TAGS']; "
        "r.summary['lr'] = r.config['lr']; r.finish()"
    )
    dag_run, xcom = run_dag(launch(entry_point=python(code), run_config={"lr": 0.3}, tags=["a", "b"]))
    assert task_states(dag_run) == {"job": "success"}
    result = xcom["job"]["return_value"]
    assert result["summary"]["lr"] == 0.3 and result["summary"]["tags"] == "a,b"
    assert result["summary"]["group"] == f"{dag_run.dag_id}/{dag_run.run_id}"
    assert result["run_id"] == xcom["job"]["run_id"]


def test_execution_timeout_stops_the_process(capfd):
    dag_run, _ = run_dag(
        launch(entry_point=python("import time; time.sleep(120)"), execution_timeout=timedelta(seconds=3))
    )
    assert task_states(dag_run) == {"job": "failed"}
    out = capfd.readouterr().out
    assert "the task was interrupted: stopping local-process job" in out


def test_bad_resource_args_fail_before_anything_runs(tmp_path, capfd):
    marker = tmp_path / "ran"
    dag_run, xcom = run_dag(
        launch(entry_point=python(f"open({str(marker)!r}, 'w')"), resource_args={"cwd": ".", "envs": {}})
    )
    assert task_states(dag_run) == {"job": "failed"}
    assert not marker.exists() and "job_id" not in xcom.get("job", {})
    assert "local-process: envs = {}: expected one of the known keys ['cwd', 'env']; did you mean 'env'?" in (
        capfd.readouterr().out
    )
