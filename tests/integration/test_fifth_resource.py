"""A fifth resource is one folder plus one registry line: ``tests/fifth_resource/echo_cloud/`` (a test-only cloud)
registered with one ``register_backend`` call runs, with no change to the package, through
``WandbLaunchOperator`` (its name and its alias), ``LaunchJobTrigger``, reattach on retry, the execution_timeout
stop, the cost estimate and ``WandbCompareRunsOperator``.

What adding the resource touched:

- ``tests/fifth_resource/echo_cloud/`` (``__init__``, ``backend``, ``states``, ``pricing``; ``service`` is the
  fake cloud itself, which a real resource would not ship);
- the one ``register_backend("echo-cloud", ...)`` line in the ``echo_cloud`` fixture below.

Nothing else. It ships no ``hardware.py`` (no equivalent-hardware rows), on purpose: it is still priced from its
``pricing.py``, since ``cost.pricing`` resolves clouds through the backend registry.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from airflow_wandb_launch.backends import BACKENDS, register_backend
from airflow_wandb_launch.operators.compare import WandbCompareRunsOperator
from airflow_wandb_launch.operators.launch import WandbLaunchOperator
from tests.conftest import ENTITY
from tests.emulators.lifecycle import Lifecycle
from tests.fifth_resource.echo_cloud import service
from tests.fifth_resource.echo_cloud.service import HOUR
from tests.helpers.airflow import run_dag, task_states
from tests.helpers.container import TrainingContainer

pytestmark = pytest.mark.usefixtures("airflow_db")

TARGET = "tests.fifth_resource.echo_cloud.backend:EchoCloudBackend"
IMAGE = "registry.echo.test/train:latest"
ARGS = {"machine": "echo.small", "count": 2}


@pytest.fixture
def echo_cloud(wandb_conn):
    """Echo Cloud registered (and removed after), with a TrainingContainer playing its jobs."""
    saved = dict(BACKENDS)
    register_backend("echo-cloud", TARGET)  # the one registry line
    service.reset()
    container = TrainingContainer(wandb_conn)
    service.ON_CREATE.append(container)
    yield container
    service.reset()
    BACKENDS.clear()
    BACKENDS.update(saved)  # the price and hardware tables are cached per registry state: nothing to clear


def launch(task_id: str = "train", **overrides):
    kwargs = {
        "task_id": task_id,
        "resource": "echo-cloud",
        "image": IMAGE,
        "resource_args": ARGS,
        "project": "echo-tests",
        "run_config": {"lr": 0.1},
        "poll_interval": 0.01,
        "echo_conn_id": "echo_moon",
        "region": "moon-1",
    }
    return WandbLaunchOperator(**{**kwargs, **overrides})


def only_job() -> str:
    [name] = service.JOBS
    return name


@pytest.mark.parametrize("resource", ["echo-cloud", "echo"])
def test_a_job_defers_to_the_trigger_and_returns_its_wandb_result(echo_cloud, wandb_conn, triggers, resource):
    project = f"echo-tests-{resource}"  # the W&B fake is per session: a fresh project numbers artifacts from v0
    dag_run, xcom = run_dag(lambda: launch(resource=resource, project=project))

    assert task_states(dag_run) == {"train": "success"}
    job = only_job()
    result, run_id = xcom["train"]["return_value"], xcom["train"]["run_id"]
    assert result["resource"] == "echo-cloud" and result["job_id"] == job and result["job_state"] == "succeeded"
    assert result["job_url"] == f"https://console.echo.test/moon-1/jobs/{job}" == xcom["train"]["job_url"]
    assert result["run_path"] == f"{ENTITY}/{project}/{run_id}" and result["run_state"] == "finished"
    assert result["summary"] == {"loss": 0.12, "accuracy": 0.91}
    assert [a["uri"] for a in result["artifacts"]] == [f"wandb-artifact://{ENTITY}/{project}/model:v0"]
    # the job got its run identity from the env build() put in its payload
    payload = service.JOBS[job]["payload"]
    assert payload["machine"] == "echo.small" and payload["count"] == 2 and payload["image"] == IMAGE
    assert payload["env"]["WANDB_RUN_ID"] == run_id and json.loads(payload["env"]["WANDB_CONFIG"]) == {"lr": 0.1}
    # it deferred: the trigger holds the echo job and connection args, never the API key
    [kwargs] = triggers
    assert kwargs["job_ref"]["resource"] == "echo-cloud" and kwargs["job_ref"]["job_id"] == job
    assert kwargs["job_ref"]["cloud"] == {"region": "moon-1"}
    assert kwargs["job_ref"]["pricing"]["machines"] == [{"instance_type": "echo.small", "count": 2}]
    assert kwargs["connection_args"] == {"echo_conn_id": "echo_moon", "region": "moon-1"}
    assert wandb_conn.api_key not in json.dumps(kwargs, default=str)
    assert service.JOBS[job]["reads"] == 2  # one on the worker, one in the trigger


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_the_cost_comes_from_the_echo_price_list(echo_cloud, wandb_conn, outcome):
    # 3600 s on 2x echo.small at 1.00 USD/h in moon-1 = 2.00 USD, whether the job succeeded or not
    end = "DONE" if outcome == "succeeded" else "ERROR"
    service.script(Lifecycle(("RUNNING", 1), (end, None, {**HOUR, "error": "boom"})))
    _, xcom = run_dag(launch)

    record = xcom["train"]["return_value" if outcome == "succeeded" else "failure"]
    assert record["cost_usd"] == 2.00, "no cost estimate for echo-cloud (see the task log's 'No cost estimate')"
    assert record["cost"]["instance_type"] == "echo.small" and record["cost"]["billable_seconds"] == 7200
    assert record["cost"]["hourly_rate"] == 1.00 and record["cost"]["cloud"] == "echo-cloud"
    if outcome == "succeeded":
        summary = wandb_conn.run(*record["run_path"].split("/"))["summary"]
        assert summary["airflow/cost_usd"] == 2.00 and summary["airflow/cloud"] == "echo-cloud"
    else:
        assert "Estimated cost: $2.00." in record["reason"]


def test_a_failed_job_fails_the_task_with_the_backends_words(echo_cloud, capfd):
    service.script(Lifecycle(("RUNNING", 1), ("ERROR", None, {**HOUR, "error": "out of moon dust"})))
    dag_run, xcom = run_dag(launch)

    assert task_states(dag_run) == {"train": "failed"}
    job = only_job()
    failure = xcom["train"]["failure"]
    assert failure["reason"].startswith(f"Echo Cloud job {job} (moon-1) failed (ERROR): out of moon dust.")
    assert failure["resource"] == "echo-cloud" and failure["job_id"] == job and failure["job_state"] == "failed"
    assert failure["run_id"] == xcom["train"]["run_id"] and "return_value" not in xcom["train"]
    assert f"Echo Cloud job {job} (moon-1) failed (ERROR): out of moon dust." in capfd.readouterr().out


def test_a_retry_reattaches_to_the_job_of_the_first_try(echo_cloud, capfd):
    service.script(Lifecycle(("RUNNING", 2), ("DONE", None, HOUR)))
    service.fail_reads(6)  # try 1: its worker read and the trigger's 5 reads all fail, so it fails

    dag_run, xcom = run_dag(lambda: launch(retries=1, retry_delay=timedelta(0)))

    assert task_states(dag_run) == {"train": "success"}
    job = only_job()  # one job, not two
    result = xcom["train"]["return_value"]
    assert result["job_id"] == job and result["job_state"] == "succeeded"
    [env] = echo_cloud.envs
    assert result["run_id"] == env["WANDB_RUN_ID"] == service.JOBS[job]["payload"]["env"]["WANDB_RUN_ID"]
    out = capfd.readouterr().out
    assert "could not read the job's status: reading it failed 5 times in a row" in out
    assert f"Reattaching to Echo Cloud job {job} (moon-1) from an earlier try (running)" in out


def test_execution_timeout_stops_the_job(echo_cloud, capfd):
    service.script(Lifecycle("RUNNING"))
    dag_run, xcom = run_dag(lambda: launch(execution_timeout=timedelta(seconds=3), poll_interval=0.2))

    assert task_states(dag_run) == {"train": "failed"}
    assert [only_job()] == service.STOP_CALLS
    assert xcom["train"]["failure"]["job_state"] == "timed_out"
    assert "timed out (deadline): the task's execution_timeout passed; the job was stopped" in capfd.readouterr().out


def by_task(containers: dict[str, TrainingContainer]):
    """An on_create callback handing each job to its task's container (its W&B run name is ``<dag>.<task>``)."""

    def create(name: str, env: dict[str, str]) -> None:
        containers[env["WANDB_NAME"].rpartition(".")[2]](name, env)

    return create


