"""The e2e stack: one real Airflow (api-server, scheduler, triggerer, dag-processor) per module, on loopback.

The SageMaker and W&B emulators run in this process (threads on 127.0.0.1); the Airflow processes reach
them over HTTP through the ``aws_default`` and ``wandb_default`` connections given as env vars.
A failed test's report gets the tail of each component's log.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ENTITY, ROOT
from tests.e2e.stack import AirflowStack

DAG_ID = "sagemaker_training"
TIMINGS: list[dict[str, float]] = []  # each stack's, for the terminal summary


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    stack = getattr(item, "funcargs", {}).get("airflow_stack")
    if report.failed and isinstance(stack, AirflowStack):
        report.sections.append(("Airflow component logs", stack.log_tails()))


#: the retraining example trains on SageMaker (the emulator) in the stack; see test_asset_trigger_e2e.py.
RETRAINING_PROJECT = "retraining-e2e"
#: the hyperparameter sweep example trains on SageMaker (the emulator) in the stack; see test_sweep_e2e.py.
SWEEP_PROJECT = "sweep-e2e"
#: test-only DAGs (the fault matrix's), served as a second bundle beside example_dags/, which stays user-facing.
TEST_DAGS = Path(__file__).resolve().parent / "dags"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
#: a triggerer whose heartbeat is older than this is dead: its triggers go to a live one (the fault matrix kills
#: and freezes the triggerer; Airflow's default, 30 s, would only make it wait longer)
TRIGGERER_HEALTH_CHECK_THRESHOLD = 10


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory, _sagemaker_server, wandb_server) -> Iterator[AirflowStack]:
    """One migrated, healthy stack serving example_dags/ for every e2e test (each test unpauses its DAGs)."""
    started = time.monotonic()
    home = tmp_path_factory.mktemp("e2e")
    wandb_conn = {
        "conn_type": "wandb",
        "password": wandb_server.api_key,
        "host": wandb_server.base_url,
        "extra": {"entity": ENTITY},
    }
    env = {
        "AIRFLOW_CONN_AWS_DEFAULT": _sagemaker_server.airflow_conn_env(),
        "AIRFLOW_CONN_WANDB_DEFAULT": json.dumps(wandb_conn),
        "WANDB_LAUNCH_EXAMPLE_POLL_INTERVAL": "1",
        "WANDB_RETRAINING_ENTITY": ENTITY,
        "WANDB_RETRAINING_PROJECT": RETRAINING_PROJECT,
        "WANDB_RETRAINING_RESOURCE": "sagemaker",
        "WANDB_SWEEP_RESOURCE": "sagemaker",
        "WANDB_SWEEP_PROJECT": SWEEP_PROJECT,
        **{f"WANDB_{name.upper()}_DIR": str(home / f"wandb-{name}") for name in ("cache", "config", "data")},
        "WANDB_DIR": str(home / "wandb"),
        "WANDB_SILENT": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": _sagemaker_server.region,
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},  # example_dags/: DAGS_FOLDER
                {"name": "e2e-test-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(TEST_DAGS)}},
            ]
        ),
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_CHECK_THRESHOLD),
    }
    stack = AirflowStack(home / "airflow", ROOT / "example_dags", env)
    stack.migrate()
    with stack:
        yield stack
    stack.timings["session total"] = time.monotonic() - started
    TIMINGS.append(stack.timings)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for timings in TIMINGS:
        terminalreporter.write_line("e2e timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


def read_trigger(db: Path, dag_id: str, run_id: str, task_id: str) -> tuple[str, str] | None:
    """``(classpath, kwargs as stored)`` of the trigger a deferred task waits on, read from the metadata DB."""
    query = (
        "SELECT t.classpath, t.kwargs FROM trigger t JOIN task_instance ti ON ti.trigger_id = t.id"
        " WHERE ti.dag_id = ? AND ti.run_id = ? AND ti.task_id = ?"
    )
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return conn.execute(query, (dag_id, run_id, task_id)).fetchone()
