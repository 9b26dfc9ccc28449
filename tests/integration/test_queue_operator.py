"""WandbLaunchQueueOperator through dag.test(), and the queue backend under the one trigger, against the W&B fake."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from airflow_wandb_launch.backends.wandb_queue.spec import build_run_spec
from airflow_wandb_launch.launch.job import JobRef, JobStatus
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials
from airflow_wandb_launch.operators import WandbLaunchQueueOperator
from airflow_wandb_launch.triggers.launch import LaunchJobTrigger
from airflow_wandb_launch.wandb_api import queue as wandb_queue
from airflow_wandb_launch.wandb_api.graphql import GraphQLClient
from airflow_wandb_launch.wandb_api.queue import LAUNCH_DEFAULT_PROJECT, QueueRef
from tests.conftest import ENTITY
from tests.emulators.lifecycle import Lifecycle
from tests.emulators.wandb_queue import AgentScript
from tests.helpers.airflow import run_dag, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

QUEUE, PROJECT, IMAGE = "gpu-queue", "queue-tests", "ghcr.io/acme/train:1.0"


@pytest.fixture
def queues(wandb_conn):
    """The fake's run queues, emptied around each test."""
    wandb_conn.queues.reset()
    yield wandb_conn.queues
    wandb_conn.queues.reset()


def push_task(**overrides):
    kwargs = {
        "task_id": "train",
        "queue_name": QUEUE,
        "image": IMAGE,
        "project": PROJECT,
        "run_config": {"lr": 0.1},
        "poll_interval": 0.05,
    }
    return lambda: WandbLaunchQueueOperator(**{**kwargs, **overrides})


def test_pushed_item_picked_up_and_finished(queues, triggers, capfd):
    queues.add_queue(ENTITY, name=QUEUE, resource="sagemaker", script=AgentScript(claim_after=3))
    dag_run, xcom = run_dag(push_task(priority="high", template_variables={"gpus": 2}))
    assert task_states(dag_run) == {"train": "success"}

    [item] = queues.items(QUEUE)
    out, result = xcom["train"], xcom["train"]["return_value"]
    run_id = out["run_id"]
    assert out["queue_item_id"] == out["job_id"] == result["job_id"] == item["id"]
    assert item["spec"] == {
        "entity": ENTITY,
        "project": PROJECT,
        "name": f"{dag_run.dag_id}.train",
        "docker": {"docker_image": IMAGE},
        "resource": None,
        "git": {},
        "overrides": {"run_config": {"lr": 0.1}},
        "run_id": run_id,
    }
    assert item["priority"] == 1 and item["templateVariableValues"] == {"gpus": 2}
    assert item["associatedRunId"] == run_id and item["reads"] >= 3  # the agent claimed it on the 3rd read
    assert result["resource"] == "sagemaker" and result["job_url"] is None
    assert result["job_state"] == "succeeded" and result["run_state"] == "finished"
    assert result["run_path"] == out["run_path"] == f"{ENTITY}/{PROJECT}/{run_id}"
    assert result["summary"] == {"loss": 0.12, "accuracy": 0.91}
    assert [a["uri"] for a in result["artifacts"]] == [f"wandb-artifact://{ENTITY}/{PROJECT}/model:v0"]
    assert wandb_conn_run(queues, run_id)["config"] == {"lr": 0.1}
    key = queues.server.api_key
    assert len(triggers) == 1 and key not in json.dumps(triggers) and key not in json.dumps(xcom)
    assert triggers[0]["job_ref"]["job_id"] == item["id"]
    assert triggers[0]["connection_args"] == {"wandb_conn_id": "wandb_default"}
    assert key not in capfd.readouterr().out


def wandb_conn_run(queues, run_id: str) -> dict:
    return queues.server.run(ENTITY, PROJECT, run_id)


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        ("failed", "W&B Launch queue run failed (failed): W&B run {path} failed"),
        ("crashed", "W&B Launch queue run failed (crashed): W&B run {path} crashed"),
        ("killed", "W&B Launch queue run was stopped (killed): W&B run {path} was killed"),
    ],
)
def test_run_that_does_not_finish_fails_the_task_saying_how(queues, capfd, end, expected):
    queues.add_queue(ENTITY, name=QUEUE, script=AgentScript(run=Lifecycle(("running", 2), end)))
    dag_run, xcom = run_dag(push_task())
    assert task_states(dag_run) == {"train": "failed"}
    assert expected.format(path=xcom["train"]["run_path"]) in capfd.readouterr().out


