"""The W&B run identity chosen before submit, and the environment handed to the job (CONTRACT.md)."""

from __future__ import annotations

import json
import re

import pytest

from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials, app_url, make_run_id, slug

BASE = ("my_dag", "train", "manual__2026-01-01T00:00:00+00:00", -1, 1)
ONLINE = WandbCredentials(api_key="a" * 40, base_url="https://api.wandb.ai", entity="ent", project="proj")
OFFLINE = WandbCredentials(api_key=None)

# --- make_run_id ------------------------------------------------------------------------------------------------


def test_run_id_shape_and_determinism():
    run_id = make_run_id(*BASE)
    assert re.fullmatch(r"[a-z0-9]{8}", run_id)
    assert make_run_id(*BASE) == run_id


@pytest.mark.parametrize(
    "changed",
    [
        ("other_dag", "train", BASE[2], -1, 1),
        ("my_dag", "evaluate", BASE[2], -1, 1),
        ("my_dag", "train", "scheduled__2026-01-02T00:00:00+00:00", -1, 1),
        ("my_dag", "train", BASE[2], 0, 1),
        ("my_dag", "train", BASE[2], 1, 1),
        ("my_dag", "train", BASE[2], -1, 2),
        ("my_dag", "train", BASE[2], -1, 0),
    ],
    ids=["dag", "task", "run", "map0", "map1", "try2", "try0"],
)
def test_run_id_differs_by_each_part(changed):
    assert make_run_id(*changed) != make_run_id(*BASE)
    assert re.fullmatch(r"[a-z0-9]{8}", make_run_id(*changed))


def test_run_ids_do_not_collide_over_many_tries():
    ids = {make_run_id("d", "t", "r", m, t) for m in range(-1, 20) for t in range(1, 50)}
    assert len(ids) == 21 * 49


def test_parts_are_separated_not_concatenated():
    # "ab"+"c" and "a"+"bc" must not hash alike.
    assert make_run_id("ab", "c", "r", -1, 1) != make_run_id("a", "bc", "r", -1, 1)


# --- slug, app_url ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "max_length", "expected"),
    [
        ("My DAG_id", 63, "my-dag-id"),
        ("--a--b--", 63, "a-b"),
        ("abc-def", 4, "abc"),
        ("abc.def", 7, "abc-def"),
        ("___", 10, ""),
        ("ünï", 10, "n"),
        ("a" * 100, 10, "a" * 10),
        ("UPPER", 63, "upper"),
    ],
)
def test_slug(text, max_length, expected):
    out = slug(text, max_length)
    assert out == expected
    assert len(out) <= max_length
    assert re.fullmatch(r"([a-z0-9]+(-[a-z0-9]+)*)?", out)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.wandb.ai", "https://wandb.ai"),
        ("https://api.wandb.ai/", "https://wandb.ai"),
        ("https://wandb.mycorp.com", "https://wandb.mycorp.com"),
        ("https://wandb.mycorp.com/", "https://wandb.mycorp.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
    ],
)
def test_app_url(base_url, expected):
    assert app_url(base_url) == expected


def test_app_url_on_prem_api_host_matches_wandb():
    assert app_url("https://api.mycorp.com") == "https://app.mycorp.com"


# --- RunIdentity -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "base_url", "run_path", "url"),
    [
        ("ent", "https://api.wandb.ai", "ent/proj/abcd1234", "https://wandb.ai/ent/proj/runs/abcd1234"),
        ("ent", "http://localhost:8080", "ent/proj/abcd1234", "http://localhost:8080/ent/proj/runs/abcd1234"),
        (None, "https://api.wandb.ai", "proj/abcd1234", None),
        ("", "https://api.wandb.ai", "proj/abcd1234", None),
    ],
)
def test_run_path_and_url(entity, base_url, run_path, url):
    run = RunIdentity("abcd1234", "proj", entity)
    assert run.run_path == run_path
    assert run.url(base_url) == url


def test_credentials_online_and_key_not_in_repr():
    assert ONLINE.online is True
    assert OFFLINE.online is False
    assert WandbCredentials(api_key="").online is False
    assert "a" * 40 not in repr(ONLINE)


# --- LaunchRequest.job_env ----------------------------------------------------------------------------------------


def _request(**overrides) -> LaunchRequest:
    run = RunIdentity(
        "abcd1234", "proj", "ent", name="my_dag.train", group="my_dag/run1", tags=("a", "b"), job_type="train"
    )
    values = {"resource": "sagemaker", "run": run, "image": "img:1", "run_config": {"lr": 0.1, "layers": [1, 2]}}
    values.update(overrides)
    return LaunchRequest(**values)


def test_job_env_has_every_contract_variable():
    env = _request().job_env(ONLINE)
    assert env["WANDB_RUN_ID"] == "abcd1234"
    assert env["WANDB_PROJECT"] == "proj"
    assert env["WANDB_ENTITY"] == "ent"
    assert env["WANDB_API_KEY"] == "a" * 40
    assert env["WANDB_BASE_URL"] == "https://api.wandb.ai"
    assert json.loads(env["WANDB_CONFIG"]) == {"lr": 0.1, "layers": [1, 2]}
    assert env["WANDB_RUN_GROUP"] == "my_dag/run1"
    assert env["WANDB_TAGS"] == "a,b"
    assert env["WANDB_JOB_TYPE"] == "train"
    assert env["WANDB_RESUME"] == "allow"
    assert env["WANDB_LAUNCH"] == "True"
    assert env["WANDB_NAME"] == "my_dag.train"
    assert "WANDB_MODE" not in env
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())


