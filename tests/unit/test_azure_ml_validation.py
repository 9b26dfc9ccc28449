"""Issue 13, Azure ML: every bad config is stopped by the pure build, by azure-ai-ml's own job schema.

Each malformed config must raise ``ResourceArgsError`` from the backend's ``build`` (which runs before ``submit``),
naming the key path as written, the value as written and what was expected.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_wandb_launch.backends.azure_ml import hardware, pricing, validation
from airflow_wandb_launch.backends.azure_ml.backend import AzureMLBackend
from airflow_wandb_launch.backends.azure_ml.request import DISTRIBUTIONS, IDENTITIES, JOB_TIERS, PRIORITIES
from airflow_wandb_launch.errors import MISSING, ResourceArgsError
from airflow_wandb_launch.launch.prepare import prepare_launch
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials

IMAGE = "myregistry.azurecr.io/train:1"
CREDS = WandbCredentials(api_key="k")
CLUSTER = {"compute": "gpu-cluster"}


def request(**overrides: Any) -> LaunchRequest:
    fields = {
        "resource": "azure-ml",
        "run": RunIdentity("k3j2h1g0", "proj", "acme", "dag.train"),
        "image": IMAGE,
        "entry_point": ("python", "train.py"),
    }
    return LaunchRequest(**{**fields, **overrides})


def build(resource_args: dict, **overrides: Any) -> dict:
    """What the operator does before it submits: prepare (wrapper, macros), then the backend's pure build."""
    req = request(**overrides)
    prepared = prepare_launch(req, resource_args, CREDS, resource_names=("azure-ml", *AzureMLBackend.aliases))
    backend = AzureMLBackend()
    backend.submit = _no_submit  # type: ignore[method-assign]
    return backend.build(prepared.request, prepared.resource_args, prepared.env)


