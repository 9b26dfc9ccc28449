"""Scheduled retraining: a new dataset version -> train -> evaluate against production -> promote if better.

``scheduled_retraining`` runs daily:

1. ``wait_for_dataset`` (WandbArtifactSensor, deferred) waits for a version of the ``dataset`` artifact newer
   than the one the previous successful run trained on (the first run takes the current ``latest``).
   No new data within the day: the sensor times out and the run is skipped (``soft_fail``).
2. ``train`` (WandbLaunchOperator) trains on it. It runs as a process on the worker (``local-process``); to train
   on a cloud change ONE value, ``RESOURCE`` below (or set ``WANDB_RETRAINING_RESOURCE``) to ``sagemaker``,
   ``vertex`` or ``azure-ml``: the image and queue config beside this file are picked from ``TRAINING``.
   Its outlet ``MODEL`` (``wandb-artifact://entity/project/model``) gets an asset event only when the run
   logged a new model version; the event's extra holds the version, run id and run path.
3. ``evaluate`` compares the new version's metric (``loss`` in its W&B metadata, lower is better, as
   ``scripts/train.py`` logs it) with the version currently aliased ``production``, through the W&B API.
4. ``promote`` moves the ``production`` alias to the new version only when it is better; otherwise it is
   skipped. Its outlet ``PRODUCTION`` (``.../model:production``) gets an event only when it promoted.

``deploy_model`` is scheduled on ``MODEL``: each new model version (a Launch run that logged one) starts it,
and it reads the version and run id from the triggering asset event, e.g. to deploy it to a staging
endpoint. Schedule a production deployment on ``PRODUCTION`` instead.

W&B must be online (a ``wandb_default`` connection with an API key): the sensor and the evaluation read W&B.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from airflow_wandb_launch.operators import WandbLaunchOperator
from airflow_wandb_launch.sensors import WandbArtifactSensor

ENTITY = os.environ.get("WANDB_RETRAINING_ENTITY", "my-team")
PROJECT = os.environ.get("WANDB_RETRAINING_PROJECT", "retraining")
#: where training runs: "local-process" (the worker), "sagemaker", "vertex" or "azure-ml". The ONE value to change.
RESOURCE = os.environ.get("WANDB_RETRAINING_RESOURCE", "local-process")
IMAGE = os.environ.get("WANDB_LAUNCH_EXAMPLE_IMAGE", "123456789012.dkr.ecr.us-west-2.amazonaws.com/ml-training:latest")
POLL_INTERVAL = float(os.environ.get("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "60"))
TRAINING = {  # what each resource needs beside the entry point: its queue config (and an image for clouds)
    "local-process": {"resource_args": {"cwd": "scripts"}},
    "sagemaker": {"resource_args": "sagemaker_queue_config.yaml", "image": IMAGE},
    "vertex": {"resource_args": "vertex_queue_config.yaml", "image": IMAGE},
    "azure-ml": {"resource_args": "azure_ml_serverless_spot.yaml", "image": IMAGE},
}

DATASET, MODEL_NAME, METRIC = "dataset", "model", "loss"
MODEL = Asset(f"wandb-artifact://{ENTITY}/{PROJECT}/{MODEL_NAME}")
PRODUCTION = Asset(f"wandb-artifact://{ENTITY}/{PROJECT}/{MODEL_NAME}:production")


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["wandb-launch", "retraining"],
)
def scheduled_retraining():
    dataset = WandbArtifactSensor(
        task_id="wait_for_dataset",
        artifact=f"{ENTITY}/{PROJECT}/{DATASET}",
        alias="latest",
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=23),
        soft_fail=True,  # no new data today: skip the run
    )
    train = WandbLaunchOperator(
        task_id="train",
        resource=RESOURCE,
        entry_point=["python", "train.py", "--epochs", "30"],
        project=PROJECT,
        entity=ENTITY,
        # W&B would resolve a config value starting with wandb-artifact:// itself: pass the bare path.
        # A real trainer reads it with run.use_artifact(run.config["dataset"]); this small one makes its data.
        run_config={"model_name": MODEL_NAME, "dataset": "{{ ti.xcom_pull(task_ids='wait_for_dataset')['path'] }}"},
        job_type="train",
        poll_interval=POLL_INTERVAL,
        execution_timeout=timedelta(hours=12),
        outlets=[MODEL],
        **TRAINING[RESOURCE],
    )

    @task
    def evaluate(trained: dict) -> dict:
        """The new version's metric against the one of the version aliased ``production`` (none: promote)."""
        import wandb

        from airflow_wandb_launch.hooks import WandbHook

        api = WandbHook().api
        [candidate] = [a for a in trained["artifacts"] if a["name"] == MODEL_NAME]
        new = api.artifact(candidate["uri"].removeprefix("wandb-artifact://"))
        try:
            current = api.artifact(f"{ENTITY}/{PROJECT}/{MODEL_NAME}:production")
        except wandb.errors.CommError:
            current = None  # nothing in production yet
        path = f"{ENTITY}/{PROJECT}/{MODEL_NAME}:{{}}".format  # entity/project/name:vN
        evaluation = {
            "candidate": path(new.version),
            "candidate_metric": new.metadata.get(METRIC),
            "production": path(current.version) if current else None,
            "production_metric": current.metadata.get(METRIC) if current else None,
        }
        evaluation["better"] = current is None or evaluation["candidate_metric"] < evaluation["production_metric"]
        print(f"{METRIC}: {evaluation}")
        return evaluation

    @task(outlets=[PRODUCTION])
    def promote(evaluation: dict, *, outlet_events=None) -> str:
        """Alias the new version ``production`` when it is better; skipped (no asset event) otherwise."""
        if not evaluation["better"]:
            raise AirflowSkipException(
                f"{evaluation['candidate']} ({METRIC} {evaluation['candidate_metric']}) is not better than "
                f"{evaluation['production']} ({evaluation['production_metric']}): production stays"
            )
        from airflow_wandb_launch.hooks import WandbHook

        artifact = WandbHook().api.artifact(evaluation["candidate"])
        artifact.aliases.append("production")
        artifact.save()
        outlet_events[PRODUCTION].extra = {"version": artifact.version, "previous": evaluation["production"]}
        print(f"promoted {artifact.qualified_name} to production (was {evaluation['production']})")
        return artifact.qualified_name

    dataset >> train
    promote(evaluate(train.output))


@dag(schedule=[MODEL], start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["wandb-launch"])
def deploy_model():
    @task
    def deploy(*, triggering_asset_events=None) -> list[dict]:
        """Each new model version, from the asset events that started this run (their extra)."""
        deployed = []
        for event in triggering_asset_events[MODEL]:
            extra = event.extra
            print(f"deploying {extra['uri']} (version {extra['version']}) trained by W&B run {extra['run_path']}")
            deployed.append({k: extra.get(k) for k in ("version", "uri", "run_id", "run_path")})
        return deployed

    deploy()


retraining_dag = scheduled_retraining()
deploy_dag = deploy_model()
