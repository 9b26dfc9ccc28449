"""Quickstart: train -> evaluate -> report on the worker itself (``local-process``).

No cloud, no Docker, no W&B account: without an API key W&B runs offline and the result says so.
Run it with ``./scripts/quickstart`` (or ``python example_dags/quickstart_local.py`` in a set-up env).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_wandb_launch.operators import WandbLaunchOperator

TRAIN = "{{ ti.xcom_pull(task_ids='train') }}"


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["wandb-launch"])
def quickstart_local():
    train = WandbLaunchOperator(
        task_id="train",
        resource="local-process",
        entry_point="python train.py --epochs 30",
        resource_args={"cwd": "scripts"},
        project="airflow-quickstart",
        run_config={"lr": 0.2, "model_name": "quickstart-model"},
        job_type="train",
    )
    evaluate = WandbLaunchOperator(
        task_id="evaluate",
        resource="local-process",
        entry_point="python evaluate.py",
        resource_args={"cwd": "scripts"},
        project="airflow-quickstart",
        job_type="eval",
        # The trained model reaches the next task through XCom: its W&B artifact URI and run id.
        env={
            "MODEL_URI": "{{ ti.xcom_pull(task_ids='train')['artifacts'][0]['uri'] }}",
            "MODEL_FILES": "{{ ti.xcom_pull(task_ids='train')['artifacts'][0].get('files', {}) | tojson }}",
            "TRAIN_RUN_ID": "{{ ti.xcom_pull(task_ids='train', key='run_id') }}",
        },
    )

    @task
    def report(trained: dict, evaluated: dict) -> dict:
        model = trained["artifacts"][0]
        summary = {
            "train_run": trained["run_path"],
            "model": model["uri"],
            "final_loss": trained["summary"]["final_loss"],
            "eval_run": evaluated["run_path"],
            "eval_mse": evaluated["summary"]["eval_mse"],
            "offline": trained.get("offline", False),
        }
        for key, value in summary.items():
            print(f"{key:>11}: {value}")
        return summary

    train >> evaluate
    report(train.output, evaluate.output)


dag_object = quickstart_local()

if __name__ == "__main__":
    dag_run = dag_object.test()
    print(f"\nquickstart_local: {dag_run.state}")
    for ti in sorted(dag_run.get_task_instances(), key=lambda ti: ti.start_date or ti.end_date):
        print(f"  {ti.task_id}: {ti.state}")
