"""What a cold worker process pays for a launch task: ``execute`` until it defers, and ``execute_complete`` until
the task's result, each in a fresh interpreter (as Airflow 3 runs every task and every resumption).

The operator module is imported before the clock starts (the DAG file is parsed before the task runs), so the
figures are the task's own work: SDK imports, credentials, the cloud and W&B calls. The SageMaker emulator (moto)
and the W&B fake serve on loopback; the job and the run are real records there.

    python benchmarks/worker_cold.py [--repeat 5]

Prints a table and, last, ``RESULT {json}`` with the medians in seconds and the heavy SDKs each phase imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEAVY = ("boto3", "botocore", "wandb", "google.cloud.aiplatform", "azure.ai.ml")
ENTITY, PROJECT = "bench", "cold-worker"
RESOURCE_ARGS = {
    "RoleArn": "arn:aws:iam::123456789012:role/bench",
    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
}

#: the child: a worker process that parsed the DAG, then runs one phase of the task.
CHILD = """
import json, sys, time
from types import SimpleNamespace
import airflow.sdk
from airflow.sdk.exceptions import TaskDeferred
from airflow_wandb_launch.operators.launch import WandbLaunchOperator

phase, try_number = sys.argv[1], int(sys.argv[2])
event, resource_args, heavy = json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5:]
pushed = {}
class Store(dict):
    def set(self, key, value): self[key] = value
    def delete(self, key): self.pop(key, None)
ti = SimpleNamespace(dag_id="bench", task_id="train", run_id=f"cold_{try_number}", map_index=-1,
                     try_number=try_number, start_date=None,
                     xcom_push=lambda key, value: pushed.__setitem__(key, value))
context = {"ti": ti, "task_state_store": Store(), "outlet_events": {}}
op = WandbLaunchOperator(task_id="train", resource="sagemaker", image="bench:1", project="cold-worker",
                         resource_args=resource_args, poll_interval=5)
start = time.perf_counter()
out = {}
if phase == "execute":
    try:
        op.execute(context)
    except TaskDeferred as deferred:
        out["event"] = {"job": deferred.trigger.job_ref}
else:
    out["result_state"] = op.execute_complete(context, event)["run_state"]
out["seconds"] = time.perf_counter() - start
out["heavy"] = [m for m in heavy if m in sys.modules]
print(json.dumps(out))
"""


def child(phase: str, try_number: int, event: dict, env: dict[str, str]) -> dict:
    argv = [sys.executable, "-c", CHILD, phase, str(try_number), json.dumps(event), json.dumps(RESOURCE_ARGS), *HEAVY]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from tests.emulators.lifecycle import Lifecycle
    from tests.emulators.sagemaker import SageMakerEmulator
    from tests.emulators.wandb_server import WandbServer

    with SageMakerEmulator() as sagemaker, WandbServer(default_entity=ENTITY) as wandb:
        sagemaker.create_bucket("bench")
        wandb_conn = {"conn_type": "wandb", "password": wandb.api_key, "host": wandb.base_url}
        env = {
            **os.environ,
            "AIRFLOW_CONN_AWS_DEFAULT": sagemaker.airflow_conn_env(),
            "AIRFLOW_CONN_WANDB_DEFAULT": json.dumps({**wandb_conn, "extra": {"entity": ENTITY}}),
            "PYTHONPATH": str(ROOT),
        }
        phases: dict[str, list[float]] = {"execute": [], "execute_complete": []}
        heavy: dict[str, list[str]] = {}
        for i in range(args.repeat):
            sagemaker.script(Lifecycle("InProgress"))
            deferred = child("execute", i + 1, {}, env)
            phases["execute"].append(deferred["seconds"])
            heavy["execute"] = deferred["heavy"]
            job = deferred["event"]["job"]
            sagemaker.finish_all()
            run_id = job["run"]["run_id"]
            wandb.add_run(ENTITY, PROJECT, run_id, state="finished", summary={"loss": 0.1})
            status = {"state": "succeeded", "cloud_state": "Completed", "message": None, "details": {}}
            finished = child("execute_complete", i + 1, {"job": job, "status": status}, env)
            phases["execute_complete"].append(finished["seconds"])
            heavy["execute_complete"] = finished["heavy"]

    medians = {phase: statistics.median(times) for phase, times in phases.items()}
    print(f"{'phase (fresh interpreter, after the DAG parse)':<48} {'median s':>9} {'max s':>7}  heavy SDKs imported")
    for phase, times in phases.items():
        print(f"{phase:<48} {medians[phase]:>9.3f} {max(times):>7.3f}  {', '.join(heavy[phase]) or '-'}")
    print("RESULT " + json.dumps({"repeat": args.repeat, "median_s": medians, "heavy": heavy}))


if __name__ == "__main__":
    main()
