"""local-container through dag.test(): the `docker run` command line the worker executes.

Docker's daemon is not available in CI, so a stand-in `docker` on PATH records its argv and runs the
entry point with the environment the real client would pass (`-e NAME` copies the client's value).
A test against a real daemon runs where one answers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from airflow_wandb_launch.operators import WandbLaunchOperator
from tests.conftest import ROOT
from tests.helpers.airflow import run_dag, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")
TRAIN = str(ROOT / "example_dags" / "scripts" / "train.py")
FAKE_DOCKER = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
if args[0] != "run":
    sys.exit(0)
takes_value = {{"--name", "-e", "-v", "--gpus", "--network", "--shm-size"}}
i = 1
while args[i].startswith("-"):
    i += 2 if args[i] in takes_value else 1
command = args[i + 1:]
os.execvp(command[0], command)
"""


@pytest.fixture
def docker_calls(tmp_path, monkeypatch):
    log = tmp_path / "docker-calls.jsonl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER.format(python=sys.executable, log=str(log)))
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return lambda: [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_docker_run_gets_the_image_the_env_names_and_the_options(docker_calls):
    dag_run, xcom = run_dag(
        lambda: WandbLaunchOperator(
            task_id="train",
            resource="local-container",
            image="registry.example/train:1",
            entry_point=["python", TRAIN, "--epochs", "3"],
            project="container-tests",
            resource_args={"gpus": "all", "volumes": ["/data:/data:ro"], "shm_size": "2g"},
        )
    )
    assert task_states(dag_run) == {"train": "success"}
    [argv] = docker_calls()
    run_id = xcom["train"]["run_id"]
    assert argv[:4] == ["run", "--rm", "--name", f"wandb-launch-{run_id}"]
    image_at = argv.index("registry.example/train:1")
    assert argv[image_at + 1 :] == ["python", TRAIN, "--epochs", "3"]
    options = argv[4:image_at]
    env_names = [options[i + 1] for i, flag in enumerate(options) if flag == "-e"]
    assert {"WANDB_RUN_ID", "WANDB_PROJECT", "WANDB_MODE", "WANDB_DIR"} <= set(env_names)
    assert not any("=" in name for name in env_names)  # values travel in the env, never on the command line
    assert options[options.index("--gpus") : options.index("--gpus") + 2] == ["--gpus", "all"]
    assert "/data:/data:ro" in options and "2g" in options
    result = xcom["train"]["return_value"]
    assert result["offline"] is True and result["run_state"] == "finished"
    assert result["artifacts"][0]["uri"] == "wandb-artifact://container-tests/quickstart-model:latest"


def test_no_image_is_an_error_before_docker_runs(docker_calls, capfd):
    dag_run, _ = run_dag(
        lambda: WandbLaunchOperator(
            task_id="train", resource="local-container", entry_point=["python", TRAIN], project="container-tests"
        )
    )
    assert task_states(dag_run) == {"train": "failed"}
    assert docker_calls() == []
    assert "local-container: image = None: expected a container image" in capfd.readouterr().out


def _docker_daemon() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0


@pytest.mark.skipif(not _docker_daemon(), reason="no Docker daemon on this machine")
def test_real_docker_runs_a_container():
    dag_run, xcom = run_dag(
        lambda: WandbLaunchOperator(
            task_id="hello",
            resource="local-container",
            image="python:3.11-slim",
            entry_point=["python", "-c", "print('hello from the container')"],
            project="container-tests",
            require_wandb_run=False,
        )
    )
    assert task_states(dag_run) == {"hello": "success"}
    assert xcom["hello"]["return_value"]["job_state"] == "succeeded"