def test_item_the_agent_fails_fails_the_task_with_its_error(queues, capfd):
    queues.add_queue(ENTITY, name=QUEUE, script=AgentScript(fail="could not pull image ghcr.io/acme/train:1.0"))
    dag_run, _ = run_dag(push_task())
    assert task_states(dag_run) == {"train": "failed"}
    out = capfd.readouterr().out
    assert f"the W&B Launch agent failed item {queues.items()[0]['id']} of queue {ENTITY}/{QUEUE}" in out
    assert "run: could not pull image ghcr.io/acme/train:1.0" in out


def test_item_no_agent_picks_up_is_removed_and_fails_the_task(queues, capfd):
    queues.add_queue(ENTITY, name=QUEUE)  # no agent polls it
    dag_run, _ = run_dag(push_task(pickup_timeout=timedelta(seconds=0.5)))
    assert task_states(dag_run) == {"train": "failed"}
    [item] = queues.items()
    assert item["deleted"] and item["state"] == "PENDING"
    out = capfd.readouterr().out
    assert f"no W&B Launch agent picked up the item from queue {ENTITY}/{QUEUE} within 0.5 s" in out
    assert "within 0.5 s; the item was removed from the queue" in out


def test_execution_timeout_stops_the_run(queues, capfd):
    queues.add_queue(ENTITY, name=QUEUE, script=AgentScript(run=Lifecycle("running")))
    dag_run, xcom = run_dag(push_task(execution_timeout=timedelta(seconds=3)))
    assert task_states(dag_run) == {"train": "failed"}
    assert queues.stopped == [xcom["train"]["run_path"]]
    path = xcom["train"]["run_path"]
    expected = f"timed out (deadline): the task's execution_timeout passed; W&B run {path} was asked to stop"
    assert expected in capfd.readouterr().out


def test_non_deferrable_waits_on_the_worker(queues, triggers):
    queues.add_queue(ENTITY, name=QUEUE, resource="gcp-vertex", script=AgentScript(claim_after=2))
    dag_run, xcom = run_dag(push_task(deferrable=False, job="acme/jobs/train:latest", image=None))
    assert task_states(dag_run) == {"train": "success"}
    assert triggers == [] and xcom["train"]["return_value"]["resource"] == "gcp-vertex"
    assert queues.pushed_specs()[0]["job"] == "acme/jobs/train:latest"


def test_unknown_queue_fails_before_anything_runs(queues, capfd):
    dag_run, xcom = run_dag(push_task(queue_name="nope"))
    assert task_states(dag_run) == {"train": "failed"}
    assert "run queue nope not found" in capfd.readouterr().out
    assert "queue_item_id" not in xcom.get("train", {})


def test_tags_and_group_are_refused_at_parse_time():
    with pytest.raises(ValueError, match="W&B Launch run specs carry no tags"):
        WandbLaunchQueueOperator(task_id="t", queue_name=QUEUE, image=IMAGE, tags=["a"])


# -- the trigger on its own -------------------------------------------------------------------------------------


@pytest.fixture
def pushed(queues):
    """Push an item onto a queue nobody polls; return a function making triggers for it."""
    queues.add_queue(ENTITY, name=QUEUE)
    server = queues.server
    client = GraphQLClient(WandbCredentials(server.api_key, server.base_url))
    queue = QueueRef(ENTITY, LAUNCH_DEFAULT_PROJECT, QUEUE)
    spec = build_run_spec(entity=ENTITY, project=PROJECT, run_id="kill0001", image=IMAGE)
    item_id, _ = wandb_queue.push(client, queue, spec)
    client.close()
    ref = JobRef("wandb-queue", item_id, RunIdentity("kill0001", PROJECT, ENTITY), queue.to_dict())

    def make(**kwargs) -> LaunchJobTrigger:
        kwargs = {"poll_interval": 0.05, **kwargs}
        return LaunchJobTrigger(job_ref=ref.to_dict(), connection_args={"wandb_conn_id": "wandb_default"}, **kwargs)

    return make


async def test_on_kill_removes_an_item_not_picked_up(pushed, queues, task_deferred):
    trigger = pushed()
    await trigger.on_kill()
    await trigger.cleanup()
    assert [i["deleted"] for i in queues.items()] == [True] and queues.stopped == []


async def test_on_kill_stops_the_run_once_picked_up(pushed, queues, task_deferred):
    trigger = pushed()
    queues.agent_claim(queues.items()[0]["id"])
    await trigger.on_kill()
    await trigger.cleanup()
    assert queues.stopped == [f"{ENTITY}/{PROJECT}/kill0001"]
    assert queues.server.run(ENTITY, PROJECT, "kill0001")["state"] == "killed"
    assert not queues.items()[0]["deleted"]


