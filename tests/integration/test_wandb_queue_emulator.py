"""The W&B fake's run queues, driven by wandb's own launch code: the shapes the fake answers are the SDK's."""

from __future__ import annotations

import json

import pytest

from airflow_wandb_launch.backends.wandb_queue.spec import build_run_spec
from airflow_wandb_launch.wandb_api.queue import LAUNCH_DEFAULT_PROJECT
from tests.emulators.wandb_server import WandbServer
from tests.integration.test_wandb_emulator import api, wandb_env, wandb_server  # noqa: F401 (fixtures)

ENTITY, PROJECT, QUEUE = "acme", "launch", "gpu"


@pytest.fixture
def launch_api(wandb_server: WandbServer, wandb_env):  # noqa: F811
    from wandb.sdk.launch.api import LaunchApi

    return LaunchApi(api_key=wandb_server.api_key, overrides={"base_url": wandb_server.base_url})


def test_sdk_push_item_state_pick_up_and_delete(wandb_server: WandbServer, launch_api):  # noqa: F811
    wandb_server.queues.add_queue(ENTITY, name=QUEUE, resource="sagemaker", config={"sagemaker": {"x": 1}})
    spec = build_run_spec(entity=ENTITY, project=PROJECT, run_id="sdk00001", image="img:1", run_config={"lr": 1})

    pushed = launch_api.push_to_run_queue_by_name(ENTITY, LAUNCH_DEFAULT_PROJECT, QUEUE, json.dumps(spec), {"g": 2}, 0)

    assert pushed["runSpec"]["resource"] == "sagemaker" and pushed["runSpec"]["resource_args"] == {
        "sagemaker": {"x": 1}
    }
    [item] = wandb_server.queues.items(QUEUE)
    assert item["id"] == pushed["runQueueItemId"] and item["spec"] == spec
    assert item["priority"] == 0 and item["templateVariableValues"] == {"g": 2}
    queued = launch_api.queued_run(ENTITY, PROJECT, QUEUE, item["id"], LAUNCH_DEFAULT_PROJECT)
    assert queued.state == "pending"

    wandb_server.queues.agent_claim(item["id"])
    assert queued.state == "claimed"
    run = queued.wait_until_running()
    assert run.id == "sdk00001" and run.state == "running" and run.config == {"lr": 1}

    queued.delete()
    assert wandb_server.queues.items(QUEUE)[0]["deleted"]


def test_sdk_stops_a_run_through_wandb_core(wandb_server: WandbServer, api):  # noqa: F811
    wandb_server.add_run(ENTITY, PROJECT, "stopme01", state="running")

    api.run(f"{ENTITY}/{PROJECT}/stopme01").stop()

    assert wandb_server.queues.stopped == [f"{ENTITY}/{PROJECT}/stopme01"]
    assert wandb_server.run(ENTITY, PROJECT, "stopme01")["state"] == "killed"
    assert "StopRun" in wandb_server.operations()
