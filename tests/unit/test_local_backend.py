"""local-process: build_process (pure), exit_status (pure), and LocalProcessBackend running real subprocesses."""

from __future__ import annotations

import os
import sys

import pytest

from airflow_wandb_launch.backends import make_backend
from airflow_wandb_launch.backends.local.process import (
    LocalProcessBackend,
    build_process,
    default_wandb_dir,
    exit_status,
)
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.job import JobState
from airflow_wandb_launch.launch.prepare import prepare_launch
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials

RUN_ID = "abcd1234"


def make_request(entry_point=("python", "train.py"), **overrides) -> LaunchRequest:
    values = {
        "resource": "local-process",
        "run": RunIdentity(RUN_ID, "proj", "ent"),
        "entry_point": tuple(entry_point),
    }
    values.update(overrides)
    return LaunchRequest(**values)


# --- build_process ----------------------------------------------------------------------------------------------


def test_build_process_basic():
    payload = build_process(make_request(), {}, {"WANDB_RUN_ID": RUN_ID}, base_dir="/dags")
    assert payload == {
        "argv": ["python", "train.py"],
        "cwd": "/dags",
        "env": {"WANDB_RUN_ID": RUN_ID, "WANDB_DIR": default_wandb_dir()},
        "job_id": f"local-{RUN_ID}",
    }


@pytest.mark.parametrize("image", [None, "python:3.11"])
def test_entry_point_is_required(image):
    with pytest.raises(ResourceArgsError) as info:
        build_process(make_request(entry_point=(), image=image), {}, {})
    assert info.value.key_path == "entry_point"
    assert "local-process: entry_point" in str(info.value)
    assert "an entry point command" in str(info.value)
    assert "local-container" in str(info.value)


@pytest.mark.parametrize(
    ("cwd", "base_dir", "expected"),
    [
        (None, "/dags", "/dags"),
        (None, None, None),
        ("scripts", "/dags", os.path.join("/dags", "scripts")),
        ("../work", "/dags/sub", os.path.join("/dags/sub", "../work")),
        ("/abs/dir", "/dags", "/abs/dir"),
        ("scripts", None, "scripts"),
    ],
)
def test_cwd_relative_to_base_dir(cwd, base_dir, expected):
    resource_args = {"cwd": cwd} if cwd else {}
    assert build_process(make_request(), resource_args, {}, base_dir=base_dir)["cwd"] == expected


def test_backend_build_uses_the_request_base_dir():
    payload = LocalProcessBackend().build(make_request(base_dir="/dags"), {"cwd": "scripts"}, {})
    assert payload["cwd"] == os.path.join("/dags", "scripts")


@pytest.mark.parametrize(
    ("job_env", "resource_env", "expected"),
    [
        ({"A": "1"}, {}, {"A": "1"}),
        ({"A": "1"}, {"B": 2}, {"A": "1", "B": "2"}),
        ({"A": "1"}, {"A": "override"}, {"A": "override"}),
        ({"WANDB_DIR": "/job/wandb"}, {}, {"WANDB_DIR": "/job/wandb"}),
        ({}, {"WANDB_DIR": "/args/wandb"}, {"WANDB_DIR": "/args/wandb"}),
    ],
)
def test_env_merged_and_wandb_dir_default(job_env, resource_env, expected):
    payload = build_process(make_request(), {"env": resource_env}, job_env)
    env = payload["env"]
    assert {k: env[k] for k in expected} == expected
    assert env["WANDB_DIR"] == expected.get("WANDB_DIR", default_wandb_dir())


def test_macros_filled_in_resource_args_before_build():
    request = make_request()
    prepared = prepare_launch(request, {"env": {"OUT": "/tmp/${project_name}/${run_id}"}}, WandbCredentials(None))
    payload = build_process(prepared.request, prepared.resource_args, prepared.env)
    assert payload["env"]["OUT"] == f"/tmp/proj/{RUN_ID}"


@pytest.mark.parametrize(
    ("resource_args", "key_path", "expected"),
    [
        ({"image": "x"}, "image", "one of the known keys ['cwd', 'env']"),
        ({"envs": {}}, "envs", "did you mean 'env'?"),
        ({"cwd": 3}, "cwd", "a string"),
        ({"env": ["A=1"]}, "env", "a mapping"),
    ],
)
def test_bad_resource_args(resource_args, key_path, expected):
    with pytest.raises(ResourceArgsError) as info:
        build_process(make_request(), resource_args, {})
    assert info.value.key_path == key_path
    assert expected in str(info.value)


def test_no_connection_arguments():
    with pytest.raises(TypeError, match="unknown connection arguments"):
        LocalProcessBackend(aws_conn_id="aws_default")
    assert isinstance(make_backend("local-process"), LocalProcessBackend)
    assert LocalProcessBackend.runs_on_worker is True


