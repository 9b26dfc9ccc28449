"""Hyperparameter sweep: one training task mapped over six configs, then the best run picked.

``train`` is ``WandbLaunchOperator.partial(...).expand(run_config=CONFIGS)``: one task per config (map index
0..5), each its own W&B run with its own run id (the id is hashed from the task instance, map index included),
all in one W&B group (the DAG run), so W&B shows them side by side. The learning rates go from too small to too
large for the ten epochs of ``scripts/train.py``; the run's summary has ``final_loss``.

``pick_best`` (``WandbCompareRunsOperator``) runs when every map index is done, whatever its outcome
(``trigger_rule="all_done"``): it reads each map index's LaunchResult from XCom, names it ``train[<i>]``, ranks
by ``final_loss`` (lower is better), then cost, then duration, logs the table, tags the best run
``best-final_loss`` in W&B (online) and returns the table; ``winner`` is e.g. ``train[4]``, i.e. ``CONFIGS[4]``.
A config whose run failed is listed with its reason instead of blocking the others.

By default it trains as processes on the worker (``local-process``): no cloud, no Docker, and no W&B account
(without an API key W&B runs offline). To sweep on a cloud change ONE value, ``RESOURCE`` (or set
``WANDB_SWEEP_RESOURCE``) to ``sagemaker``, ``vertex`` or ``azure-ml``: the image and queue config beside this file
are picked from ``TRAINING``; ``max_active_tis_per_dag`` bounds how many jobs run at once.
The same sweep with ``@task.wandb_launch``: a function returning each config, ``.expand()``-ed over its arguments.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag

from airflow_wandb_launch.operators import WandbCompareRunsOperator, WandbLaunchOperator

PROJECT = os.environ.get("WANDB_SWEEP_PROJECT", "hyperparameter-sweep")
#: where training runs: "local-process" (the worker), "sagemaker", "vertex" or "azure-ml". The ONE value to change.
RESOURCE = os.environ.get("WANDB_SWEEP_RESOURCE", "local-process")
IMAGE = os.environ.get("WANDB_LAUNCH_EXAMPLE_IMAGE", "123456789012.dkr.ecr.us-west-2.amazonaws.com/ml-training:latest")
POLL_INTERVAL = float(os.environ.get("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "60"))
TRAINING = {  # what each resource needs beside the entry point: its queue config (and an image for clouds)
    "local-process": {"resource_args": {"cwd": "scripts"}},
    "sagemaker": {"resource_args": "sagemaker_queue_config.yaml", "image": IMAGE},
    "vertex": {"resource_args": "vertex_queue_config.yaml", "image": IMAGE},
    "azure-ml": {"resource_args": "azure_ml_serverless_spot.yaml", "image": IMAGE},
}

METRIC = "final_loss"
LEARNING_RATES = (0.01, 0.03, 0.1, 0.3, 0.6, 0.9)
#: one run per config; handed to each job as WANDB_CONFIG (scripts/train.py reads lr, epochs, seed, model_name).
CONFIGS = [{"lr": lr, "epochs": 10, "seed": 0, "model_name": "sweep-model"} for lr in LEARNING_RATES]


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["wandb-launch", "sweep"])
def hyperparameter_sweep():
    train = WandbLaunchOperator.partial(
        task_id="train",
        resource=RESOURCE,
        entry_point=["python", "train.py"],
        project=PROJECT,
        job_type="sweep",
        poll_interval=POLL_INTERVAL,
        max_active_tis_per_dag=3,  # at most three jobs at once
        map_index_template="lr={{ task.run_config['lr'] }}",  # how the UI names each map index
        **TRAINING[RESOURCE],
    ).expand(run_config=CONFIGS)
    pick_best = WandbCompareRunsOperator(
        task_id="pick_best",
        launch_task_ids=[train.task_id],  # mapped: each map index is a run, named train[<i>]
        metric=METRIC,
        mode="min",
        trigger_rule="all_done",  # a config that failed does not block the comparison of the others
    )
    train >> pick_best


dag_object = hyperparameter_sweep()

if __name__ == "__main__":
    dag_run = dag_object.test()
    print(f"\nhyperparameter_sweep: {dag_run.state}")