@pytest.mark.parametrize("key", ["WANDB_ENTITY", "WANDB_RUN_GROUP", "WANDB_TAGS", "WANDB_JOB_TYPE", "WANDB_NAME"])
def test_job_env_leaves_out_unknown_optional_values(key):
    env = _request(run=RunIdentity("abcd1234", "proj")).job_env(ONLINE)
    assert key not in env


def test_job_env_offline_without_key():
    env = _request().job_env(OFFLINE)
    assert env["WANDB_MODE"] == "offline"
    assert "WANDB_API_KEY" not in env
    assert env["WANDB_RUN_ID"] == "abcd1234"


def test_job_env_self_hosted_base_url():
    creds = WandbCredentials(api_key="k" * 40, base_url="http://wandb.local:8080")
    assert _request().job_env(creds)["WANDB_BASE_URL"] == "http://wandb.local:8080"


@pytest.mark.parametrize(
    ("job", "artifacts"),
    [
        (None, None),
        ("ent/proj/my-job:latest", {"_wandb_job": "ent/proj/my-job:latest"}),
    ],
)
def test_job_env_wandb_artifacts_for_a_job(job, artifacts):
    env = _request(job=job, image=None).job_env(ONLINE)
    if artifacts is None:
        assert "WANDB_ARTIFACTS" not in env
    else:
        assert json.loads(env["WANDB_ARTIFACTS"]) == artifacts


def _reassemble(env: dict[str, str]) -> str:
    """The way the wandb SDK reads WANDB_CONFIG_0..N (wandb_init.py): consecutive indexes from 0."""
    chunks, i = [], 0
    while f"WANDB_CONFIG_{i}" in env:
        chunks.append(env[f"WANDB_CONFIG_{i}"])
        i += 1
    return "".join(chunks)


@pytest.mark.parametrize(
    ("run_config", "max_length", "chunked"),
    [
        ({"lr": 0.1}, None, False),
        ({"lr": 0.1}, 512, False),
        ({"layers": list(range(300))}, 512, True),
        ({"layers": list(range(300)), "name": "é" * 50}, 100, True),  # > 10 chunks: index order, not text order
        ({"x": "y" * 20}, len(json.dumps({"x": "y" * 20})), False),  # exactly the limit: one variable
        ({"x": "y" * 20}, len(json.dumps({"x": "y" * 20})) - 1, True),
    ],
)
def test_wandb_config_chunking(run_config, max_length, chunked):
    env = _request(run_config=run_config).job_env(ONLINE, max_length)
    text = json.dumps(run_config)
    if not chunked:
        assert env["WANDB_CONFIG"] == text
        assert "WANDB_CONFIG_0" not in env
        return
    assert "WANDB_CONFIG" not in env
    parts = {k: v for k, v in env.items() if re.fullmatch(r"WANDB_CONFIG_\d+", k)}
    assert len(parts) >= 2
    assert all(len(v) <= max_length for v in parts.values())
    assert _reassemble(env) == text
    assert json.loads(_reassemble(env)) == run_config


def test_empty_run_config_is_an_empty_json_object():
    assert _request(run_config={}).job_env(ONLINE)["WANDB_CONFIG"] == "{}"


@pytest.mark.parametrize(
    ("user_env", "key", "value"),
    [
        ({"MY_VAR": "1"}, "MY_VAR", "1"),
        ({"WANDB_PROJECT": "other"}, "WANDB_PROJECT", "other"),
        ({"WANDB_MODE": "disabled"}, "WANDB_MODE", "disabled"),
        ({"EPOCHS": 3}, "EPOCHS", "3"),
    ],
)
def test_user_env_wins(user_env, key, value):
    env = _request(env=user_env).job_env(ONLINE)
    assert env[key] == value


# --- job_name and macros ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ({"dag_id": "my_dag", "task_id": "train"}, "my-dag-train-abcd1234"),
        ({}, "airflow-task-abcd1234"),
        ({"dag_id": "___", "task_id": "***"}, "airflow-abcd1234"),
        ({"dag_id": "d" * 100, "task_id": "t"}, "d" * 54 + "-abcd1234"),
    ],
)
def test_job_name(ids, expected):
    name = _request(airflow_ids=ids).job_name
    assert name == expected
    assert len(name) <= 63


def test_macros():
    assert _request().macros() == {
        "image_uri": "img:1",
        "project_name": "proj",
        "entity_name": "ent",
        "run_id": "abcd1234",
        "run_name": "my_dag.train",
    }


def test_a_job_reference_written_by_0_1_still_reads():
    """A task deferred (or remembered in the task state store) across the upgrade keeps its job."""
    from airflow_wandb_launch.launch.job import JobRef

    old = {
        "resource": "sagemaker",
        "job_id": "dag-train-abcd1234",
        "extra": {
            "region": "us-east-1",
            "run_id": "abcd1234",
            "run_path": "acme/proj/abcd1234",
            "pricing": {"cloud": "sagemaker", "region": "us-east-1", "spot": False, "machines": []},
        },
    }
    ref = JobRef.from_dict(old)
    assert ref.run.run_path == "acme/proj/abcd1234" and ref.run.entity == "acme"
    assert ref.cloud == {"region": "us-east-1"} and ref.pricing is not None and ref.pricing.cloud == "sagemaker"
    assert JobRef.from_dict(ref.to_dict()) == ref
