"""A stand-in for the training container: what a real job does with W&B, driven by the env it was given."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainingContainer:
    """Called by a cloud emulator when it creates a job; logs the job's W&B run to the W&B fake.

    Like a real W&B Launch job it reads WANDB_ENTITY / WANDB_PROJECT / WANDB_RUN_ID / WANDB_CONFIG
    from its environment, so a wrong env shows up as a missing run.
    """

    server: Any
    logs_run: bool = True
    run_state: str = "finished"
    summary: dict[str, Any] = field(default_factory=lambda: {"loss": 0.12, "accuracy": 0.91})
    artifacts: list[dict[str, Any]] = field(
        default_factory=lambda: [{"name": "model", "type": "model", "aliases": ["latest"]}]
    )
    envs: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, job_name: str, env: dict[str, str]) -> None:
        self.envs.append(env)
        if not self.logs_run:
            return
        self.server.add_run(
            env["WANDB_ENTITY"],
            env["WANDB_PROJECT"],
            env["WANDB_RUN_ID"],
            state=self.run_state,
            summary=self.summary,
            config=json.loads(env.get("WANDB_CONFIG", "{}")),
            name=env.get("WANDB_NAME"),
            group=env.get("WANDB_RUN_GROUP"),
            logged_artifacts=self.artifacts,
        )