def compare_two(wandb_conn, tasks: dict[str, tuple[float, int]]):
    """Two echo launches (task -> (loss, machines)) and a comparison of them."""
    containers = {t: TrainingContainer(wandb_conn, summary={"loss": loss}) for t, (loss, _) in tasks.items()}
    service.ON_CREATE[:] = [by_task(containers)]

    def build():
        launches = [launch(t, resource_args={"machine": "echo.small", "count": n}) for t, (_, n) in tasks.items()]
        launches >> WandbCompareRunsOperator(
            task_id="compare", launch_task_ids=list(tasks), metric="loss", mode="min", trigger_rule="all_done"
        )

    dag_run, xcom = run_dag(build)
    return dag_run, xcom, xcom["compare"]["return_value"]


def test_the_comparison_ranks_echo_runs(echo_cloud, wandb_conn):
    dag_run, xcom, table = compare_two(wandb_conn, {"train_a": (0.30, 1), "train_b": (0.10, 1)})

    assert set(task_states(dag_run).values()) == {"success"}
    assert [r["name"] for r in table["ranked"]] == ["train_b", "train_a"] and table["failed"] == []
    assert [r["value"] for r in table["ranked"]] == [0.10, 0.30]
    assert {r["resource"] for r in table["ranked"]} == {"echo-cloud"}
    assert table["winner"] == "train_b" and table["tagged"] == "best-loss"
    winner = wandb_conn.run(*xcom["train_b"]["return_value"]["run_path"].split("/"))
    assert "best-loss" in winner["tags"]


