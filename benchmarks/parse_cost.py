"""What a DAG file pays to import our operators, against Airflow's own baseline and the official providers.

Each figure is the median wall time of a fresh interpreter importing the module (so nothing is cached
in-process), minus nothing: compare rows with each other. Also lists heavy SDKs the import pulled in.

    python benchmarks/parse_cost.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

HEAVY = ("boto3", "botocore", "wandb", "google.cloud.aiplatform", "azure.ai.ml")
CASES = {
    "airflow.sdk (baseline)": "airflow.sdk",
    "airflow_wandb_launch.operators": "airflow_wandb_launch.operators",
    "airflow_wandb_launch.sensors": "airflow_wandb_launch.sensors",
    "airflow_wandb_launch.hooks": "airflow_wandb_launch.hooks",
    "amazon SageMaker operators": "airflow.providers.amazon.aws.operators.sagemaker",
    "google Vertex custom_job operators": "airflow.providers.google.cloud.operators.vertex_ai.custom_job",
    "example DAG quickstart_local": "example_dags.quickstart_local",
    "example DAG sagemaker_training": "example_dags.sagemaker_training",
    "example DAG multi_cloud_comparison": "example_dags.multi_cloud_comparison",
}
PROBE = """
import json, sys, time
start = time.perf_counter()
import importlib; importlib.import_module(sys.argv[1])
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "heavy": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


def measure(module: str, repeat: int) -> tuple[float, list[str]]:
    times, heavy = [], []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, module, *HEAVY],
            capture_output=True,
            text=True,
            check=True,
            cwd=sys.path[0] + "/..",
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        times.append(result["seconds"])
        heavy = result["heavy"]
    return statistics.median(times), heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'import':<38} {'median s':>9}  heavy SDKs loaded")
    for label, module in CASES.items():
        try:
            seconds, heavy = measure(module, args.repeat)
        except subprocess.CalledProcessError as err:
            print(f"{label:<38} {'error':>9}  {err.stderr.strip().splitlines()[-1]}")
            continue
        print(f"{label:<38} {seconds:>9.2f}  {', '.join(heavy) or '-'}")


if __name__ == "__main__":
    main()
