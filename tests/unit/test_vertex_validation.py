"""Issue 13, Vertex AI: every bad queue config is stopped by the pure build, by aiplatform_v1's own knowledge.

Each malformed config must raise ``ResourceArgsError`` from the backend's ``build`` (which runs before ``submit``),
naming the key path as written, the value as written and what was expected.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_wandb_launch.backends.vertex import validation
from airflow_wandb_launch.backends.vertex.backend import VertexBackend
from airflow_wandb_launch.backends.vertex.hardware import OFFERINGS
from airflow_wandb_launch.errors import MISSING, ResourceArgsError
from airflow_wandb_launch.launch.prepare import prepare_launch
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials

IMAGE = "us-docker.pkg.dev/p/r/train:1"
CREDS = WandbCredentials(api_key="k")
DROP = object()  # a key to leave out
POOL = "spec.worker_pool_specs[0]"
MACHINE = f"{POOL}.machine_spec"
CONTAINER = f"{POOL}.container_spec"


def request(**overrides: Any) -> LaunchRequest:
    fields = {"resource": "vertex", "run": RunIdentity("abcd1234", "proj", "ent", "Dag.Train"), "image": IMAGE}
    return LaunchRequest(**{**fields, **overrides})


def build(resource_args: dict, **overrides: Any) -> dict:
    """What the operator does before it submits: prepare (wrapper, macros), then the backend's pure build."""
    req = request(**overrides)
    prepared = prepare_launch(req, resource_args, CREDS, resource_names=("vertex", *VertexBackend.aliases))
    backend = VertexBackend()
    backend.submit = _no_submit  # type: ignore[method-assign]
    return backend.build(prepared.request, prepared.resource_args, prepared.env)