@pytest.mark.parametrize("claimed", [False, True])
async def test_on_kill_leaves_it_when_the_task_is_still_deferred(pushed, queues, task_deferred, claimed):
    """apache/airflow#73454: on_kill also fires when a trigger only moves to another triggerer."""
    trigger = pushed()
    if claimed:
        queues.agent_claim(queues.items()[0]["id"])
    task_deferred["deferred"] = True
    await trigger.on_kill()
    assert not queues.items()[0]["deleted"] and queues.stopped == []


async def test_on_kill_leaves_it_without_cancel_on_kill(pushed, queues):
    trigger = pushed(cancel_on_kill=False)
    await trigger.on_kill()
    assert not queues.items()[0]["deleted"] and queues.stopped == []


async def test_trigger_follows_the_run_the_agent_reports(pushed, queues):
    """An agent that ignores the spec's run_id: the status names associatedRunId, and the result follows it."""
    trigger = pushed()
    queues.agent_claim(queues.items()[0]["id"], run_id="other123", state="finished")
    event = (await anext(trigger.run())).payload
    await trigger.cleanup()
    assert event["status"]["state"] == "succeeded"
    backend = await trigger.backend()
    ref = backend.resolve_run(JobRef.from_dict(event["job"]), JobStatus.from_dict(event["status"]))
    assert ref.run.run_path == f"{ENTITY}/{PROJECT}/other123"


async def test_trigger_reuses_one_client(pushed, queues):
    trigger = pushed()
    queues.script(ENTITY, QUEUE, AgentScript(claim_after=2, run=Lifecycle(("running", 2), "finished")))
    client = (await trigger.backend()).client
    event = (await anext(trigger.run())).payload
    assert event["status"]["state"] == "succeeded" and (await trigger.backend()).client is client
    await trigger.cleanup()


def test_trigger_serializes_round_trip_without_secret(pushed, queues):
    trigger = pushed(deadline=123.0, pending_timeout=60.0, pending_since=100.0)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_wandb_launch.triggers.launch.LaunchJobTrigger"
    assert LaunchJobTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert queues.server.api_key not in json.dumps(kwargs)


async def test_preempted_run_not_resumed_in_time_fails(pushed, queues):
    trigger = pushed(pending_timeout=0.2)
    queues.agent_claim(queues.items()[0]["id"], state="preempted")
    event = (await anext(trigger.run())).payload
    await trigger.cleanup()
    assert event["status"]["state"] == "failed" and event["status"]["cloud_state"] == "preempted"
    assert "was preempted and not resumed within 0.2 s" in event["status"]["message"]


@pytest.mark.parametrize(("faults", "state"), [(2, "succeeded"), (5, "failed")])
async def test_transient_read_errors_are_tolerated(pushed, queues, monkeypatch, faults, state):
    trigger = pushed(poll_interval=0.001)
    queues.agent_claim(queues.items()[0]["id"], state="finished")
    real, left = wandb_queue.item_state, [faults]

    def flaky(*args):
        if left[0]:
            left[0] -= 1
            raise httpx.ConnectError("connection refused")
        return real(*args)

    monkeypatch.setattr(wandb_queue, "item_state", flaky)
    event = (await anext(trigger.run())).payload
    await trigger.cleanup()
    assert event["status"]["state"] == state
    if state == "failed":
        assert "reading it failed 5 times in a row: connection refused" in event["status"]["message"]


@pytest.mark.parametrize("claimed", [False, True])
def test_sync_cancel_for_the_worker(pushed, queues, claimed):
    """What the operator does when killed on the worker (deferrable=False) or when its deferral fails."""
    pushed()
    item_id = queues.items()[0]["id"]
    if claimed:
        queues.agent_claim(item_id)
    server = queues.server
    client = GraphQLClient(WandbCredentials(server.api_key, server.base_url))
    queue = QueueRef(ENTITY, LAUNCH_DEFAULT_PROJECT, QUEUE)
    said = wandb_queue.cancel(client, queue, item_id, f"{ENTITY}/{PROJECT}/kill0001")
    client.close()
    if claimed:
        assert said == f"W&B run {ENTITY}/{PROJECT}/kill0001 was asked to stop" and queues.stopped
    else:
        assert said == "the item was removed from the queue" and queues.items()[0]["deleted"]
