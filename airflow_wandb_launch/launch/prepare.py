"""Prepare once, for every backend: load ``resource_args``, fill W&B Launch's macros, and compute the job's env."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import fill_macros as fill
from airflow_wandb_launch.launch.resource_args import load_resource_args
from airflow_wandb_launch.launch.run import WandbCredentials


@dataclass(frozen=True)
class PreparedLaunch:
    """What a backend's ``build`` gets: the request, its config with macros filled, and the job's environment."""

    request: LaunchRequest
    resource_args: dict[str, Any]
    env: dict[str, str]


def prepare_launch(
    request: LaunchRequest,
    resource_args: Mapping[str, Any] | str | os.PathLike | None,
    credentials: WandbCredentials,
    *,
    resource_names: tuple[str, ...] = (),
    max_env_value_length: int | None = None,
    with_api_key: bool = True,
    fill_macros: bool = True,
) -> PreparedLaunch:
    """Load ``resource_args`` (dict, file or YAML text; a ``{resource: {...}}`` wrapper unwrapped), fill macros
    such as ``${run_id}``, and compute the W&B environment the job runs with. Pure but for reading the file.

    :param request: the launch.
    :param resource_args: the user's queue config.
    :param credentials: where and as whom the run logs.
    :param resource_names: the backend's names a wrapper may use (its resource and aliases).
    :param max_env_value_length: the cloud's limit on one env value (``WANDB_CONFIG`` is split past it).
    :param with_api_key: put ``WANDB_API_KEY`` in the job's env (False: the image gets it elsewhere).
    :param fill_macros: fill W&B Launch's macros (False when someone else does: a queue's agent).
    """
    loaded = load_resource_args(
        resource_args, resource=request.resource, resource_names=resource_names, base_dir=request.base_dir
    )
    env = request.job_env(credentials, max_env_value_length, with_api_key=with_api_key)
    return PreparedLaunch(request, fill(loaded, request.macros()) if fill_macros else loaded, env)
