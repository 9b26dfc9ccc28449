"""WandbHook: credentials from the `wandb` connection or the WANDB_* env, masking of the key, aget_run_state."""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx
import pytest
from airflow.sdk._shared.secrets_masker import redact

from airflow_wandb_launch.hooks import WandbHook
from airflow_wandb_launch.launch.run import DEFAULT_BASE_URL

WANDB_ENV = ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in (*WANDB_ENV, "AIRFLOW_CONN_WANDB_DEFAULT", "AIRFLOW_CONN_WANDB_OTHER"):
        monkeypatch.delenv(name, raising=False)


def _key() -> str:
    return "key" + secrets.token_hex(18)  # unique per test: the masker remembers every key it saw


def _set_conn(monkeypatch, conn_id="wandb_default", **fields):
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "wandb", **fields}))


# --- credentials ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "base_url", "entity", "project"),
    [
        (
            {"host": "https://api.wandb.ai", "extra": {"entity": "team", "project": "proj"}},
            "https://api.wandb.ai",
            "team",
            "proj",
        ),
        ({"host": "http://127.0.0.1:8080/", "extra": {}}, "http://127.0.0.1:8080", None, None),
        ({"host": "wandb.mycorp.com"}, "https://wandb.mycorp.com", None, None),
        ({"host": "wandb.mycorp.com", "port": 8443}, "https://wandb.mycorp.com:8443", None, None),
        ({"host": "wandb.local", "schema": "http", "port": 8080}, "http://wandb.local:8080", None, None),
        ({}, DEFAULT_BASE_URL, None, None),
        ({"extra": {"entity": "", "project": ""}}, DEFAULT_BASE_URL, None, None),
    ],
    ids=["full", "trailing-slash", "no-scheme", "no-scheme-port", "schema-as-scheme", "defaults", "empty-extra"],
)
def test_credentials_from_connection(monkeypatch, fields, base_url, entity, project):
    key = _key()
    _set_conn(monkeypatch, password=key, **fields)
    monkeypatch.setenv("WANDB_API_KEY", "env-key-is-not-used")
    monkeypatch.setenv("WANDB_ENTITY", "env-entity-is-not-used")
    creds = WandbHook().credentials
    assert creds.api_key == key
    assert creds.online is True
    assert creds.base_url == base_url
    assert creds.entity == entity
    assert creds.project == project


def test_named_connection(monkeypatch):
    key = _key()
    _set_conn(monkeypatch, "wandb_other", password=key, host="https://w.example", extra={"entity": "e"})
    creds = WandbHook("wandb_other").credentials
    assert (creds.api_key, creds.base_url, creds.entity) == (key, "https://w.example", "e")


def test_connection_without_password_is_offline(monkeypatch):
    _set_conn(monkeypatch, host="https://api.wandb.ai")
    creds = WandbHook().credentials
    assert creds.api_key is None
    assert creds.online is False


@pytest.mark.parametrize(
    ("env", "base_url", "entity", "project"),
    [
        ({"WANDB_API_KEY": "KEY"}, DEFAULT_BASE_URL, None, None),
        (
            {"WANDB_API_KEY": "KEY", "WANDB_BASE_URL": "http://localhost:8080/", "WANDB_ENTITY": "e"},
            "http://localhost:8080",
            "e",
            None,
        ),
        ({"WANDB_API_KEY": "KEY", "WANDB_PROJECT": "p"}, DEFAULT_BASE_URL, None, "p"),
    ],
)
def test_credentials_fall_back_to_env(monkeypatch, env, base_url, entity, project):
    key = _key()
    for name, value in env.items():
        monkeypatch.setenv(name, key if value == "KEY" else value)
    creds = WandbHook().credentials
    assert creds.api_key == key
    assert creds.online is True
    assert (creds.base_url, creds.entity, creds.project) == (base_url, entity, project)