def _no_submit(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("submit must not be reached")


def cluster(**changes: Any) -> dict:
    return {**CLUSTER, **changes}


#: (id, resource_args, request overrides, key path as written, value as written, a part of what is expected)
MALFORMED: list[tuple[str, dict, dict, str, Any, str]] = [
    # -- wrappers and top-level keys
    ("vertex-wrapper", {"vertex": {"spec": {}}}, {}, "vertex", {"spec": {}}, "not a config for the vertex resource"),
    (
        "sagemaker-wrapper",
        {"sagemaker": {"RoleArn": "r"}},
        {},
        "sagemaker",
        {"RoleArn": "r"},
        "not a config for the sagemaker resource",
    ),
    ("misspelt", cluster(instance_cont=2), {}, "instance_cont", 2, "did you mean 'instance_count'"),
    ("environment-key", cluster(environment="img"), {}, "environment", "img", "did you mean 'environment_variables'"),
    ("code", cluster(code="./src"), {}, "code", "./src", "one of the known keys"),
    # -- compute
    ("no-compute", {}, {}, "compute", None, "a compute cluster name, or instance_type"),
    ("compute-empty", {"compute": ""}, {}, "compute", "", "a compute cluster name"),
    ("compute-int", {"compute": 3}, {}, "compute", 3, "a string"),
    ("instance-type-empty", {"instance_type": ""}, {}, "compute", None, "instance_type for serverless"),
    (
        "instance-type-fake",
        {"instance_type": "Standard_Fake_Z99"},
        {},
        "instance_type",
        "Standard_Fake_Z99",
        "Azure VM size",
    ),
    (
        "instance-type-family",
        {"instance_type": "Standard_Q4s_v3"},
        {},
        "instance_type",
        "Standard_Q4s_v3",
        "known family",
    ),
    ("instance-type-no-prefix", {"instance_type": "NC6s_v3"}, {}, "instance_type", "NC6s_v3", "'Standard_NC6s_v3'"),
    (
        "instance-type-no-size",
        {"instance_type": "Standard_NC"},
        {},
        "instance_type",
        "Standard_NC",
        "Standard_<family><vCPUs>",
    ),
    (
        "instance-type-sagemaker",
        {"instance_type": "ml.p3.2xlarge"},
        {},
        "instance_type",
        "ml.p3.2xlarge",
        "Azure VM size",
    ),
    ("instance-type-list", {"instance_type": ["x"]}, {}, "instance_type", ["x"], "a string"),
    ("instance-count-zero", cluster(instance_count=0), {}, "instance_count", 0, ">= 1"),
    ("instance-count-string", cluster(instance_count="2"), {}, "instance_count", "2", "an integer"),
    ("instance-count-bool", cluster(instance_count=True), {}, "instance_count", True, "an integer"),
    ("instance-count-float", cluster(instance_count=2.5), {}, "instance_count", 2.5, "an integer"),
    ("shm-size", cluster(shm_size="lots"), {}, "shm_size", "lots", "'8g'"),
    ("shm-size-int", cluster(shm_size=16), {}, "shm_size", 16, "a string"),
    ("locations-string", cluster(locations="westus"), {}, "locations", "westus", "a list"),
    ("locations-empty-item", cluster(locations=[""]), {}, "locations", [""], "Azure region names"),
    ("docker-args-list", cluster(docker_args=["--ipc=host"]), {}, "docker_args", ["--ipc=host"], "a string"),
    ("timeout-negative", cluster(timeout=-1), {}, "timeout", -1, ">= 1"),
    ("timeout-string", cluster(timeout="1h"), {}, "timeout", "1h", "an integer"),
    # -- queue settings
    ("queue-string", cluster(queue_settings="Spot"), {}, "queue_settings", "Spot", "a mapping"),
    ("tier-unknown", cluster(queue_settings={"job_tier": "Cheap"}), {}, "queue_settings.job_tier", "Cheap", "'Spot'"),
    (
        "tier-misspelt-value",
        cluster(queue_settings={"job_tier": "spto"}),
        {},
        "queue_settings.job_tier",
        "spto",
        "did you mean 'Spot'",
    ),
    (
        "tier-misspelt-key",
        cluster(queue_settings={"job_teir": "Spot"}),
        {},
        "queue_settings.job_teir",
        "Spot",
        "did you mean 'job_tier'",
    ),
    (
        "tier-disagree",
        cluster(job_tier="Basic", queue_settings={"job_tier": "Spot"}),
        {},
        "job_tier",
        "Basic",
        "same value as queue_settings.job_tier",
    ),
    ("priority-unknown", cluster(priority="urgent"), {}, "priority", "urgent", "'high'"),
    ("priority-int", cluster(queue_settings={"priority": 1}), {}, "queue_settings.priority", 1, "a string"),
    # -- distribution
    ("distribution-string", cluster(distribution="pytorch"), {}, "distribution", "pytorch", "a mapping"),
    (
        "distribution-horovod",
        cluster(distribution={"type": "horovod"}),
        {},
        "distribution.type",
        "horovod",
        "'pytorch'",
    ),
    (
        "distribution-misspelt",
        cluster(distribution={"type": "pytroch"}),
        {},
        "distribution.type",
        "pytroch",
        "did you mean 'pytorch'",
    ),
    (
        "distribution-no-type",
        cluster(distribution={"process_count_per_instance": 2}),
        {},
        "distribution.type",
        MISSING,
        "'mpi'",
    ),
    ("distribution-empty-type", cluster(distribution={"type": ""}), {}, "distribution.type", "", "counts as missing"),
    (
        "mpi-worker-count",
        cluster(distribution={"type": "mpi", "worker_count": 2}),
        {},
        "distribution.worker_count",
        2,
        "known keys",
    ),
    (
        "pytorch-zero",
        cluster(distribution={"type": "pytorch", "process_count_per_instance": 0}),
        {},
        "distribution.process_count_per_instance",
        0,
        ">= 1",
    ),
    (
        "pytorch-misspelt",
        cluster(distribution={"type": "pytorch", "process_count_per_instanc": 2}),
        {},
        "distribution.process_count_per_instanc",
        2,
        "did you mean 'process_count_per_instance'",
    ),
    (
        "tensorflow-string",
        cluster(distribution={"type": "tensorflow", "worker_count": "2"}),
        {},
        "distribution.worker_count",
        "2",
        "an integer",
    ),
    # -- identity
    ("identity-type", cluster(identity={"type": "root"}), {}, "identity.type", "root", "'managed'"),
    (
        "identity-client-int",
        cluster(identity={"type": "managed", "client_id": 5}),
        {},
        "identity.client_id",
        5,
        "a string",
    ),
    (
        "identity-misspelt",
        cluster(identity={"type": "managed", "clientid": "x"}),
        {},
        "identity.clientid",
        "x",
        "did you mean 'client_id'",
    ),
    (
        "user-identity-client",
        cluster(identity={"type": "user_identity", "client_id": "x"}),
        {},
        "identity.client_id",
        "x",
        "known keys",
    ),
    # -- data maps
    ("env-list", cluster(environment_variables=["A=1"]), {}, "environment_variables", ["A=1"], "a mapping"),
    ("env-nested", cluster(environment_variables={"A": {"b": 1}}), {}, "environment_variables.A", {"b": 1}, "a string"),
    ("tags-list-value", cluster(tags={"t": [1]}), {}, "tags.t", [1], "a string, number or boolean"),
    ("properties-null", cluster(properties={"p": None}), {}, "properties.p", None, "a string"),
    # -- names and text
    ("experiment-space", cluster(experiment_name="has space"), {}, "experiment_name", "has space", "letters, digits"),
    ("name-dash", cluster(name="-bad"), {}, "name", "-bad", "starting with a letter or digit"),
    ("name-long", cluster(name="x" * 256), {}, "name", "x" * 256, "1-255"),
    ("display-name-int", cluster(display_name=7), {}, "display_name", 7, "a string"),
    ("description-int", cluster(description=5), {}, "description", 5, "a string"),
    # -- what the operator gives
    ("no-command", cluster(), {"entry_point": ()}, "entry_point", None, "a command to run"),
    ("blank-command", cluster(command="  "), {"entry_point": ()}, "entry_point", None, "a command to run"),
    ("no-image", cluster(), {"image": None}, "image", None, "a container image"),
]


def _shown(value: Any) -> str:
    return "<missing>" if value is MISSING else repr(value)[:40]


def test_at_least_40_malformed_configs():
    assert len(MALFORMED) >= 40
    assert len({case[0] for case in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize(
    ("resource_args", "overrides", "key_path", "value", "expected"),
    [c[1:] for c in MALFORMED],
    ids=[c[0] for c in MALFORMED],
)
def test_malformed_config_is_refused_by_the_pure_build(resource_args, overrides, key_path, value, expected):
    before = copy.deepcopy(resource_args)
    with pytest.raises(ResourceArgsError) as raised:
        build(resource_args, **overrides)
    err = raised.value
    assert (err.resource, err.key_path) == ("azure-ml", key_path)
    assert err.value is MISSING if value is MISSING else err.value == value
    assert expected in err.expected
    message = str(err)
    assert message.startswith(f"azure-ml: {key_path} = {_shown(value)}")  # the key path and the value, as written
    assert f"expected {err.expected}" in message
    assert resource_args == before  # the pure build touched nothing


# -- VM sizes ----------------------------------------------------------------------------------------------------

VALID_SIZES = [
    "Standard_NC6s_v3",
    "Standard_DS3_v2",
    "Standard_ND96asr_v4",
    "Standard_NC24ads_A100_v4",
    "Standard_NC4as_T4_v3",
    "Standard_ND96amsr_A100_v4",
    "Standard_ND96isr_H100_v5",
    "Standard_NC40ads_H100_v5",
    "Standard_NV36ads_A10_v5",
    "Standard_D4s_v3",
    "Standard_D2s_v3",
    "Standard_E64-16s_v3",
    "Standard_M128-64ms",
    "Standard_F8s_v2",
    "Standard_HB120rs_v3",
    "Standard_NC6",
    "STANDARD_DS3_V2",  # sizes are case-insensitive
    *pricing.PRICE_LIST.us,
    *(offering.name for offering in hardware.OFFERINGS.values()),
]


@pytest.mark.parametrize("size", VALID_SIZES)
def test_valid_sizes_build(size):
    assert validation.check_instance_type(size) is None
    assert build({"instance_type": size})["command"]["instance_type"] == size


@pytest.mark.parametrize(
    "size",
    [
        "Standard_Fake_Z99",
        "Standard_X",
        "Standard_",
        "Standard_NC6s v3",
        "Basic_A1",
        "Standard_ZZ4_v2",
        "n1-standard-4",
    ],
)
def test_fake_sizes_are_refused(size):
    assert validation.check_instance_type(size)


def test_repo_tables_families_are_known():
    assert {"NC", "ND", "D"} <= set(validation.known_families())
    assert "Standard_NC24ads_A100_v4" in validation.known_sizes()  # named in hardware.GAPS


def test_empty_strings_count_as_missing():
    job = build(cluster(instance_type="", display_name="", shm_size="", docker_args="", description="", name=""))
    command = job["command"]
    assert {"instance_type", "shm_size", "docker_args", "description"}.isdisjoint(command)
    assert command["name"] == request().job_name and command["display_name"] == "dag.train"
    queue = build(cluster(queue_settings={"job_tier": "", "priority": "low"}))["command"]
    assert "job_tier" not in queue and queue["priority"] == "low"


# -- azure-ai-ml's own schema: the last check, with key paths as written ----------------------------------------

SDK_REFUSED = [
    # (resource_args as written, the built command() kwargs, key path, value, expected)
    (cluster(instance_count="x"), cluster(instance_count="x"), "instance_count", "x", "an integer"),
    (cluster(timeout="1h"), cluster(timeout="1h"), "timeout", "1h", "an integer"),
    # a union field: azure-ai-ml reports either the allowed set or "not a data binding string", depending on
    # state it keeps between loads (seen in a full run); the key path and value as written are what must hold
    (cluster(job_tier="cheap"), cluster(job_tier="cheap"), "job_tier", "cheap", "azure-ai-ml's command job schema"),
    (
        cluster(queue_settings={"job_tier": "cheap"}),
        cluster(job_tier="cheap"),
        "queue_settings.job_tier",
        "cheap",
        "azure-ai-ml's command job schema",
    ),
    (
        cluster(distribution={"type": "mpi", "worker_count": 2}),
        cluster(distribution={"type": "mpi", "worker_count": 2}),
        "distribution.worker_count",
        2,
        "['process_count_per_instance', 'type']",
    ),
    (
        cluster(distribution={"type": "horovod"}),
        cluster(distribution={"type": "horovod"}),
        "distribution.type",
        "horovod",
        "'pytorch', 'tensorflow', 'mpi'",
    ),
    (
        cluster(identity={"type": "managed", "clientid": "x"}),
        cluster(identity={"type": "managed", "clientid": "x"}),
        "identity.clientid",
        "x",
        "did you mean 'client_id'",
    ),
    (cluster(tags={"a": [1]}), cluster(tags={"a": [1]}), "tags.a", [1], "a string"),
    (cluster(locations=[1]), cluster(locations=[1]), "locations[0]", 1, "a string"),
    (cluster(docker_args=5), cluster(docker_args=5), "docker_args", 5, "azure-ai-ml's command job schema"),
    (cluster(), cluster(services=["x"]), "services", ["x"], "a mapping"),
]


@pytest.mark.parametrize(("written", "kwargs", "key_path", "value", "expected"), SDK_REFUSED)
def test_azure_ai_ml_schema_errors_name_the_key_path_as_written(written, kwargs, key_path, value, expected):
    with pytest.raises(ResourceArgsError) as raised:
        validation.check_with_sdk(written, {"command": "python train.py", **kwargs}, IMAGE)
    err = raised.value
    assert (err.key_path, err.value) == (key_path, value)
    assert expected in err.expected and key_path in str(err)


def test_azure_ai_ml_schema_accepts_what_the_build_makes():
    job = build(
        cluster(
            instance_count=2,
            shm_size="16g",
            docker_args="--ipc=host",
            locations=["westus"],
            timeout=60,
            queue_settings={"job_tier": "spot", "priority": "high"},
            distribution={"type": "PyTorch", "process_count_per_instance": 4},
            identity={"type": "managed", "client_id": "c"},
            tags={"n": 1},
            properties={"p": True},
        )
    )
    assert job["command"]["job_tier"] == "Spot" and job["command"]["distribution"]["type"] == "pytorch"


def test_the_hand_tables_agree_with_azure_ai_ml():
    schema = validation.command_job_schema()
    queue = schema.fields["queue_settings"].experimental_field.schema.fields
    assert set(JOB_TIERS) == {v.lower() for v in queue["job_tier"].allowed_values} - {"null"}
    assert set(PRIORITIES) == {v.lower() for v in queue["priority"].allowed_values}
    for name, kinds in (("distribution", DISTRIBUTIONS), ("identity", IDENTITIES)):
        for kind, keys in kinds.items():
            assert keys <= validation.schema_keys(schema, (name,), {name: {"type": kind}}), (name, kind)
