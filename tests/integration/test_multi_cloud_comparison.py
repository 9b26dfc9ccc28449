"""example_dags/multi_cloud_comparison.py and multi_cloud_routing.py through dag.test(), against the SageMaker,
Vertex AI and Azure ML emulators at once and the W&B fake.

Each cloud's job is played by its own ``TrainingContainer`` reporting its own ``loss``; each job is scripted to
run one hour (SageMaker's BillableTimeInSeconds, Vertex's and Azure's start/end times), so the estimated costs
are those of the price table: ml.g4dn.xlarge $0.74 < n1-standard-8+T4 $0.84, Standard_NC4as_T4_v3 $0.53.
"""

from __future__ import annotations

import importlib.util

import pytest

from airflow_wandb_launch.cost.comparison import format_table
from tests.conftest import ENTITY, ROOT
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.airflow import task_states, write_to_db, xcoms
from tests.helpers.container import TrainingContainer

pytestmark = pytest.mark.usefixtures("airflow_db")

TASKS = {"sagemaker": "train_on_sagemaker", "vertex": "train_on_vertex", "azure-ml": "train_on_azure_ml"}
HOUR = {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-01T01:00:00+00:00"}
#: one hour on each cloud's 1x T4 machine, at the built-in prices
COST = {"sagemaker": 0.74, "vertex": 0.84, "azure-ml": 0.53}
INSTANCE = {
    "sagemaker": "ml.g4dn.xlarge",
    "vertex": "n1-standard-8+1xNVIDIA_TESLA_T4",
    "azure-ml": "Standard_NC4as_T4_v3",
}


@pytest.fixture
def clouds(sagemaker, vertex, aml, wandb_conn, monkeypatch):
    """cloud -> (its emulator, the TrainingContainer playing its jobs)."""
    monkeypatch.setenv("WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL", "0.2")
    found = {}
    for cloud, emulator in (("sagemaker", sagemaker), ("vertex", vertex), ("azure-ml", aml)):
        stand_in = TrainingContainer(wandb_conn)
        emulator.on_create.append(stand_in)
        found[cloud] = (emulator, stand_in)
    return found


def one_hour(clouds, *, failing: str | None = None) -> None:
    """Script each cloud's next job to run one hour and succeed (``failing``: that one fails)."""
    sagemaker, vertex, aml = (clouds[c][0] for c in ("sagemaker", "vertex", "azure-ml"))
    end = "Failed" if failing == "sagemaker" else "Completed"
    sagemaker.script(Lifecycle(("InProgress", 1), (end, None, {"BillableTimeInSeconds": 3600})))
    end = "JOB_STATE_FAILED" if failing == "vertex" else "JOB_STATE_SUCCEEDED"
    vertex.script(
        Lifecycle(("JOB_STATE_RUNNING", 1), (end, None, {"startTime": HOUR["start"], "endTime": HOUR["end"]}))
    )
    fields = {"startTimeUtc": HOUR["start"], "endTimeUtc": HOUR["end"]}
    if failing == "azure-ml":
        fields["error"] = "CUDA out of memory. Tried to allocate 2.00 GiB"
    aml.script(Lifecycle(("Running", 1), ("Failed" if failing == "azure-ml" else "Completed", None, fields)))


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_example", ROOT / "example_dags" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = getattr(module, name)()
    dag.fileloc = str(ROOT / "example_dags" / f"{name}.py")
    write_to_db(dag)
    return dag


def run_comparison(clouds, losses: dict[str, float], **script):
    for cloud, loss in losses.items():
        clouds[cloud][1].summary = {"loss": loss, "accuracy": 0.9}
    one_hour(clouds, **script)
    dag = load_example("multi_cloud_comparison")
    dag_run = dag.test()
    xcom = xcoms(dag.dag_id, dag_run.run_id)
    table = xcom["compare"]["return_value"]
    print(f"\n{format_table(table)}")  # shows in the test log
    return dag_run, xcom, table


def fake_run(server, run_path: str) -> dict:
    return server.run(*run_path.split("/"))


def test_all_clouds_succeed_and_the_best_loss_wins(clouds, wandb_conn):
    dag_run, xcom, table = run_comparison(clouds, {"sagemaker": 0.30, "vertex": 0.10, "azure-ml": 0.20})
    assert task_states(dag_run) == dict.fromkeys([*TASKS.values(), "compare"], "success")
    assert [r["name"] for r in table["ranked"]] == ["train_on_vertex", "train_on_azure_ml", "train_on_sagemaker"]
    assert [r["value"] for r in table["ranked"]] == [0.10, 0.20, 0.30] and table["failed"] == []
    assert table["winner"] == "train_on_vertex" and table["tagged"] == "best-loss"
    groups = set()
    for cloud, task_id in TASKS.items():
        result = xcom[task_id]["return_value"]
        assert result["resource"] == cloud and result["cost_usd"] == COST[cloud]
        assert result["cost"]["instance_type"] == INSTANCE[cloud] and result["cost"]["billable_seconds"] == 3600
        assert result["cost"]["prices_as_of"] and result["cost"]["machines"] == 1
        row = next(r for r in table["ranked"] if r["name"] == task_id)
        assert row["cost_usd"] == COST[cloud] and row["duration"] == 3600 and row["run_path"] == result["run_path"]
        run = fake_run(wandb_conn, result["run_path"])
        assert run["summary"]["airflow/cost_usd"] == COST[cloud] and run["summary"]["loss"] == result["summary"]["loss"]
        assert run["summary"]["airflow/billable_seconds"] == 3600
        assert run["summary"]["airflow/instance_type"] == INSTANCE[cloud] and run["summary"]["airflow/cloud"] == cloud
        assert ("best-loss" in run["tags"]) is (cloud == "vertex")
        groups.add(run["group"])
    assert len(groups) == 1 and groups.pop().startswith("comparison-")  # one W&B group
    assert fake_run(wandb_conn, xcom["train_on_vertex"]["return_value"]["run_path"])["entity"] == ENTITY


def test_a_failed_cloud_is_named_with_its_reason_and_the_others_are_ranked(clouds, wandb_conn):
    dag_run, xcom, table = run_comparison(
        clouds, {"sagemaker": 0.30, "vertex": 0.10, "azure-ml": 0.05}, failing="azure-ml"
    )
    states = task_states(dag_run)
    assert states["train_on_azure_ml"] == "failed" and states["compare"] == "success"
    assert [r["name"] for r in table["ranked"]] == ["train_on_vertex", "train_on_sagemaker"]
    [failed] = table["failed"]
    assert failed["name"] == "train_on_azure_ml" and failed["resource"] == "azure-ml"
    assert failed["job_state"] == "failed" and "CUDA out of memory" in failed["reason"]
    assert failed["cost_usd"] == COST["azure-ml"]  # a failed job costs money too
    assert "Estimated cost: $0.53" in xcom["train_on_azure_ml"]["failure"]["reason"]
    assert table["winner"] == "train_on_vertex"
    assert "train_on_azure_ml (azure-ml, cost $0.53): " in format_table(table)


def test_a_cloud_failing_before_its_job_ends_is_named_by_its_task_state(clouds, wandb_conn):
    one_hour(clouds)
    clouds["vertex"][0].faults.inject(400, times=1, method="POST")  # the CustomJob create is refused
    dag = load_example("multi_cloud_comparison")
    dag_run = dag.test()
    table = xcoms(dag.dag_id, dag_run.run_id)["compare"]["return_value"]
    print(f"\n{format_table(table)}")
    assert task_states(dag_run)["train_on_vertex"] == "failed"
    [failed] = table["failed"]
    assert failed["name"] == "train_on_vertex" and failed["resource"] == "vertex"
    assert "Injected fault 400" in failed["reason"]  # the error the create got, pushed as XCom failure
    # both others report the default loss 0.12: the tie goes to the cheaper one
    assert [r["name"] for r in table["ranked"]] == ["train_on_azure_ml", "train_on_sagemaker"]


def test_a_metric_tie_is_broken_by_cost(clouds, wandb_conn):
    _, _, table = run_comparison(clouds, {"sagemaker": 0.2, "vertex": 0.2, "azure-ml": 0.2})
    assert [r["name"] for r in table["ranked"]] == ["train_on_azure_ml", "train_on_sagemaker", "train_on_vertex"]
    assert [r["cost_usd"] for r in table["ranked"]] == [0.53, 0.74, 0.84]
    azure_run = table["ranked"][0]["run_path"]
    assert "best-loss" in fake_run(wandb_conn, azure_run)["tags"]


@pytest.mark.parametrize(
    ("workload", "cloud", "machine"),
    [
        ("production", "sagemaker", "ml.p4d.24xlarge"),
        ("experiment", "vertex", "a2-highgpu-4g"),
        ("compliance", "azure-ml", "Standard_NC6s_v3"),
    ],
)
def test_routing_sends_the_run_to_its_workloads_cloud(clouds, workload, cloud, machine):
    dag = load_example("multi_cloud_routing")
    dag_run = dag.test(run_conf={"workload": workload})
    states = task_states(dag_run)
    launched = {t: s for t, s in states.items() if t.startswith("train_")}
    assert [t for t, s in launched.items() if s == "success"] == [f"train_{workload}_on_{cloud.replace('-', '_')}"]
    assert sorted(s for s in launched.values() if s != "success") == ["skipped", "skipped"]
    assert states["route"] == "success" and states["report"] == "success"
    for other, (emulator, _) in clouds.items():
        assert len(emulator.job_names()) == (1 if other == cloud else 0), other
    emulator = clouds[cloud][0]
    request = emulator.create_request(emulator.job_names()[0])
    if cloud == "sagemaker":
        assert request["ResourceConfig"]["InstanceType"] == machine and request["ResourceConfig"]["InstanceCount"] == 4
    elif cloud == "vertex":
        assert request["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["machineType"] == machine
    else:
        assert request["properties"]["resources"]["instanceType"] == machine
    report = xcoms(dag.dag_id, dag_run.run_id)["report"]["return_value"]
    assert report["resource"] == cloud and report["job_state"] == "succeeded"


def test_a_failed_summary_write_or_tag_is_a_warning_not_a_failure(clouds, monkeypatch, capfd):
    from airflow_wandb_launch.hooks.wandb import WandbHook

    def refused(self, *args):
        raise RuntimeError("W&B is down")

    monkeypatch.setattr(WandbHook, "update_run_summary", refused)
    monkeypatch.setattr(WandbHook, "add_run_tags", refused)
    dag_run, xcom, table = run_comparison(clouds, {"sagemaker": 0.3, "vertex": 0.1, "azure-ml": 0.2})
    assert set(task_states(dag_run).values()) == {"success"}
    assert table["winner"] == "train_on_vertex" and table["tagged"] is None
    assert xcom["train_on_vertex"]["return_value"]["cost_usd"] == COST["vertex"]
    out = capfd.readouterr().out
    assert "Could not write the cost to W&B run" in out and "Could not tag W&B run" in out