@pytest.mark.parametrize("env", [{}, {"WANDB_API_KEY": ""}, {"WANDB_ENTITY": "e"}])
def test_no_key_anywhere_is_offline(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    creds = WandbHook().credentials
    assert creds.api_key is None
    assert creds.online is False
    assert creds.base_url == DEFAULT_BASE_URL


def test_empty_base_url_env_falls_back_to_default(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", _key())
    monkeypatch.setenv("WANDB_BASE_URL", "")
    assert WandbHook().credentials.base_url == DEFAULT_BASE_URL


def test_api_without_key_says_which_connection(monkeypatch):
    from airflow.sdk.exceptions import AirflowNotFoundException

    with pytest.raises(AirflowNotFoundException, match=r"wandb_default.*WANDB_API_KEY"):
        WandbHook().api  # noqa: B018


# --- the key is masked ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["connection", "env"])
def test_api_key_is_registered_with_the_secrets_masker(monkeypatch, source):
    key = _key()
    assert key in redact(f"token={key}")  # not masked before the hook saw it
    if source == "connection":
        _set_conn(monkeypatch, password=key)
    else:
        monkeypatch.setenv("WANDB_API_KEY", key)
    assert WandbHook().credentials.api_key == key
    redacted = redact(f"token={key} and again {key}")
    assert key not in redacted
    assert redacted == "token=*** and again ***"


def test_credentials_repr_hides_the_key(monkeypatch):
    key = _key()
    _set_conn(monkeypatch, password=key)
    assert key not in repr(WandbHook().credentials)


# --- aget_run_state against the W&B fake -------------------------------------------------------------------------


@pytest.fixture
def fake(wandb_server, monkeypatch):
    _set_conn(monkeypatch, password=wandb_server.api_key, host=wandb_server.base_url, extra={"entity": "airflow-tests"})
    return wandb_server


def test_aget_run_state_finished_run(fake):
    fake.add_run("airflow-tests", "hook-proj", "run1fin", state="finished", summary={"loss": 0.12, "acc": 0.9})
    state = asyncio.run(WandbHook().aget_run_state("airflow-tests", "hook-proj", "run1fin"))
    assert state == {"state": "finished", "summary": {"loss": 0.12, "acc": 0.9}}
    request = fake.requests[-1]
    assert request["operation"] == "AirflowRunState"
    assert request["variables"] == {"entity": "airflow-tests", "project": "hook-proj", "run": "run1fin"}


@pytest.mark.parametrize("run_state", ["running", "crashed", "failed", "killed"])
def test_aget_run_state_other_states(fake, run_state):
    fake.add_run("airflow-tests", "hook-proj", f"r{run_state}", state=run_state)
    state = asyncio.run(WandbHook().aget_run_state("airflow-tests", "hook-proj", f"r{run_state}"))
    assert state == {"state": run_state, "summary": {}}


@pytest.mark.parametrize(
    ("entity", "project", "run_id"),
    [("airflow-tests", "hook-proj", "nosuchrun"), ("airflow-tests", "no-project", "run1fin"), ("other", "p", "r")],
)
def test_aget_run_state_missing_is_none(fake, entity, project, run_id):
    assert asyncio.run(WandbHook().aget_run_state(entity, project, run_id)) is None


def test_aget_run_state_reuses_a_given_client(fake):
    fake.add_run("airflow-tests", "hook-proj", "reuse1", summary={"x": 1})
    hook = WandbHook()

    async def twice():
        client = hook.graphql()
        first = await hook.aget_run_state("airflow-tests", "hook-proj", "reuse1", client=client)
        http = client._async
        second = await hook.aget_run_state("airflow-tests", "hook-proj", "reuse1", client=client)
        assert client._async is http and not http.is_closed  # one HTTP client across polls, left open
        await client.aclose()
        return first, second

    assert asyncio.run(twice()) == ({"state": "finished", "summary": {"x": 1}},) * 2


def test_aget_run_state_wrong_key_raises(wandb_server, monkeypatch):
    _set_conn(monkeypatch, password=_key(), host=wandb_server.base_url)
    with pytest.raises(httpx.HTTPStatusError, match="401"):
        asyncio.run(WandbHook().aget_run_state("airflow-tests", "hook-proj", "run1fin"))


def test_aget_run_state_graphql_error_raises(fake, monkeypatch):
    # an operation the server does not know: it answers 200 with GraphQL errors
    monkeypatch.setattr("airflow_wandb_launch.hooks.wandb.RUN_STATE_QUERY", "query NotEmulated { viewer { id } }")
    with pytest.raises(RuntimeError, match="W&B GraphQL error"):
        asyncio.run(WandbHook().aget_run_state("airflow-tests", "hook-proj", "x"))


def test_hook_identity():
    assert WandbHook.conn_type == "wandb"
    assert WandbHook.default_conn_name == "wandb_default"
    assert WandbHook.conn_name_attr == "wandb_conn_id"
    assert WandbHook("x").wandb_conn_id == "x"


# --- the worker's reads ride out transient W&B errors; its writes are sent once ------------------------------------


@pytest.fixture
def quick_backoff(monkeypatch):
    from airflow_wandb_launch.wandb_api import graphql

    monkeypatch.setattr(graphql, "FIRST_BACKOFF", 0.01)


def test_get_run_retries_a_transient_failure(fake, quick_backoff):
    fake.add_run("airflow-tests", "hook-proj", "retry1", state="finished", summary={"loss": 0.3})
    before = fake.operations().count("AirflowRunResult")
    fake.fail_next("AirflowRunResult", 2, 500)  # then 429, answered by the fourth attempt
    fake.fail_next("AirflowRunResult", 1, 429)
    run = WandbHook().get_run("airflow-tests/hook-proj/retry1")
    assert run is not None and (run.state, run.summary) == ("finished", {"loss": 0.3})
    assert fake.operations().count("AirflowRunResult") - before == 4


def test_get_run_gives_up_after_the_attempts(fake, quick_backoff):
    from airflow_wandb_launch.wandb_api.graphql import MAX_ATTEMPTS

    fake.add_run("airflow-tests", "hook-proj", "retry2", state="finished")
    before = fake.operations().count("AirflowRunResult")
    fake.fail_next("AirflowRunResult", MAX_ATTEMPTS, 503)
    with pytest.raises(httpx.HTTPStatusError):
        WandbHook().get_run("airflow-tests/hook-proj/retry2")
    assert fake.operations().count("AirflowRunResult") - before == MAX_ATTEMPTS


def test_a_summary_write_is_sent_once(fake, quick_backoff):
    fake.add_run("airflow-tests", "hook-proj", "retry3", state="finished", summary={"loss": 0.3})
    before = fake.operations().count("UpsertBucket")
    fake.fail_next("UpsertBucket", 1, 500)
    with pytest.raises(httpx.HTTPStatusError):
        WandbHook().update_run_summary("airflow-tests/hook-proj/retry3", {"airflow/cost_usd": 1.5})
    assert fake.operations().count("UpsertBucket") - before == 1
