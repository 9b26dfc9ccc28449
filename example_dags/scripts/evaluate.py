"""Evaluates the model the training run logged: takes its artifact URI and the training run id from Airflow.

MODEL_URI is ``wandb-artifact://entity/project/name:version``. Online, the artifact is fetched from W&B
(and recorded as this run's input); offline, MODEL_FILES maps its file names to the local copies.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import wandb

sys.path.insert(0, str(Path(__file__).parent))
from train import make_data


def load_model(run: wandb.Run, uri: str, files: dict[str, str]) -> dict[str, float]:
    if files.get("model.json"):
        return json.loads(Path(files["model.json"]).read_text())
    artifact = run.use_artifact(uri.removeprefix("wandb-artifact://"))
    return json.loads(Path(artifact.download(), "model.json").read_text())


def main() -> None:
    uri, train_run_id = os.environ["MODEL_URI"], os.environ["TRAIN_RUN_ID"]
    # W&B would resolve a config value starting with wandb-artifact:// itself: store the bare name.
    run = wandb.init(config={"model": uri.removeprefix("wandb-artifact://"), "train_run_id": train_run_id})
    model = load_model(run, uri, json.loads(os.environ.get("MODEL_FILES") or "{}"))
    held_out = make_data(128, seed=1)
    mse = sum((model["w"] * x + model["b"] - y) ** 2 for x, y in held_out) / len(held_out)
    run.summary["eval_mse"] = mse
    print(f"evaluated {uri} (trained by run {train_run_id}): mse={mse:.4f}", flush=True)
    run.finish()


if __name__ == "__main__":
    main()
