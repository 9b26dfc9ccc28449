"""The run spec pushed onto a W&B Launch queue (as wandb's launch_add builds it) and the queue inputs' validation."""

from __future__ import annotations

import json

import pytest

from airflow_wandb_launch.backends.wandb_queue.spec import (
    build_run_spec,
    check_source,
    check_template_variables,
    normalize_priority,
)
from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.wandb_api.queue import LAUNCH_DEFAULT_PROJECT, QueueRef, push_op

BASE = {"entity": "acme", "project": "train", "run_id": "abcd1234"}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"image": "ghcr.io/acme/train:1"},
            {
                "entity": "acme",
                "project": "train",
                "docker": {"docker_image": "ghcr.io/acme/train:1"},
                "resource": None,
                "git": {},
                "overrides": {},
                "run_id": "abcd1234",
            },
            id="image",
        ),
        pytest.param(
            {"job": "acme/train/job-x:latest", "name": "dag.train", "run_config": {"lr": 0.1}},
            {
                "job": "acme/train/job-x:latest",
                "entity": "acme",
                "project": "train",
                "name": "dag.train",
                "docker": {},
                "resource": None,
                "git": {},
                "overrides": {"run_config": {"lr": 0.1}},
                "run_id": "abcd1234",
            },
            id="job-name-config",
        ),
        pytest.param(
            {"image": "i", "resource_args": {"sagemaker": {"ResourceConfig": {"InstanceCount": 2}}}, "author": "me"},
            {
                "entity": "acme",
                "author": "me",
                "project": "train",
                "docker": {"docker_image": "i"},
                "resource": None,
                "git": {},
                "overrides": {},
                "resource_args": {"sagemaker": {"ResourceConfig": {"InstanceCount": 2}}},
                "run_id": "abcd1234",
            },
            id="resource-args-author",
        ),
        pytest.param(
            {"image": "i", "template_variables": {"gpus": 2}},
            {
                "entity": "acme",
                "project": "train",
                "docker": {"docker_image": "i"},
                "resource": None,
                "git": {},
                "overrides": {},
                "run_id": "abcd1234",
            },
            id="template-variables-not-in-spec",
        ),
    ],
)
def test_build_run_spec(kwargs, expected):
    spec = build_run_spec(**BASE, **kwargs)
    assert spec == expected
    assert list(spec) == list(expected)  # launch_add's key order
    json.dumps(spec)  # it travels as a JSONString


@pytest.mark.parametrize(
    ("kwargs", "key_path"),
    [
        ({"image": "i", "resource_args": {"sagemaker": {}}, "template_variables": {"x": 1}}, "resource_args"),
        ({"image": "i", "resource_args": {"RoleArn": "arn"}}, "resource_args.RoleArn"),
        ({"image": "i", "resource_args": {"sagemaker": ["x"]}}, "resource_args.sagemaker"),
        ({"image": "i", "run_config": ["lr"]}, "run_config"),
    ],
)
def test_build_run_spec_rejects(kwargs, key_path):
    with pytest.raises(ResourceArgsError) as err:
        build_run_spec(**BASE, **kwargs)
    assert err.value.key_path == key_path


@pytest.mark.parametrize(
    ("priority", "expected"),
    [(None, None), (0, 0), (3, 3), ("critical", 0), ("High", 1), ("medium", 2), (" low ", 3)],
)
def test_priority(priority, expected):
    assert normalize_priority(priority) == expected


@pytest.mark.parametrize("priority", [-1, 4, "urgent", True, 1.0])
def test_priority_out_of_range(priority):
    with pytest.raises(ResourceArgsError, match="critical, high, medium, low"):
        normalize_priority(priority)


@pytest.mark.parametrize(
    ("values", "key_path"),
    [
        (["gpus"], "template_variables"),
        ({"": 1}, "template_variables"),
        ({"gpus": None}, "template_variables.gpus"),
        ({"gpus": True}, "template_variables.gpus"),
        ({"gpus": [1, 2]}, "template_variables.gpus"),
        ({"gpus": {"n": 1}}, "template_variables.gpus"),
    ],
)
def test_template_variables_must_be_scalars(values, key_path):
    with pytest.raises(ResourceArgsError) as err:
        check_template_variables(values)
    assert err.value.key_path == key_path


def test_template_variables_accepted():
    assert check_template_variables({"gpus": 2, "tier": "spot", "mem": 1.5}) == {"gpus": 2, "tier": "spot", "mem": 1.5}
    assert check_template_variables(None) is None


@pytest.mark.parametrize(
    ("queue_name", "job", "image", "key_path"),
    [
        ("", None, "i", "queue_name"),
        ("  ", None, "i", "queue_name"),
        (None, None, "i", "queue_name"),
        ("q", None, None, "job"),
        ("q", "e/p/j:latest", "i", "job"),
    ],
)
def test_source_validation(queue_name, job, image, key_path):
    with pytest.raises(ResourceArgsError) as err:
        check_source(queue_name, job, image)
    assert err.value.key_path == key_path


def test_push_mutation_has_optional_arguments_only_when_set():
    queue = QueueRef("acme", LAUNCH_DEFAULT_PROJECT, "gpu")
    query, variables, name = push_op(queue, {"run_id": "r"}, None, None)
    assert name == "pushToRunQueueByName" and "priority" not in query and "templateVariableValues" not in query
    assert variables == {
        "entityName": "acme",
        "projectName": "model-registry",
        "queueName": "gpu",
        "runSpec": '{"run_id": "r"}',
    }
    query, variables, _ = push_op(queue, {}, {"gpus": 2}, 0)
    assert "$priority: Int" in query and "$templateVariableValues: JSONString" in query
    assert variables["priority"] == 0 and variables["templateVariableValues"] == '{"gpus": 2}'


def test_queue_label():
    assert QueueRef("acme", LAUNCH_DEFAULT_PROJECT, "gpu").label == "acme/gpu"
    assert QueueRef("acme", "ops", "gpu").label == "acme/ops/gpu"
