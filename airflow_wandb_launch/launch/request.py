"""What to launch: the job, its W&B run, the Airflow task it belongs to, and the env handed to the job."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_wandb_launch.launch.run import RUN_ID_LENGTH, RunIdentity, WandbCredentials, slug


@dataclass(frozen=True)
class LaunchRequest:
    """One launch: what runs, where it logs, and the Airflow task it belongs to."""

    resource: str
    run: RunIdentity
    image: str | None = None
    job: str | None = None
    entry_point: tuple[str, ...] = ()
    run_config: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    airflow_ids: Mapping[str, str] = field(default_factory=dict)
    #: the DAG file's folder: relative paths in the request resolve against it.
    base_dir: str | None = None
    #: resource-specific launch options (queue mode: queue name, template variables, priority).
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def job_name(self) -> str:
        """A cloud job name unique per task try: ``<dag>-<task>-<run id>``, at most 63 characters."""
        ids = self.airflow_ids
        stem = slug(f"{ids.get('dag_id', 'airflow')}-{ids.get('task_id', 'task')}", 63 - RUN_ID_LENGTH - 1)
        return f"{stem}-{self.run.run_id}" if stem else f"airflow-{self.run.run_id}"

    def macros(self) -> dict[str, str]:
        """Values for W&B Launch's ``${...}`` macros in queue configs."""
        return {
            "image_uri": self.image or "",
            "project_name": self.run.project,
            "entity_name": self.run.entity or "",
            "run_id": self.run.run_id,
            "run_name": self.run.name or "",
        }

    def job_env(
        self, credentials: WandbCredentials, max_value_length: int | None = None, *, with_api_key: bool = True
    ) -> dict[str, str]:
        """The environment the job runs with: W&B's launch variables, then the user's ``env``.

        ``WANDB_CONFIG`` longer than ``max_value_length`` is split into ``WANDB_CONFIG_0..N`` as W&B
        Launch does (SageMaker caps env values at 512 characters).
        """
        run = self.run
        env = {
            "WANDB_RUN_ID": run.run_id,
            "WANDB_PROJECT": run.project,
            "WANDB_BASE_URL": credentials.base_url,
            "WANDB_RESUME": "allow",
            "WANDB_LAUNCH": "True",
        }
        optional = {
            "WANDB_ENTITY": run.entity,
            "WANDB_NAME": run.name,
            "WANDB_RUN_GROUP": run.group,
            "WANDB_TAGS": ",".join(run.tags) or None,
            "WANDB_JOB_TYPE": run.job_type,
            "WANDB_DOCKER": self.image,
        }
        env.update({k: v for k, v in optional.items() if v})
        if credentials.online:
            if with_api_key:
                env["WANDB_API_KEY"] = credentials.api_key  # type: ignore[assignment]
        else:
            env["WANDB_MODE"] = "offline"
        if self.job:
            env["WANDB_ARTIFACTS"] = json.dumps({"_wandb_job": self.job})
        config = json.dumps(dict(self.run_config))
        if max_value_length and len(config) > max_value_length:
            for i in range(0, len(config), max_value_length):
                env[f"WANDB_CONFIG_{i // max_value_length}"] = config[i : i + max_value_length]
        else:
            env["WANDB_CONFIG"] = config
        return {**env, **{str(k): str(v) for k, v in self.env.items()}}
