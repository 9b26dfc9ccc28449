"""Running operators the way a user does, through ``dag.test()``, and reading what they left in XCom."""

from __future__ import annotations

import itertools
from typing import Any

import pendulum

_counter = itertools.count()


def run_dag(build, *, dag_id: str | None = None) -> tuple[Any, dict[str, dict[str, Any]]]:
    """Build a DAG by calling ``build()`` inside it, run it with ``dag.test()``.

    :return: the DagRun and ``{task_id: {xcom key: value}}``.
    """
    from airflow.sdk import DAG

    dag_id = dag_id or f"test_dag_{next(_counter)}_{pendulum.now().int_timestamp}"
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
        build()
    write_to_db(dag)
    dag_run = dag.test()
    return dag_run, xcoms(dag_id, dag_run.run_id)


def write_to_db(dag) -> None:
    """Serialize an in-test DAG into the metadata DB, as the dag-processor would (dag.test() needs it there)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(collect_dags=False, bundle_name="dags-folder")
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def xcoms(dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    found: dict[str, dict[str, Any]] = {}
    with create_session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.key, XComModel.value).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run_id
            )
        ).all()
    for row in rows:
        found.setdefault(row.task_id, {})[row.key] = XComModel.deserialize_value(row)
    return found


def task_states(dag_run) -> dict[str, str]:
    return {
        ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        for ti in dag_run.get_task_instances()
    }
