"""The W&B GraphQL fake, driven by the real ``wandb`` SDK (through wandb-core) and by plain httpx."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from tests.emulators.wandb_server import WandbServer

ENTITY, PROJECT = "acme", "launch"

AIRFLOW_RUN_STATE = """
query AirflowRunState($entity: String!, $project: String!, $run: String!) {
  project(name: $project, entityName: $entity) { run(name: $run) { name state summaryMetrics } }
}
"""


@pytest.fixture
def wandb_server():
    with WandbServer() as server:
        yield server


@pytest.fixture
def wandb_env(wandb_server: WandbServer, tmp_path, monkeypatch):
    """Point the SDK at the fake, and keep every file it writes under tmp_path."""
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        path = tmp_path / var.lower()
        path.mkdir()
        monkeypatch.setenv(var, str(path))
    monkeypatch.setenv("WANDB_BASE_URL", wandb_server.base_url)
    monkeypatch.setenv("WANDB_API_KEY", wandb_server.api_key)
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_ENTITY", "WANDB_PROJECT", "WANDB_MODE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def api(wandb_server: WandbServer, wandb_env):
    import wandb

    return wandb.Api(api_key=wandb_server.api_key, overrides={"base_url": wandb_server.base_url})


def _airflow_run_state(server: WandbServer, run_id: str, key: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/graphql",
        auth=("api", key or server.api_key),
        json={
            "query": AIRFLOW_RUN_STATE,
            "variables": {"entity": ENTITY, "project": PROJECT, "run": run_id},
            "operationName": "AirflowRunState",
        },
    )


def test_sdk_reads_a_run(wandb_server: WandbServer, api):
    wandb_server.add_run(
        ENTITY,
        PROJECT,
        "abc123",
        state="finished",
        summary={"loss": 0.25, "epoch": 3},
        config={"lr": 0.01, "layers": [64, 32]},
        name="bright-sun-1",
        logged_artifacts=[{"name": "model", "type": "model", "aliases": ["latest", "best"]}],
    )

    run = api.run(f"{ENTITY}/{PROJECT}/abc123")

    assert run.state == "finished"
    assert dict(run.summary) == {"loss": 0.25, "epoch": 3}
    assert run.config == {"lr": 0.01, "layers": [64, 32]}
    assert run.url == f"{wandb_server.base_url}/{ENTITY}/{PROJECT}/runs/abc123"
    assert (run.id, run.name, run.entity, run.project) == ("abc123", "bright-sun-1", ENTITY, PROJECT)
    artifacts = [(a.name, a.type, a.version, a.aliases, a.qualified_name) for a in run.logged_artifacts()]
    assert artifacts == [("model:v0", "model", "v0", ["best", "latest"], f"{ENTITY}/{PROJECT}/model:v0")]


def test_artifact_versions_and_latest_alias(wandb_server: WandbServer, api):
    wandb_server.add_run(ENTITY, PROJECT, "first", logged_artifacts=[{"name": "model", "type": "model"}])
    wandb_server.add_run(
        ENTITY,
        PROJECT,
        "second",
        logged_artifacts=[
            {"name": "model", "type": "model", "aliases": ["latest"]},
            {"name": "data", "type": "dataset"},
        ],
    )

    first = [(a.version, a.aliases) for a in api.run(f"{ENTITY}/{PROJECT}/first").logged_artifacts()]
    second = {a.qualified_name: a.aliases for a in api.run(f"{ENTITY}/{PROJECT}/second").logged_artifacts()}

    assert first == [("v0", [])]
    assert second == {f"{ENTITY}/{PROJECT}/model:v1": ["latest"], f"{ENTITY}/{PROJECT}/data:v0": ["latest"]}
    assert wandb_server.run(ENTITY, PROJECT, "second")["logged_artifacts"] == ["model:v1", "data:v0"]


def test_run_path_without_entity_uses_the_default_entity(wandb_server: WandbServer, api):
    wandb_server.add_run(wandb_server.default_entity, PROJECT, "xyz", state="running")

    run = api.run(f"{PROJECT}/xyz")

    assert (run.entity, run.state) == (wandb_server.default_entity, "running")
    assert "GetDefaultEntity" in wandb_server.operations()


def test_missing_run_raises_the_sdk_error(wandb_server: WandbServer, api):
    import wandb

    with pytest.raises(wandb.errors.CommError, match="Could not find run"):
        api.run(f"{ENTITY}/{PROJECT}/nope")
    assert wandb_server.operations()[-1] == "Run"


def test_wrong_api_key_is_rejected(wandb_server: WandbServer, wandb_env):
    import wandb

    with pytest.raises(wandb.errors.AuthenticationError, match="not logged in"):
        wandb.Api(api_key="f" * 40, overrides={"base_url": wandb_server.base_url})
    assert wandb_server.requests[-1]["auth_key"] == "f" * 40
    no_auth = httpx.post(f"{wandb_server.base_url}/graphql", json={"query": "{ viewer { id } }"})
    assert no_auth.status_code == 401


def test_api_configured_from_the_environment_alone(wandb_server: WandbServer, wandb_env):
    import wandb

    wandb_server.add_run(ENTITY, PROJECT, "env1", state="crashed")

    assert wandb.Api().run(f"{ENTITY}/{PROJECT}/env1").state == "crashed"


def test_requests_are_recorded_with_operation_and_auth(wandb_server: WandbServer, api):
    wandb_server.add_run(ENTITY, PROJECT, "rec1", logged_artifacts=[{"name": "model", "type": "model"}])

    list(api.run(f"{ENTITY}/{PROJECT}/rec1").logged_artifacts())

    ops = wandb_server.operations()
    assert ops[0] == "Viewer"  # on construction: the login check
    for op in ("Run", "ServerFeaturesQuery", "RunOutputArtifacts"):
        assert op in ops
    assert {(r["auth_user"], r["auth_key"]) for r in wandb_server.requests} == {("api", wandb_server.api_key)}
    run_request = next(r for r in wandb_server.requests if r["operation"] == "Run")
    assert run_request["variables"] == {"entity": ENTITY, "project": PROJECT, "name": "rec1"}


def test_airflow_run_state_query_and_set_run_state(wandb_server: WandbServer):
    wandb_server.add_run(ENTITY, PROJECT, "job1", state="running", summary={"acc": 0.5}, name="job one")

    answer = _airflow_run_state(wandb_server, "job1").json()
    run = answer["data"]["project"]["run"]
    assert run == {"name": "job1", "state": "running", "summaryMetrics": json.dumps({"acc": 0.5})}

    wandb_server.set_run_state(ENTITY, PROJECT, "job1", "failed")
    assert _airflow_run_state(wandb_server, "job1").json()["data"]["project"]["run"]["state"] == "failed"
    assert wandb_server.run(ENTITY, PROJECT, "job1")["state"] == "failed"

    assert _airflow_run_state(wandb_server, "missing").json() == {"data": {"project": {"run": None}}}
    assert _airflow_run_state(wandb_server, "job1", key="0" * 40).status_code == 401
    assert wandb_server.requests[0] == {
        "operation": "AirflowRunState",
        "variables": {"entity": ENTITY, "project": PROJECT, "run": "job1"},
        "auth_user": "api",
        "auth_key": wandb_server.api_key,
    }


async def test_concurrent_async_queries(wandb_server: WandbServer):
    for i in range(10):
        wandb_server.add_run(ENTITY, PROJECT, f"r{i}", state="finished" if i % 2 else "running")

    auth = ("api", wandb_server.api_key)
    async with httpx.AsyncClient(base_url=wandb_server.base_url, auth=auth) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/graphql",
                    json={
                        "query": AIRFLOW_RUN_STATE,
                        "variables": {"entity": ENTITY, "project": PROJECT, "run": f"r{i}"},
                        "operationName": "AirflowRunState",
                    },
                )
                for i in range(10)
            )
        )

    states = [r.json()["data"]["project"]["run"]["state"] for r in responses]
    assert states == ["finished" if i % 2 else "running" for i in range(10)]
    assert wandb_server.operations() == ["AirflowRunState"] * 10


def test_unknown_operation_is_a_loud_graphql_error(wandb_server: WandbServer, caplog):
    body = {"query": "mutation DeleteRun($id: ID!) { deleteRun(input: {id: $id}) { clientMutationId } }"}

    with caplog.at_level(logging.ERROR, logger="tests.emulators.wandb_server"):
        answer = httpx.post(f"{wandb_server.base_url}/graphql", auth=("api", wandb_server.api_key), json=body)

    assert answer.status_code == 200
    assert answer.json()["errors"][0]["message"] == "W&B fake: 'DeleteRun' is not emulated"
    assert "UNKNOWN GraphQL operation 'DeleteRun'" in caplog.text
    assert wandb_server.operations() == ["DeleteRun"]
