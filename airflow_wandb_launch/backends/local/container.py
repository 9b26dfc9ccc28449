"""``local-container``: ``docker run`` of the job's image on the worker, its output in the task log."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from airflow_wandb_launch.backends.local.process import LocalProcessBackend, default_wandb_dir
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.job import JobRef
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import Args

RESOURCE = "local-container"
KNOWN_KEYS = frozenset({"gpus", "volumes", "env", "network", "shm_size"})
STOP_TIMEOUT_SECONDS = 10


def build_docker_run(
    request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str], base_dir: str | None = None
) -> dict[str, Any]:
    """The ``docker run`` command line and the env it reads. Pure.

    Env values never appear on the command line (``-e NAME`` copies them from the docker client's
    environment), so the W&B API key is not visible in the worker's process list.
    """
    args = Args(RESOURCE, resource_args)
    args.only(KNOWN_KEYS)
    if not request.image:
        raise ResourceArgsError(RESOURCE, "image", None, "a container image (or a W&B job whose source is one)")
    job_env = {**env, **{str(k): str(v) for k, v in args.get("env", dict, default={}).items()}}
    offline = job_env.get("WANDB_MODE") == "offline"
    if offline:  # the offline run must land on the worker, where it is read: mount the same folder
        job_env.setdefault("WANDB_DIR", default_wandb_dir())
    name = f"wandb-launch-{request.run.run_id}"
    argv = ["docker", "run", "--rm", "--name", name]
    for key in sorted(job_env):
        argv += ["-e", key]
    if (gpus := args.get("gpus", (str, int))) is not None:
        argv += ["--gpus", str(gpus)]
    for i, volume in enumerate(args.get("volumes", list, default=[])):
        if not isinstance(volume, str) or ":" not in volume:
            raise ResourceArgsError(RESOURCE, f"volumes[{i}]", volume, "'host_path:container_path[:mode]'")
        host, _, rest = volume.partition(":")
        if base_dir and not os.path.isabs(host) and host.startswith("."):
            host = os.path.normpath(os.path.join(base_dir, host))
        argv += ["-v", f"{host}:{rest}"]
    if offline:
        argv += ["-v", f"{job_env['WANDB_DIR']}:{job_env['WANDB_DIR']}"]
    for key, flag in (("network", "--network"), ("shm_size", "--shm-size")):
        if (value := args.get(key, (str, int))) is not None:
            argv += [flag, str(value)]
    argv += [request.image, *request.entry_point]
    return {"argv": argv, "cwd": base_dir, "env": job_env, "job_id": name}


class LocalContainerBackend(LocalProcessBackend):
    """Runs the job's image with ``docker run`` on the worker, streaming its output to the task log."""

    resource = RESOURCE

    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        return build_docker_run(request, resource_args, env, request.base_dir)

    def cancel(self, ref: JobRef) -> None:
        subprocess.run(
            ["docker", "stop", "-t", str(STOP_TIMEOUT_SECONDS), ref.job_id],
            capture_output=True,
            check=False,
            timeout=STOP_TIMEOUT_SECONDS + 30,
        )
        super().cancel(ref)
