"""example_dags/hyperparameter_sweep.py through dag.test(): six mapped local-process runs, offline, the best picked.

And WandbCompareRunsOperator over mapped launch tasks whose map indexes fail, or that never expand.
"""

from __future__ import annotations

import sys

import pytest

from airflow_wandb_launch.cost.comparison import format_table
from airflow_wandb_launch.operators import WandbCompareRunsOperator, WandbLaunchOperator
from tests.helpers.airflow import run_dag, xcoms

pytestmark = pytest.mark.usefixtures("airflow_db")


def by_map_index(dag_id: str, run_id: str, task_id: str) -> dict[int, dict]:
    """``{map_index: {xcom key: value}}`` of one (mapped) task."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    found: dict[int, dict] = {}
    with create_session() as session:
        rows = session.execute(
            select(XComModel.map_index, XComModel.key, XComModel.value).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.task_id == task_id
            )
        ).all()
    for row in rows:
        found.setdefault(row.map_index, {})[row.key] = XComModel.deserialize_value(row)
    return found


def states(dag_run) -> dict[tuple[str, int], str]:
    return {
        (ti.task_id, ti.map_index): str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        for ti in dag_run.get_task_instances()
    }


def test_sweep_example_runs_six_configs_and_picks_the_best():
    from example_dags.hyperparameter_sweep import CONFIGS, METRIC, dag_object

    assert len(CONFIGS) == 6
    dag_run = dag_object.test()
    assert states(dag_run) == {**{("train", i): "success" for i in range(6)}, ("pick_best", -1): "success"}
    names = {ti.map_index: ti.rendered_map_index for ti in dag_run.get_task_instances() if ti.task_id == "train"}
    assert names == {i: f"lr={config['lr']}" for i, config in enumerate(CONFIGS)}
    found = by_map_index(dag_object.dag_id, dag_run.run_id, "train")
    results = [found[i]["return_value"] for i in range(6)]

    run_ids = [r["run_id"] for r in results]
    assert len(set(run_ids)) == 6 and run_ids == [found[i]["run_id"] for i in range(6)]
    assert all(r["job_state"] == "succeeded" and r["run_state"] == "finished" for r in results)
    assert {r["run_path"] for r in results} == {f"hyperparameter-sweep/{run_id}" for run_id in run_ids}
    losses = [r["summary"][METRIC] for r in results]
    assert len(set(losses)) == 6  # each job trained with its own config (WANDB_CONFIG)

    table = xcoms(dag_object.dag_id, dag_run.run_id)["pick_best"]["return_value"]
    print(f"\n{format_table(table)}")
    best = min(range(6), key=losses.__getitem__)
    assert best == 4 and CONFIGS[best]["lr"] == 0.6  # too small a step converges slowly; 0.9 oscillates
    assert table["winner"] == "train[4]"
    assert [row["name"] for row in table["ranked"]] == [f"train[{i}]" for i in sorted(range(6), key=losses.__getitem__)]
    assert table["ranked"][0]["run_path"] == results[4]["run_path"] and table["ranked"][0]["value"] == losses[4]
    assert table["unranked"] == [] and table["failed"] == [] and table["tagged"] is None  # offline: nothing to tag


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


#: a job logging ``loss`` from its config; ``fail`` in the config makes it exit 3.
JOB = (
    "import sys, wandb; r = wandb.init(); "
    "sys.exit(3) if r.config.get('fail') else None; "
    "r.summary['loss'] = r.config['loss']; r.finish()"
)


def test_compare_reads_each_map_index_failures_included(capfd):
    def build():
        train = WandbLaunchOperator.partial(
            task_id="train", resource="local-process", project="sweep-tests", entry_point=python(JOB)
        ).expand(run_config=[{"loss": 0.5}, {"loss": 0.2, "fail": True}, {"loss": 0.3}])
        single = WandbLaunchOperator(
            task_id="single",
            resource="local-process",
            project="sweep-tests",
            entry_point=python(JOB),
            run_config={"loss": 0.4},
        )
        [train, single] >> WandbCompareRunsOperator(
            task_id="compare", launch_task_ids=["train", "single"], metric="loss"
        )

    dag_run, xcom = run_dag(build)
    assert states(dag_run)[("train", 1)] == "failed" and states(dag_run)[("compare", -1)] == "success"
    table = xcom["compare"]["return_value"]
    assert [(row["name"], row["value"]) for row in table["ranked"]] == [
        ("train[2]", 0.3),
        ("single", 0.4),
        ("train[0]", 0.5),
    ]
    [failed] = table["failed"]
    assert failed["name"] == "train[1]" and failed["resource"] == "local-process"
    assert "exited with code 3" in failed["reason"]
    found = by_map_index(dag_run.dag_id, dag_run.run_id, "train")
    assert failed["run_path"] == f"sweep-tests/{found[1]['run_id']}"
    assert table["ranked"][0]["run_path"] == f"sweep-tests/{found[2]['run_id']}"


def test_compare_lists_a_mapped_task_that_never_expanded():
    def build():
        from airflow.sdk import task

        @task
        def no_configs() -> list:
            return []

        train = WandbLaunchOperator.partial(
            task_id="train", resource="local-process", project="sweep-tests", entry_point=python(JOB)
        ).expand(run_config=no_configs())
        train >> WandbCompareRunsOperator(task_id="compare", launch_task_ids=["train"], metric="loss")

    _, xcom = run_dag(build)
    table = xcom["compare"]["return_value"]
    assert table["ranked"] == [] and table["winner"] is None
    [failed] = table["failed"]
    assert failed["name"] == "train" and failed["resource"] == "local-process"
    assert failed["reason"].startswith("task train ended skipped with no result")
