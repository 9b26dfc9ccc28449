"""Who the job logs as and where: W&B credentials, and the run identity chosen before submit."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
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
        """The run's page in W&B's web app; None while the entity is unknown."""
        if not self.entity:
            return None
        return f"{app_url(base_url)}/{self.entity}/{self.project}/runs/{self.run_id}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tags": list(self.tags)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunIdentity:
        return cls(**{**data, "tags": tuple(data.get("tags") or ())})

    @classmethod
    def from_path(cls, run_path: str) -> RunIdentity:
        """The identity of ``entity/project/run_id`` (or ``project/run_id``)."""
        parts = run_path.strip("/").split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"run_path = {run_path!r}: expected 'entity/project/run_id'")
        return cls(run_id=parts[-1], project=parts[-2], entity=parts[0] if len(parts) == 3 else None)
