"""``local-process``: the entry point as a subprocess on the worker (no cloud, no Docker), output in the task log."""

from __future__ import annotations

import collections
import logging
import os
import shlex
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_wandb_launch.backends.base import Backend
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import Args
from airflow_wandb_launch.launch.run import RunIdentity

log = logging.getLogger(__name__)
RESOURCE = "local-process"
KNOWN_KEYS = frozenset({"cwd", "env"})
STOP_GRACE_SECONDS = 10
TAIL_LINES = 20


def default_wandb_dir() -> str:
    """Where offline runs are written when the job's env names no ``WANDB_DIR``."""
    return str(Path(tempfile.gettempdir(), "airflow-wandb-launch"))


def build_process(
    request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str], base_dir: str | None = None
) -> dict[str, Any]:
    """The command line, folder and env of the subprocess. Pure."""
    args = Args(RESOURCE, resource_args)
    args.only(KNOWN_KEYS)
    if not request.entry_point:
        expected = "an entry point command (local-process runs no container image: use local-container)"
        raise ResourceArgsError(RESOURCE, "entry_point", request.image, expected)
    cwd = args.get("cwd", str)
    if cwd and base_dir and not os.path.isabs(cwd):
        cwd = os.path.join(base_dir, cwd)
    extra_env = args.get("env", dict, default={})
    job_env = {**env, **{str(k): str(v) for k, v in extra_env.items()}}
    job_env.setdefault("WANDB_DIR", default_wandb_dir())
    return {
        "argv": list(request.entry_point),
        "cwd": cwd or base_dir,
        "env": job_env,
        "job_id": f"local-{request.run.run_id}",
    }


def exit_status(returncode: int | None, tail: list[str] | None = None) -> JobStatus:
    """Normalize a process's return code. Pure."""
    if returncode is None:
        return JobStatus(JobState.RUNNING, "running")
    if returncode == 0:
        return JobStatus(JobState.SUCCEEDED, "exit 0")
    last = "\n".join(tail or [])
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {-returncode}"
        return JobStatus(JobState.STOPPED, name, f"the process was stopped by {name}")
    return JobStatus(
        JobState.FAILED,
        f"exit {returncode}",
        f"the process exited with code {returncode}" + (f"; last output:\n{last}" if last else ""),
    )


class LocalProcessBackend(Backend):
    """Runs the job's entry point as a subprocess of the worker, in its own process group."""

    resource = RESOURCE
    runs_on_worker = True

    def __init__(self, **connection_args: Any) -> None:
        super().__init__(**connection_args)
        self._processes: dict[str, subprocess.Popen] = {}
        self._tails: dict[str, collections.deque] = {}

    @classmethod
    def request_lineage(cls, payload: dict[str, Any]) -> Any:
        from airflow_wandb_launch.backends.local.lineage import local_datasets

        return local_datasets(payload)

    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        if request.image:
            log.warning(
                "local-process runs %s on the worker itself; the image %s is not used (local-container would run it).",
                list(request.entry_point),
                request.image,
            )
        return build_process(request, resource_args, env, request.base_dir)

    def submit(self, payload: dict[str, Any], run: RunIdentity) -> JobRef:
        argv = payload["argv"]
        if len(argv) == 1 and " " in argv[0]:
            argv = shlex.split(argv[0])
        env = {**os.environ, **payload["env"]}
        if payload["env"].get("WANDB_DIR"):
            Path(payload["env"]["WANDB_DIR"]).mkdir(parents=True, exist_ok=True)
        try:
            process = subprocess.Popen(
                argv,
                cwd=payload["cwd"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
            )
        except OSError as err:
            raise ResourceArgsError(self.resource, "entry_point", argv, f"a command that can start ({err})") from err
        job_id = payload["job_id"]
        self._processes[job_id] = process
        self._tails[job_id] = collections.deque(maxlen=TAIL_LINES)
        return JobRef(self.resource, job_id, run, {"pid": process.pid, "wandb_dir": payload["env"].get("WANDB_DIR")})

    def wait(self, ref: JobRef, write_line: Callable[[str], None]) -> JobStatus:
        """Stream the process's output line by line to ``write_line`` until it exits."""
        process = self._processes[ref.job_id]
        tail = self._tails[ref.job_id]
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            write_line(line)
        process.wait()
        return self.status(ref)

    def status(self, ref: JobRef) -> JobStatus:
        process = self._processes[ref.job_id]
        return exit_status(process.poll(), list(self._tails.get(ref.job_id, ())))

    def cancel(self, ref: JobRef) -> None:
        process = self._processes.get(ref.job_id)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        timer = threading.Timer(
            STOP_GRACE_SECONDS, lambda: process.poll() is None and os.killpg(process.pid, signal.SIGKILL)
        )
        timer.daemon = True
        timer.start()
