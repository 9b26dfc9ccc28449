"""Operator constructor validation, template fields, lazy imports, and the provider metadata."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.operators import WandbLaunchOperator, WandbLaunchSageMakerOperator

REPO = Path(__file__).resolve().parents[2]
HEAVY_MODULES = ("boto3", "botocore", "wandb", "google.cloud.aiplatform", "azure.ai.ml")
_task_ids = iter(range(10_000))


def make(cls=WandbLaunchOperator, **kwargs):
    kwargs.setdefault("task_id", f"t{next(_task_ids)}")
    return cls(**kwargs)


# --- constructor validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "key_path", "expected"),
    [
        (
            {"resource": "sagemaker", "image": "img:1", "job": "e/p/job:latest"},
            "job",
            "either image or job, not both",
        ),
        ({"resource": "sagemaker"}, "image", "an image, a W&B job or an entry_point"),
        ({"resource": "local-process"}, "image", "an image, a W&B job or an entry_point"),
        ({"resource": "local-process", "entry_point": "python t.py", "poll_interval": 0}, "poll_interval", "> 0"),
        ({"resource": "local-process", "entry_point": "python t.py", "poll_interval": -1}, "poll_interval", "> 0"),
        (
            {"resource": "local-process", "entry_point": "python t.py", "env": {"WANDB_RUN_ID": "mine"}},
            "env.WANDB_RUN_ID",
            "the operator chooses the run id",
        ),
        ({"resource": "kubernetes", "image": "img:1"}, "resource", "one of ["),
    ],
    ids=[
        "image+job",
        "nothing-to-run-sagemaker",
        "nothing-to-run-local",
        "poll-0",
        "poll-negative",
        "run-id",
        "unknown",
    ],
)
def test_constructor_rejects(kwargs, key_path, expected):
    with pytest.raises(ResourceArgsError) as info:
        make(**kwargs)
    assert info.value.key_path == key_path
    assert expected in str(info.value)


def test_unknown_resource_lists_the_known_ones():
    with pytest.raises(ResourceArgsError) as info:
        make(resource="sagemkaer", image="img:1")
    message = str(info.value)
    assert "'sagemkaer'" in message
    for known in ("sagemaker", "local-process", "vertex", "gcp-vertex", "azure-ml"):
        assert f"'{known}'" in message


@pytest.mark.parametrize(
    ("kwargs", "owner"),
    [
        ({"aws_conn_id": "aws_default"}, "sagemaker"),
        ({"region_name": "eu-west-1"}, "sagemaker"),
    ],
)
def test_foreign_connection_argument_names_its_resource(kwargs, owner):
    with pytest.raises(TypeError) as info:
        make(resource="local-process", entry_point="python t.py", **kwargs)
    message = str(info.value)
    key, value = next(iter(kwargs.items()))
    assert f"{key}={value!r}" in message
    assert f"resource {owner!r}" in message
    assert "'local-process'" in message


def test_truly_unknown_argument_is_still_a_type_error():
    with pytest.raises(TypeError, match="bogus"):
        make(resource="local-process", entry_point="python t.py", bogus=1)


@pytest.mark.parametrize(
    ("kwargs", "resource"),
    [
        ({"resource": "local-process", "entry_point": "python t.py"}, "local-process"),
        ({"resource": "sagemaker", "image": "img:1"}, "sagemaker"),
        ({"resource": "sagemaker", "job": "e/p/job:v1"}, "sagemaker"),
    ],
)
def test_valid_constructions(kwargs, resource):
    op = make(**kwargs)
    assert op.resource == resource
    assert op.deferrable is True
    assert op.poll_interval == 30
    assert op.cancel_on_kill is True
    assert op.require_wandb_run is True
    assert op.wandb_conn_id == "wandb_default"


def test_sagemaker_connection_args_on_the_generic_operator():
    op = make(resource="sagemaker", image="img:1", aws_conn_id="aws_prod", region_name="eu-west-1")
    assert op.connection_args == {"aws_conn_id": "aws_prod", "region_name": "eu-west-1"}


@pytest.mark.parametrize(
    ("kwargs", "connection_args"),
    [
        ({}, {"aws_conn_id": "aws_default", "region_name": None}),
        (
            {"aws_conn_id": "aws_prod", "region_name": "us-west-2"},
            {"aws_conn_id": "aws_prod", "region_name": "us-west-2"},
        ),
    ],
)
def test_sagemaker_operator_sets_resource_and_connection_args(kwargs, connection_args):
    op = make(WandbLaunchSageMakerOperator, image="img:1", resource_args={"RoleArn": "r"}, **kwargs)
    assert op.resource == "sagemaker"
    assert op.connection_args == connection_args
    assert op.resource_args == {"RoleArn": "r"}
    assert isinstance(op, WandbLaunchOperator)


def test_sagemaker_operator_does_not_take_a_resource():
    with pytest.raises(TypeError):
        make(WandbLaunchSageMakerOperator, resource="local-process", image="img:1")


def test_constructing_does_not_build_a_backend_or_hook():
    op = make(resource="sagemaker", image="img:1")
    assert "backend" not in op.__dict__
    assert "wandb_hook" not in op.__dict__


# --- template fields -----------------------------------------------------------------------------------------------


def test_template_fields():
    fields = set(WandbLaunchOperator.template_fields)
    assert {"resource_args", "image", "env", "job", "entry_point", "run_config"} <= fields
    assert set(WandbLaunchSageMakerOperator.template_fields) == fields
    for name in fields:
        assert not re.search(r"key|password|secret|token|credential|conn", name, re.I), name
    assert "wandb_conn_id" not in fields
    op = make(resource="sagemaker", image="img:1")
    for name in fields:
        assert hasattr(op, name), name


# --- lazy imports ----------------------------------------------------------------------------------------------------


LAZY_MODULES = (
    "airflow_wandb_launch.operators",
    "airflow_wandb_launch.hooks",
    "airflow_wandb_launch.sensors",
    "airflow_wandb_launch.decorators",
)


def _start_import_check(module: str) -> subprocess.Popen:
    code = (
        "import json, sys\n"
        f"import {module}\n"
        f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


# Started when the module is collected (a fresh interpreter takes seconds to import Airflow); the test waits.
_IMPORT_CHECKS = {module: _start_import_check(module) for module in LAZY_MODULES}


@pytest.mark.parametrize("module", LAZY_MODULES)
def test_importing_loads_no_cloud_sdk_and_no_wandb(module):
    """In a FRESH interpreter: DAG files import these every few seconds."""
    proc = _IMPORT_CHECKS[module]
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    loaded = json.loads(out.strip().splitlines()[-1])
    assert loaded == []


# --- provider info ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def provider_info() -> dict:
    from airflow_wandb_launch.get_provider_info import get_provider_info

    return get_provider_info()


def test_provider_info_validates_against_airflows_schema(provider_info):
    import airflow
    import jsonschema

    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(provider_info, schema)
    assert provider_info["package-name"] == "airflow-provider-wandb-launch"


def test_provider_info_names_the_wandb_connection_and_its_hook(provider_info):
    from airflow_wandb_launch.hooks import WandbHook

    (conn,) = [c for c in provider_info["connection-types"] if c["connection-type"] == "wandb"]
    module_name, _, class_name = conn["hook-class-name"].rpartition(".")
    hook_class = getattr(importlib.import_module(module_name), class_name)
    assert hook_class is WandbHook
    assert hook_class.conn_type == conn["connection-type"]
    assert conn["hook-name"] == WandbHook.hook_name
    assert {"entity", "project"} <= set(conn["conn-fields"])
    assert "password" in conn["ui-field-behaviour"]["relabeling"]


def test_provider_info_modules_and_classes_exist(provider_info):
    from airflow_wandb_launch import __version__

    assert __version__ in provider_info["versions"]
    for section in ("operators", "hooks", "triggers", "sensors"):
        for entry in provider_info[section]:
            for module_name in entry["python-modules"]:
                importlib.import_module(module_name)
    for path in provider_info["extra-links"]:
        module_name, _, class_name = path.rpartition(".")
        assert hasattr(importlib.import_module(module_name), class_name), path