def test_the_comparison_breaks_a_tie_by_echo_cost(echo_cloud, wandb_conn):
    # same loss: the one-machine run (1.00 USD) beats the two-machine one (2.00 USD), though its name sorts last
    _, _, table = compare_two(wandb_conn, {"train_a": (0.2, 2), "train_b": (0.2, 1)})

    assert [r["cost_usd"] for r in table["ranked"]] == [1.00, 2.00]
    assert table["winner"] == "train_b"


def test_bad_resource_args_fail_before_submit(echo_cloud, capfd):
    dag_run, xcom = run_dag(lambda: launch(resource_args={"machin": "x"}))

    assert task_states(dag_run) == {"train": "failed"}
    assert service.JOBS == {}
    reason = xcom["train"]["failure"]["reason"]
    assert reason.startswith("echo-cloud: machin = 'x': expected one of the known keys ['count', 'machine']")
    assert "did you mean 'machine'?" in reason and reason in capfd.readouterr().out


def test_the_cross_cloud_tables_take_a_resource_without_hardware(echo_cloud):
    from airflow_wandb_launch.cost import hardware, pricing

    assert "echo-cloud" in pricing.price_lists()  # registered after import: seen, no cache to clear
    assert pricing.PRICES[("echo-cloud", "echo.small", "moon-1")].on_demand == 1.00
    assert "echo-cloud" not in hardware.CLOUDS and set(hardware.CLOUDS) == {"sagemaker", "vertex", "azure-ml"}
    assert all("echo-cloud" not in row for row in hardware.HARDWARE.values())
    with pytest.raises(ValueError, match="unknown cloud 'echo'"):
        hardware.offering("echo", "1x T4")
    args = hardware.resource_args_for("sagemaker", "1x T4", {"ResourceConfig": {}})
    assert args["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