# --- exit_status ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "tail", "state", "cloud_state", "message_parts"),
    [
        (0, None, JobState.SUCCEEDED, "exit 0", None),
        (0, ["done"], JobState.SUCCEEDED, "exit 0", None),
        (None, None, JobState.RUNNING, "running", None),
        (3, ["line 1", "Traceback: boom"], JobState.FAILED, "exit 3", ["code 3", "line 1\nTraceback: boom"]),
        (1, None, JobState.FAILED, "exit 1", ["code 1"]),
        (-15, ["x"], JobState.STOPPED, "SIGTERM", ["SIGTERM"]),
        (-9, None, JobState.STOPPED, "SIGKILL", ["SIGKILL"]),
        (-2, None, JobState.STOPPED, "SIGINT", ["SIGINT"]),
    ],
)
def test_exit_status(code, tail, state, cloud_state, message_parts):
    status = exit_status(code, tail)
    assert status.state is state
    assert status.cloud_state == cloud_state
    if message_parts is None:
        assert status.message is None
    else:
        for part in message_parts:
            assert part in status.message


def test_failed_without_output_has_no_last_output_section():
    assert "last output" not in exit_status(2, []).message


def test_exit_status_for_a_real_time_signal():
    status = exit_status(-40)
    assert status.state is JobState.STOPPED


# --- a real subprocess ------------------------------------------------------------------------------------------


def _run(backend: LocalProcessBackend, code: str, tmp_path, env=None):
    request = make_request(entry_point=(sys.executable, "-c", code))
    payload = backend.build(request, {"env": {"WANDB_DIR": str(tmp_path / "wandb"), **(env or {})}}, {})
    payload["cwd"] = str(tmp_path)
    return backend.submit(payload, request.run)


def test_submit_and_wait_streams_output(tmp_path):
    backend = LocalProcessBackend()
    code = "import os; print('hello'); print('cwd=' + os.getcwd()); print('X=' + os.environ['X'])"
    ref = _run(backend, code, tmp_path, env={"X": "42"})
    assert ref.resource == "local-process"
    assert ref.job_id == f"local-{RUN_ID}"
    assert ref.cloud["wandb_dir"] == str(tmp_path / "wandb")
    assert (tmp_path / "wandb").is_dir()  # made before the job starts
    lines: list[str] = []
    status = backend.wait(ref, lines.append)
    assert status.state is JobState.SUCCEEDED
    assert lines == ["hello", f"cwd={os.path.realpath(tmp_path)}", "X=42"]
    assert backend.status(ref).state is JobState.SUCCEEDED


def test_failed_process_reports_code_and_tail(tmp_path):
    backend = LocalProcessBackend()
    code = "import sys; print('step 1', flush=True); print('about to fail', file=sys.stderr); sys.exit(3)"
    ref = _run(backend, code, tmp_path)
    lines: list[str] = []
    status = backend.wait(ref, lines.append)
    assert status.state is JobState.FAILED
    assert status.cloud_state == "exit 3"
    assert "step 1" in status.message and "about to fail" in status.message  # stderr is in the log too
    assert lines == ["step 1", "about to fail"]


def test_single_string_entry_point_is_split(tmp_path):
    backend = LocalProcessBackend()
    request = make_request(entry_point=(f"{sys.executable} -c print(7*6)",))
    payload = backend.build(request, {"env": {"WANDB_DIR": str(tmp_path)}}, {})
    lines: list[str] = []
    assert backend.wait(backend.submit(payload, request.run), lines.append).state is JobState.SUCCEEDED
    assert lines == ["42"]


def test_command_that_cannot_start_is_a_clear_error(tmp_path):
    backend = LocalProcessBackend()
    request = make_request(entry_point=("/nonexistent/bin/train",))
    payload = backend.build(request, {"env": {"WANDB_DIR": str(tmp_path)}}, {})
    with pytest.raises(ResourceArgsError, match=r"entry_point.*a command that can start"):
        backend.submit(payload, request.run)


def test_cancel_stops_a_running_process(tmp_path):
    backend = LocalProcessBackend()
    code = "import time; print('ready', flush=True); time.sleep(60); print('never')"
    ref = _run(backend, code, tmp_path)
    assert backend.status(ref).state is JobState.RUNNING
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "ready":
            backend.cancel(ref)

    status = backend.wait(ref, on_line)
    assert lines == ["ready"]
    assert status.state is JobState.STOPPED
    assert status.cloud_state == "SIGTERM"
    backend.cancel(ref)  # a no-op once it ended


def test_cancel_unknown_job_is_a_no_op():
    from airflow_wandb_launch.launch.job import JobRef

    LocalProcessBackend().cancel(JobRef("local-process", "local-unknown", RunIdentity("unknown", "proj")))
