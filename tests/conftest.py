"""Test harness: an isolated Airflow home (migrated once), isolated W&B dirs, emulators, and dag.test() helpers.

The environment is fixed here, at import, before anything imports Airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="airflow-wandb-launch-tests-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "WANDB_DIR": str(_HOME / "wandb"),
        "WANDB_CACHE_DIR": str(_HOME / "wandb-cache"),
        "WANDB_CONFIG_DIR": str(_HOME / "wandb-config"),
        "WANDB_DATA_DIR": str(_HOME / "wandb-data"),
        "WANDB_SILENT": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(_HOME / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(_HOME / "aws-credentials"),
        # local-process jobs run `python ...`: the interpreter of this venv.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
)
for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_MODE"):
    os.environ.pop(name, None)

import pytest  # noqa: E402

from tests.emulators.sagemaker import SageMakerEmulator  # noqa: E402
from tests.emulators.wandb_server import WandbServer  # noqa: E402

ENTITY = "airflow-tests"
#: the Vertex AI and Azure ML emulator fixtures (``vertex``, ``aml``) and the log-tailing ones, for any test module
pytest_plugins = ["tests.helpers.clouds", "tests.helpers.log_tailing"]


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata DB, made once per session (~12 s)."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return home


@pytest.fixture(scope="session")
def wandb_server():
    with WandbServer(default_entity=ENTITY) as server:
        yield server


@pytest.fixture
def wandb_conn(wandb_server, monkeypatch):
    """The ``wandb_default`` connection, pointing at the W&B fake."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_WANDB_DEFAULT",
        json.dumps(
            {
                "conn_type": "wandb",
                "password": wandb_server.api_key,
                "host": wandb_server.base_url,
                "extra": {"entity": ENTITY},
            }
        ),
    )
    return wandb_server


@pytest.fixture(scope="session")
def _sagemaker_server():
    with SageMakerEmulator() as emulator:
        emulator.create_bucket("wandb-launch-tests")
        yield emulator


@pytest.fixture
def sagemaker(_sagemaker_server, monkeypatch):
    """The SageMaker emulator (fresh jobs and scripts) behind the ``aws_default`` connection."""
    _sagemaker_server.reset()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", _sagemaker_server.airflow_conn_env())
    yield _sagemaker_server
    _sagemaker_server.reset()


@pytest.fixture
def container(sagemaker, wandb_conn):
    """The training container SageMaker 'runs': it logs a W&B run as the job's env tells it to."""
    from tests.helpers.container import TrainingContainer

    stand_in = TrainingContainer(wandb_conn)
    sagemaker.on_create.append(stand_in)
    return stand_in


@pytest.fixture
def triggers(monkeypatch):
    """Every LaunchJobTrigger an operator deferred to, as serialized into the metadata DB."""
    from airflow_wandb_launch.triggers.launch import LaunchJobTrigger

    seen: list[dict] = []
    original = LaunchJobTrigger.serialize

    def recording(self):
        classpath, kwargs = original(self)
        seen.append(kwargs)
        return classpath, kwargs

    monkeypatch.setattr(LaunchJobTrigger, "serialize", recording)
    return seen


@pytest.fixture
def task_deferred(monkeypatch):
    """What the triggers' kill guard reads of the task's state (from the triggerer's API; none here): set it.

    ``task_deferred["deferred"] = True`` makes ``on_kill`` see a trigger moving between triggerers
    (apache/airflow#73454); the default, False, a user's kill.
    """
    from airflow_wandb_launch.triggers import polling

    answer = {"deferred": False}

    async def still_deferred(task_instance, log) -> bool:
        return answer["deferred"]

    monkeypatch.setattr(polling, "task_still_deferred", still_deferred)
    return answer


def pytest_collection_modifyitems(config, items) -> None:
    """Run the e2e tests last: their Airflow stack (four processes) then lives only while they run."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
