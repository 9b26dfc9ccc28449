"""A tiny training job for the examples: fits y = w*x + b with SGD and logs a model artifact to W&B.

It reads everything from the environment the launch operator sets (WANDB_RUN_ID, WANDB_PROJECT,
WANDB_CONFIG, WANDB_MODE=offline when there is no API key), like any W&B Launch job.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

import wandb


def make_data(n: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(x, 3.0 * x + 2.0 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(n))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--fail", action="store_true", help="exit with an error (for failure demos)")
    args = parser.parse_args()

    run = wandb.init(config={"epochs": args.epochs, "lr": args.lr})
    config = run.config
    data = make_data(256, seed=config.get("seed", 0))
    w = b = 0.0
    for epoch in range(int(config["epochs"])):
        grad_w = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
        grad_b = sum(2 * (w * x + b - y) for x, y in data) / len(data)
        w, b = w - config["lr"] * grad_w, b - config["lr"] * grad_b
        loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
        run.log({"epoch": epoch, "loss": loss})
        print(f"epoch {epoch}: loss {loss:.4f}", flush=True)
    if args.fail:
        raise SystemExit("training failed on purpose (--fail)")

    model_file = Path(tempfile.mkdtemp()) / "model.json"
    model_file.write_text(json.dumps({"w": w, "b": b}))
    artifact = wandb.Artifact(config.get("model_name", "quickstart-model"), type="model", metadata={"loss": loss})
    artifact.add_file(str(model_file))
    run.log_artifact(artifact)
    run.summary["final_loss"] = loss
    print(f"trained w={w:.3f} b={b:.3f} loss={loss:.4f}", flush=True)
    run.finish()


if __name__ == "__main__":
    main()
