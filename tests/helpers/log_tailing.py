"""Fixtures for tests of a trigger's log tailing (a pytest plugin registered in tests/conftest.py).

- ``trigger_log`` (use it, or mark the module with it): the trigger logs through a stdlib logger that caplog sees
  (Airflow's is structlog's).
- ``patient_polls``: a poll waits for its log read to finish (tests read what it showed right after it).
- ``shown``: the job lines the trigger wrote to its log so far.
- ``xcom``: the task's XComs as the triggerer's API would keep them (a dict); ``TI`` is a task instance for it.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

TRIGGER_LOGGER = "airflow_wandb_launch.triggers.launch"
TI = SimpleNamespace(dag_id="d", task_id="train", run_id="manual__1", map_index=-1)


@pytest.fixture
def patient_polls(monkeypatch):
    """A poll waits for its log read until it is done (not at most LOG_WAIT_SECONDS), so that a test can read what a
    poll showed right after it, however loaded the machine; a test of that bound sets it again."""
    from airflow_wandb_launch.triggers import launch

    monkeypatch.setattr(launch, "LOG_WAIT_SECONDS", 120.0)


@pytest.fixture
def trigger_log(monkeypatch):
    """Triggers log through a stdlib logger here (Airflow's is structlog's, which caplog does not see)."""
    from airflow_wandb_launch.triggers.launch import LaunchJobTrigger

    monkeypatch.setattr(LaunchJobTrigger, "log", property(lambda self: logging.getLogger(TRIGGER_LOGGER)))


@pytest.fixture
def shown(caplog):
    """The lines the trigger wrote to its log so far (read it again after each poll)."""
    caplog.set_level(logging.INFO)

    def lines(level: int = logging.INFO) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.levelno == level and r.name.startswith(TRIGGER_LOGGER) and r.getMessage().startswith(("[", "…"))
        ]

    return lines


def warnings(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


@pytest.fixture
def xcom(monkeypatch):
    """The task's XComs as the triggerer's API would keep them (a dict), for a trigger given a task instance."""
    from airflow.sdk.execution_time.xcom import XCom

    store: dict[tuple, object] = {}
    writes: list[tuple] = []

    def key(k, dag_id, task_id, run_id, map_index):
        return (k, dag_id, task_id, run_id, map_index)

    def set_(cls, k, value, *, dag_id, task_id, run_id, map_index=-1, **_):
        if store.get("broken"):
            raise ConnectionError("the API server is unreachable")
        writes.append(key(k, dag_id, task_id, run_id, map_index))
        store[writes[-1]] = json.loads(json.dumps(value))

    def get_one(cls, *, key: str, dag_id, task_id, run_id, map_index=None, **_):
        return store.get((key, dag_id, task_id, run_id, map_index))

    monkeypatch.setattr(XCom, "set", classmethod(set_))
    monkeypatch.setattr(XCom, "get_one", classmethod(get_one))
    store["writes"] = writes
    return store