def _no_submit(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("submit must not be reached")


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def config(
    spec: dict | None = None,
    run: dict | None = None,
    pool: dict | None = None,
    machine: dict | None = None,
    container: dict | None = None,
) -> dict:
    """A valid config, with changes at one or more depths (``DROP`` removes a key)."""
    machine_spec = _merge({"machine_type": "n1-standard-4"}, machine or {})
    container_spec = _merge({"image_uri": "${image_uri}"}, container or {})
    worker = _merge({"machine_spec": machine_spec, "replica_count": 1, "container_spec": container_spec}, pool or {})
    return {
        "spec": _merge({"worker_pool_specs": [worker], "staging_bucket": "gs://my-bucket"}, spec or {}),
        "run": _merge({}, run or {}),
    }


def gpu(machine_type: str, accelerator: Any = DROP, count: Any = DROP) -> dict:
    return config(machine={"machine_type": machine_type, "accelerator_type": accelerator, "accelerator_count": count})


#: (id, resource_args, request overrides, key path as written, value as written, a part of what is expected)
MALFORMED: list[tuple[str, dict, dict, str, Any, str]] = [
    # -- the wrapper and the top level
    (
        "sagemaker-wrapper",
        {"sagemaker": {"RoleArn": "r"}},
        {},
        "sagemaker",
        {"RoleArn": "r"},
        "not a config for the sagemaker resource",
    ),
    (
        "azure-wrapper",
        {"azure-ml": {"compute": "c"}},
        {},
        "azure-ml",
        {"compute": "c"},
        "not a config for the azure-ml resource",
    ),
    ("top-misspelt", {**config(), "runs": {}}, {}, "runs", {}, "did you mean 'run'"),
    ("spec-missing", {"run": {}}, {}, "spec", MISSING, "a mapping"),
    ("spec-not-mapping", {"spec": ["n1"]}, {}, "spec", ["n1"], "a mapping"),
    ("spec-empty-string", {"spec": ""}, {}, "spec", "", "a mapping"),
    ("run-not-mapping", {**config(), "run": "sync"}, {}, "run", "sync", "a mapping"),
    # -- spec
    ("spec-misspelt", config(spec={"staging_buckt": "gs://b"}), {}, "spec.staging_buckt", "gs://b", "'staging_bucket'"),
    ("spec-project", config(spec={"project": "p"}), {}, "spec.project", "p", "project_id"),
    ("pools-missing", config(spec={"worker_pool_specs": DROP}), {}, "spec.worker_pool_specs", MISSING, "a list"),
    ("pools-empty", config(spec={"worker_pool_specs": []}), {}, "spec.worker_pool_specs", [], "at least one"),
    ("pools-not-list", config(spec={"worker_pool_specs": "n1"}), {}, "spec.worker_pool_specs", "n1", "a list"),
    ("pool-not-mapping", config(spec={"worker_pool_specs": ["n1"]}), {}, POOL, "n1", "a mapping"),
    (
        "bucket-s3",
        config(spec={"staging_bucket": "s3://my-bucket"}),
        {},
        "spec.staging_bucket",
        "s3://my-bucket",
        "not s3:",
    ),
    ("bucket-no-name", config(spec={"staging_bucket": "gs://"}), {}, "spec.staging_bucket", "gs://", "a bucket name"),
    (
        "bucket-bad-name",
        config(spec={"staging_bucket": "gs://My_Bucket"}),
        {},
        "spec.staging_bucket",
        "gs://My_Bucket",
        "bucket name",
    ),
    ("bucket-empty", config(spec={"staging_bucket": ""}), {}, "spec.staging_bucket", "", "a gs:// bucket"),
    ("bucket-missing", config(spec={"staging_bucket": DROP}), {}, "spec.staging_bucket", MISSING, "a gs:// bucket"),
    ("bucket-not-string", config(spec={"staging_bucket": 5}), {}, "spec.staging_bucket", 5, "gs://<bucket>"),
    (
        "output-s3",
        config(spec={"base_output_dir": "s3://x/out"}),
        {},
        "spec.base_output_dir",
        "s3://x/out",
        "Cloud Storage",
    ),
    ("output-local", config(spec={"base_output_dir": "/tmp/out"}), {}, "spec.base_output_dir", "/tmp/out", "gs://"),
    ("display-name-long", config(spec={"display_name": "x" * 129}), {}, "spec.display_name", "x" * 129, "at most 128"),
    ("label-key", config(spec={"labels": {"Team": "x"}}), {}, "spec.labels.Team", "Team", "label key"),
    ("label-value", config(spec={"labels": {"team": "A B"}}), {}, "spec.labels.team", "A B", "label value"),
    (
        "labels-too-many",
        config(spec={"labels": {f"l{i}": "x" for i in range(64)}}),
        {},
        "spec.labels",
        {f"l{i}": "x" for i in range(64)},
        "at most 63 labels",
    ),
    ("network-shape", config(spec={"network": "my-vpc"}), {}, "spec.network", "my-vpc", "projects/<project number>"),
    ("service-account", config(spec={"service_account": "robot"}), {}, "spec.service_account", "robot", "email"),
    ("ip-range-empty", config(spec={"reserved_ip_ranges": [""]}), {}, "spec.reserved_ip_ranges[0]", "", "non-empty"),
    (
        "spec-run-disagree",
        config(spec={"service_account": "a@p.iam"}, run={"service_account": "b@p.iam"}),
        {},
        "run.service_account",
        "b@p.iam",
        "same value",
    ),
    # -- a worker pool (aiplatform_v1.WorkerPoolSpec)
    ("pool-misspelt", config(pool={"machine_specs": {}}), {}, f"{POOL}.machine_specs", {}, "'machine_spec'"),
    ("replica-misspelt", config(pool={"replica_cout": 2}), {}, f"{POOL}.replica_cout", 2, "'replica_count'"),
    (
        "python-package",
        config(pool={"python_package_spec": {}}),
        {},
        f"{POOL}.python_package_spec",
        {},
        "container_spec",
    ),
    ("replicas-zero", config(pool={"replica_count": 0}), {}, f"{POOL}.replica_count", 0, ">= 1"),
    ("replicas-string", config(pool={"replica_count": "2"}), {}, f"{POOL}.replica_count", "2", "an integer"),
    ("replicas-float", config(pool={"replica_count": 1.5}), {}, f"{POOL}.replica_count", 1.5, "an integer"),
    ("replicas-bool", config(pool={"replica_count": True}), {}, f"{POOL}.replica_count", True, "an integer"),
    ("replicas-int64", config(pool={"replica_count": 2**63}), {}, f"{POOL}.replica_count", 2**63, "an integer from"),
    ("machine-missing", config(pool={"machine_spec": DROP}), {}, MACHINE, MISSING, "a mapping"),
    ("machine-string", config(pool={"machine_spec": "n1-standard-4"}), {}, MACHINE, "n1-standard-4", "a mapping"),
    (
        "second-pool-misspelt",
        config(
            spec={
                "worker_pool_specs": [
                    config()["spec"]["worker_pool_specs"][0],
                    {"machine_spec": {"machine_tpye": "n1"}},
                ]
            }
        ),
        {},
        "spec.worker_pool_specs[1].machine_spec.machine_tpye",
        "n1",
        "'machine_type'",
    ),
    # -- machine_spec (aiplatform_v1.MachineSpec) and the machine-family table
    ("type-missing", config(machine={"machine_type": DROP}), {}, f"{MACHINE}.machine_type", MISSING, "n1-standard-4"),
    ("type-empty", config(machine={"machine_type": ""}), {}, f"{MACHINE}.machine_type", "", "counts as missing"),
    ("type-not-string", config(machine={"machine_type": 4}), {}, f"{MACHINE}.machine_type", 4, "a string"),
    ("type-superfast", gpu("n1-superfast-999"), {}, f"{MACHINE}.machine_type", "n1-superfast-999", "n1 family"),
    ("type-bad-size", gpu("n1-standard-999"), {}, f"{MACHINE}.machine_type", "n1-standard-999", "n1-standard-{1,2,4"),
    ("type-bare-family", gpu("n1"), {}, f"{MACHINE}.machine_type", "n1", "<family>-<type>-<size>"),
    ("type-unknown-family", gpu("x9-standard-4"), {}, f"{MACHINE}.machine_type", "x9-standard-4", "known family"),
    (
        "type-misspelt",
        gpu("n1-standrd-4"),
        {},
        f"{MACHINE}.machine_type",
        "n1-standrd-4",
        "did you mean 'n1-standard-4'",
    ),
    ("type-a2-shape", gpu("a2-highgpu-3g"), {}, f"{MACHINE}.machine_type", "a2-highgpu-3g", "a2-highgpu-{1g,2g,4g,8g}"),
    (
        "accelerator-misspelt-key",
        config(machine={"accelerator_typ": "NVIDIA_TESLA_T4"}),
        {},
        f"{MACHINE}.accelerator_typ",
        "NVIDIA_TESLA_T4",
        "did you mean 'accelerator_type'",
    ),
    (
        "accelerator-unknown",
        gpu("n1-standard-4", "NVIDIA_FAKE", 1),
        {},
        f"{MACHINE}.accelerator_type",
        "NVIDIA_FAKE",
        "aiplatform_v1.MachineSpec.accelerator_type",
    ),
    ("accelerator-short", gpu("n1-standard-4", "T4", 1), {}, f"{MACHINE}.accelerator_type", "T4", "'NVIDIA_TESLA_T4'"),
    (
        "accelerator-case",
        gpu("n1-standard-4", "nvidia-tesla-t4", 1),
        {},
        f"{MACHINE}.accelerator_type",
        "nvidia-tesla-t4",
        "did you mean 'NVIDIA_TESLA_T4'",
    ),
    (
        "a100-on-n1",
        gpu("n1-standard-4", "NVIDIA_TESLA_A100", 1),
        {},
        f"{MACHINE}.accelerator_type",
        "NVIDIA_TESLA_A100",
        "needs a machine type a2-highgpu-{1g,2g,4g,8g}",
    ),
    (
        "t4-on-a2",
        gpu("a2-highgpu-4g", "NVIDIA_TESLA_T4", 4),
        {},
        f"{MACHINE}.accelerator_type",
        "NVIDIA_TESLA_T4",
        "NVIDIA_TESLA_A100 on a2-highgpu-4g",
    ),
    (
        "a2-count",
        gpu("a2-highgpu-4g", "NVIDIA_TESLA_A100", 2),
        {},
        f"{MACHINE}.accelerator_count",
        2,
        "4: a2-highgpu-4g comes with 4",
    ),
    ("a2-no-gpu", gpu("a2-highgpu-4g"), {}, f"{MACHINE}.accelerator_type", MISSING, "NVIDIA_TESLA_A100"),
    (
        "a2-ultragpu-40gb",
        gpu("a2-ultragpu-8g", "NVIDIA_TESLA_A100", 8),
        {},
        f"{MACHINE}.accelerator_type",
        "NVIDIA_TESLA_A100",
        "NVIDIA_A100_80GB on a2-ultragpu-8g",
    ),
    (
        "t4-on-g2",
        gpu("g2-standard-8", "NVIDIA_TESLA_T4", 1),
        {},
        f"{MACHINE}.accelerator_type",
        "NVIDIA_TESLA_T4",
        "NVIDIA_L4",
    ),
    (
        "gpu-on-e2",
        gpu("e2-standard-4", "NVIDIA_TESLA_T4", 1),
        {},
        f"{MACHINE}.accelerator_type",
        "NVIDIA_TESLA_T4",
        "no accelerator",
    ),
    ("t4-count", gpu("n1-standard-8", "NVIDIA_TESLA_T4", 3), {}, f"{MACHINE}.accelerator_count", 3, "one of 1, 2, 4"),
    (
        "count-without-type",
        gpu("n1-standard-4", DROP, 2),
        {},
        f"{MACHINE}.accelerator_type",
        MISSING,
        "accelerator type",
    ),
    (
        "type-without-count",
        gpu("n1-standard-4", "NVIDIA_TESLA_T4"),
        {},
        f"{MACHINE}.accelerator_count",
        MISSING,
        ">= 1",
    ),
    ("count-negative", gpu("n1-standard-4", DROP, -1), {}, f"{MACHINE}.accelerator_count", -1, ">= 0"),
    (
        "count-float",
        gpu("n1-standard-4", "NVIDIA_TESLA_T4", 2.5),
        {},
        f"{MACHINE}.accelerator_count",
        2.5,
        "an integer",
    ),
    (
        "reservation-enum",
        config(machine={"reservation_affinity": {"reservation_affinity_type": "ANY"}}),
        {},
        f"{MACHINE}.reservation_affinity.reservation_affinity_type",
        "ANY",
        "did you mean 'ANY_RESERVATION'",
    ),
    (
        "reservation-values",
        config(machine={"reservation_affinity": {"values": "r1"}}),
        {},
        f"{MACHINE}.reservation_affinity.values",
        "r1",
        "a list",
    ),
    # -- container_spec (aiplatform_v1.ContainerSpec)
    ("container-misspelt", config(container={"image_url": "i"}), {}, f"{CONTAINER}.image_url", "i", "'image_uri'"),
    ("container-string", config(pool={"container_spec": "img"}), {}, CONTAINER, "img", "a mapping"),
    (
        "command-string",
        config(container={"command": "python t.py"}),
        {},
        f"{CONTAINER}.command",
        "python t.py",
        "a list",
    ),
    ("args-item", config(container={"args": ["--lr", 1]}), {}, f"{CONTAINER}.args[1]", 1, "a string"),
    ("env-mapping", config(container={"env": {"A": "1"}}), {}, f"{CONTAINER}.env", {"A": "1"}, "a list"),
    ("env-misspelt", config(container={"env": [{"nam": "A"}]}), {}, f"{CONTAINER}.env[0].nam", "A", "'name'"),
    (
        "env-name-empty",
        config(container={"env": [{"name": "", "value": "1"}]}),
        {},
        f"{CONTAINER}.env[0].name",
        "",
        "missing",
    ),
    (
        "env-value-int",
        config(container={"env": [{"name": "A", "value": 1}]}),
        {},
        f"{CONTAINER}.env[0].value",
        1,
        "a string",
    ),
    ("image-missing", config(container={"image_uri": DROP}), {"image": None}, f"{CONTAINER}.image_uri", None, "image"),
    # -- disk_spec and nfs_mounts
    (
        "disk-type",
        config(pool={"disk_spec": {"boot_disk_type": "ssd"}}),
        {},
        f"{POOL}.disk_spec.boot_disk_type",
        "ssd",
        "pd-ssd",
    ),
    (
        "disk-size-string",
        config(pool={"disk_spec": {"boot_disk_size_gb": "100"}}),
        {},
        f"{POOL}.disk_spec.boot_disk_size_gb",
        "100",
        "an integer",
    ),
    (
        "disk-size-zero",
        config(pool={"disk_spec": {"boot_disk_size_gb": 0}}),
        {},
        f"{POOL}.disk_spec.boot_disk_size_gb",
        0,
        ">= 1",
    ),
    (
        "disk-misspelt",
        config(pool={"disk_spec": {"boot_disk_sise_gb": 100}}),
        {},
        f"{POOL}.disk_spec.boot_disk_sise_gb",
        100,
        "'boot_disk_size_gb'",
    ),
    (
        "nfs-incomplete",
        config(pool={"nfs_mounts": [{"server": "10.0.0.2", "path": "/share"}]}),
        {},
        f"{POOL}.nfs_mounts[0].mount_point",
        MISSING,
        "server, path and mount_point",
    ),
    (
        "nfs-misspelt",
        config(pool={"nfs_mounts": [{"server": "s", "path": "/p", "mount_pont": "m"}]}),
        {},
        f"{POOL}.nfs_mounts[0].mount_pont",
        "m",
        "'mount_point'",
    ),
    ("nfs-mapping", config(pool={"nfs_mounts": {"server": "s"}}), {}, f"{POOL}.nfs_mounts", {"server": "s"}, "a list"),
    # -- run
    ("run-misspelt", config(run={"timout": 5}), {}, "run.timout", 5, "did you mean 'timeout'"),
    ("timeout-string", config(run={"timeout": "1h"}), {}, "run.timeout", "1h", "an integer"),
    ("timeout-zero", config(run={"timeout": 0}), {}, "run.timeout", 0, ">= 1"),
    ("max-wait-negative", config(run={"max_wait_duration": -1}), {}, "run.max_wait_duration", -1, ">= 0"),
    (
        "strategy-misspelt",
        config(run={"scheduling_strategy": "SPOTT"}),
        {},
        "run.scheduling_strategy",
        "SPOTT",
        "'SPOT'",
    ),
    (
        "restart-not-bool",
        config(run={"restart_job_on_worker_restart": "yes"}),
        {},
        "run.restart_job_on_worker_restart",
        "yes",
        "true or false",
    ),
    ("tensorboard-shape", config(run={"tensorboard": "my-tb"}), {}, "run.tensorboard", "my-tb", "tensorboards/<id>"),
    ("experiment", config(run={"experiment": "e"}), {}, "run.experiment", "e", "W&B"),
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
    assert (err.resource, err.key_path) == ("vertex", key_path)
    assert err.value is MISSING if value is MISSING else err.value == value
    assert expected in err.expected
    message = str(err)
    assert message.startswith(f"vertex: {key_path} = {_shown(value)}")  # the key path and the value, as written
    assert f"expected {err.expected}" in message
    assert resource_args == before  # the pure build touched nothing


# -- what stays valid ------------------------------------------------------------------------------------------

VALID_MACHINES = [
    {"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_V100", "accelerator_count": 1},
    {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1},
    {"machine_type": "n1-highmem-16", "accelerator_type": "NVIDIA_TESLA_P100", "accelerator_count": 2},
    {"machine_type": "n1-standard-32", "accelerator_type": "NVIDIA_TESLA_K80", "accelerator_count": 8},
    {"machine_type": "a2-highgpu-1g", "accelerator_type": "NVIDIA_TESLA_A100", "accelerator_count": 1},
    {"machine_type": "a2-highgpu-2g", "accelerator_type": "NVIDIA_TESLA_A100", "accelerator_count": 2},
    {"machine_type": "a2-megagpu-16g", "accelerator_type": "NVIDIA_TESLA_A100", "accelerator_count": 16},
    {"machine_type": "a2-ultragpu-4g", "accelerator_type": "NVIDIA_A100_80GB", "accelerator_count": 4},
    {"machine_type": "g2-standard-4", "accelerator_type": "NVIDIA_L4", "accelerator_count": 1},
    {"machine_type": "g2-standard-24", "accelerator_type": "NVIDIA_L4", "accelerator_count": 2},
    {"machine_type": "a3-highgpu-8g", "accelerator_type": "NVIDIA_H100_80GB", "accelerator_count": 8},
    {"machine_type": "cloud-tpu", "accelerator_type": "TPU_V3", "accelerator_count": 8},
    {"machine_type": "ct5lp-hightpu-4t", "tpu_topology": "2x2"},
    {"machine_type": "e2-standard-8"},
    {"machine_type": "n2-highmem-16"},
    {"machine_type": "c2-standard-30"},
    {"machine_type": "n1-standard-4", "accelerator_type": "", "accelerator_count": 0},  # empty: no accelerator
    *(offering.machine_spec() for offering in OFFERINGS.values()),
]


@pytest.mark.parametrize("machine", VALID_MACHINES, ids=lambda m: f"{m['machine_type']}-{m.get('accelerator_type')}")
def test_valid_machines_build(machine):
    job = build(config(machine={"accelerator_type": DROP, **machine}))
    built = job["job_spec"]["worker_pool_specs"][0]["machine_spec"]
    assert built["machine_type"] == machine["machine_type"]
    assert "" not in built.values()  # an empty string is left out, as missing


def test_uri_schemes_are_never_rewritten():
    prefix = lambda cfg: build(cfg)["job_spec"]["base_output_directory"]["output_uri_prefix"]  # noqa: E731
    assert (
        prefix(config(spec={"staging_bucket": "gs://b/sub/"}))
        == f"gs://b/sub/aiplatform-custom-job-{request().job_name}"
    )
    assert prefix(config(spec={"staging_bucket": "bare-bucket"})).startswith("gs://bare-bucket/")
    assert prefix(config(spec={"base_output_dir": "gs://out/x", "staging_bucket": ""})) == "gs://out/x"
    for uri in ("s3://my-bucket", "gcs://my-bucket", "https://storage.googleapis.com/b", "gs:/b", "file:///tmp"):
        with pytest.raises(ResourceArgsError) as raised:
            build(config(spec={"staging_bucket": uri}))
        assert raised.value.key_path == "spec.staging_bucket" and raised.value.value == uri
        assert "gs://s3" not in str(raised.value)


def test_empty_strings_count_as_missing():
    job = build(
        config(
            spec={"display_name": "", "service_account": "", "network": "  ", "encryption_spec_key_name": ""},
            run={"tensorboard": "", "scheduling_strategy": ""},
            container={"image_uri": ""},
        )
    )
    assert job["display_name"] == request().job_name and "encryption_spec" not in job
    assert {"service_account", "network", "tensorboard", "scheduling"}.isdisjoint(job["job_spec"])
    assert job["job_spec"]["worker_pool_specs"][0]["container_spec"]["image_uri"] == IMAGE


# -- the knowledge comes from aiplatform_v1 --------------------------------------------------------------------


def test_every_aiplatform_accelerator_has_a_machine_family():
    tables = set(validation.N1_GPUS) | {acc for types in validation.BUNDLED.values() for acc, _ in types.values()}
    tables |= {acc for accs, _ in validation.TPUS.values() for acc in accs} | set(validation.CLOUD_TPU[1])
    assert set(validation.enum_names("AcceleratorType")) == tables


def test_the_tables_name_only_aiplatform_values():
    from google.cloud import aiplatform_v1 as v1

    assert all(disk in v1.DiskSpec.__doc__ for disk in ("pd-ssd", "pd-standard", "hyperdisk-balanced"))
    fields = validation.message_fields(v1.WorkerPoolSpec)
    assert set(fields) >= {"machine_spec", "replica_count", "container_spec", "disk_spec", "nfs_mounts"}
    assert "SPOT" in validation.enum_names("Scheduling.Strategy")


def test_a_built_custom_job_is_an_aiplatform_custom_job():
    from google.cloud import aiplatform_v1 as v1

    job = build(gpu("a2-highgpu-8g", "NVIDIA_TESLA_A100", 8) | {"run": {"scheduling_strategy": "spot", "timeout": 60}})
    message = v1.CustomJob(job)
    assert message.job_spec.worker_pool_specs[0].machine_spec.accelerator_type == v1.AcceleratorType.NVIDIA_TESLA_A100
    assert message.job_spec.scheduling.strategy == v1.Scheduling.Strategy.SPOT
