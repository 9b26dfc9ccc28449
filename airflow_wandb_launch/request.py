"""What to launch: the job, the W&B run identity chosen before submit, and the env handed to the job."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RUN_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
RUN_ID_LENGTH = 8
DEFAULT_BASE_URL = "https://api.wandb.ai"


def make_run_id(dag_id: str, task_id: str, dag_run_id: str, map_index: int, try_number: int) -> str:
    """A W&B run id unique to one task try, and the same if that try is re-executed.

    Eight characters of ``[a-z0-9]`` like W&B's own ids, hashed from the task instance and its try.
    """
    digest = hashlib.sha256(f"{dag_id}\0{task_id}\0{dag_run_id}\0{map_index}\0{try_number}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(RUN_ID_LENGTH):
        number, index = divmod(number, len(RUN_ID_ALPHABET))
        chars.append(RUN_ID_ALPHABET[index])
    return "".join(chars)


def slug(text: str, max_length: int) -> str:
    """Lower-case ``text`` to ``[a-z0-9-]``, collapsing runs of anything else to one dash."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_length].strip("-")


def app_url(base_url: str) -> str:
    """W&B's web app URL for an API base URL, as the wandb SDK derives it.

    ``https://api.wandb.ai`` -> ``https://wandb.ai``; ``https://api.mycorp.com`` -> ``https://app.mycorp.com``;
    any other host (a self-hosted server serving both) is unchanged.
    """
    base_url = base_url.rstrip("/")
    if "://api.wandb." in base_url:
        return base_url.replace("://api.wandb.", "://wandb.", 1)
    return base_url.replace("://api.", "://app.", 1)


@dataclass(frozen=True)
class WandbCredentials:
    """Where and as whom the job logs. ``api_key`` None means W&B runs offline."""

    api_key: str | None = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    entity: str | None = None
    project: str | None = None

    @property
    def online(self) -> bool:
        return bool(self.api_key)


@dataclass(frozen=True)
class RunIdentity:
    """The W&B run a job logs to, fixed before the job is submitted."""

    run_id: str
    project: str
    entity: str | None = None
    name: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    job_type: str | None = None

    @property
    def run_path(self) -> str:
        """``entity/project/run_id`` (``project/run_id`` when the entity is not known)."""
        return "/".join(p for p in (self.entity, self.project, self.run_id) if p)

    def url(self, base_url: str) -> str | None:
        if not self.entity:
            return None
        return f"{app_url(base_url)}/{self.entity}/{self.project}/runs/{self.run_id}"


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

    def job_env(self, credentials: WandbCredentials, max_value_length: int | None = None) -> dict[str, str]:
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
