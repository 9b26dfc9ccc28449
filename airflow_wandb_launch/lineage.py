"""OpenLineage for launch operators: the job's cloud data in, the W&B artifacts and cloud outputs out.

With the ``[openlineage]`` extra (``apache-airflow-providers-openlineage``) installed and configured, the
OpenLineage listener calls :meth:`OpenLineageMixin.get_openlineage_facets_on_complete` when a launch task ends
and sends what it returns:

- **inputs**: the cloud data channels of the request the operator submitted (SageMaker
  ``InputDataConfig[].DataSource.S3DataSource.S3Uri``; Azure ML command ``inputs``), the storage URIs on the
  job's command line and in its environment (``gs://``, ``s3://``, ``abfss://``, ``wasbs://``, ``azureml://``,
  ``https://<account>.blob|dfs.core.windows.net/...``; one after a flag such as ``--output-dir`` or in a variable
  such as ``OUTPUT_PATH`` is an output instead), the W&B job artifact the operator ran (``job=``), and the W&B
  artifacts the run used (LaunchResult ``used_artifacts``, when W&B reports them);
- **outputs**: the job's cloud output (SageMaker's model artifacts
  ``<S3OutputPath>/<TrainingJobName>/output/model.tar.gz``, as the Amazon provider's training operator reports
  them; Vertex ``base_output_directory``; Azure ML command ``outputs``) and the artifact versions the run
  logged, as ``Dataset(namespace="wandb://<W&B host>", name="entity/project/name:vN")``;
- **run facets**: ``externalQuery`` (``ExternalQueryRunFacet``: the W&B run path, source ``wandb``) and
  ``wandbLaunch`` (:func:`wandb_launch_run_facet_class`: the W&B run and the cloud job, with their URLs).

Dataset names follow the OpenLineage naming spec: ``s3://{bucket}`` / ``gs://{bucket}`` with the object key as
the name (``/`` for a whole bucket, as the Amazon and Google providers name them), ``abfss://{container}@{host}``
and ``wasbs://{container}@{host}`` with the path. Azure ML datastore URIs (``azureml://.../datastores/{name}/paths/
{path}``) have no OpenLineage naming: the datastore is the namespace, the path the name. Query strings (SAS
tokens), fragments and user info are never kept.

Everything here but the mixin's methods is pure and needs no OpenLineage package: the datasets are
:class:`DatasetRef` until the mixin turns them into OpenLineage ``Dataset`` objects.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

#: the XCom key of the request's datasets, pushed at submit: a deferred task resumes in another process, where
#: the request the operator built is gone.
LINEAGE_XCOM_KEY = "openlineage_datasets"
#: the namespace scheme of W&B artifacts (``wandb://wandb.ai``).
WANDB_SCHEME = "wandb"
DEFAULT_WANDB_HOST = "wandb.ai"
#: ``ExternalQueryRunFacet.source`` of the W&B run.
WANDB_SOURCE = "wandb"

#: a flag or variable name that says its value is written, not read (``--output-dir``, ``MODEL_DIR``, ``save_to``).
_OUTPUT_NAME = re.compile(
    r"(?:^|[-_.])(?:out|output|outputs|save|save[-_]?to|export|dest|destination|upload|model[-_]?dir|"
    r"checkpoints?|ckpt|checkpoint[-_]?dir)(?:[-_.]|$)",
    re.IGNORECASE,
)
_AZURE_STORAGE_HOST = re.compile(
    r"^(?P<account>[a-z0-9]+)\.(?P<kind>blob|dfs)\.core\.(?:windows\.net|chinacloudapi\.cn)$"
)
#: Azure storage schemes -> the TLS scheme OpenLineage names them by.
_SECURE = {"abfs": "abfss", "abfss": "abfss", "wasb": "wasbs", "wasbs": "wasbs"}
_URI_START = re.compile(
    r"^(?:s3a?://|s3n://|gs://|abfss?://|wasbs?://|azureml:|https://[a-z0-9]+\.(?:blob|dfs)\.core\.)", re.IGNORECASE
)


@dataclass(frozen=True)
class DatasetRef:
    """An OpenLineage dataset identifier: ``namespace`` (the data source) and ``name`` (the dataset in it)."""

    namespace: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetRef:
        return cls(str(data["namespace"]), str(data["name"]))


@dataclass(frozen=True)
class Lineage:
    """Datasets read and written, each once, in the order found."""

    inputs: tuple[DatasetRef, ...] = ()
    outputs: tuple[DatasetRef, ...] = ()

    def __add__(self, other: Lineage) -> Lineage:
        return Lineage(_unique(self.inputs + other.inputs), _unique(self.outputs + other.outputs))

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"inputs": [d.to_dict() for d in self.inputs], "outputs": [d.to_dict() for d in self.outputs]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Lineage:
        if not data:
            return cls()
        read = lambda key: tuple(DatasetRef.from_dict(d) for d in data.get(key) or ())  # noqa: E731
        return cls(read("inputs"), read("outputs"))


@dataclass
class _Collector:
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)

    def add(self, uri: Any, *, output: bool = False) -> None:
        if isinstance(uri, str) and (dataset := dataset_for_uri(uri)) is not None:
            (self.outputs if output else self.inputs).append(dataset)

    def lineage(self) -> Lineage:
        return Lineage(_unique(self.inputs), _unique(self.outputs))


# -- URIs -> datasets --------------------------------------------------------------------------------------------


def dataset_for_uri(uri: str) -> DatasetRef | None:
    """The OpenLineage dataset a storage URI names, or None for anything else (a local path, a W&B URL, a word).

    :param uri: ``s3://``, ``gs://``, ``abfs[s]://``, ``wasb[s]://``, ``azureml://`` / ``azureml:`` or an
        ``https://<account>.blob|dfs.core.windows.net/<container>/...`` URL.
    """
    text = uri.strip()
    if not _URI_START.match(text):
        return None
    if text.lower().startswith("azureml:") and not text.lower().startswith("azureml://"):
        return _azureml_asset(text[len("azureml:") :])
    parts = urlsplit(text)
    scheme, host, path = parts.scheme.lower(), parts.netloc.rpartition("@")[2], parts.path
    user = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if scheme in ("s3", "s3a", "s3n"):
        return _bucket_dataset("s3", host, path)
    if scheme == "gs":
        return _bucket_dataset("gs", host, path)
    if scheme in ("abfs", "abfss", "wasb", "wasbs"):
        container = user.partition(":")[0]  # container@account: the container is the URI's "user" part
        if not container or not host:
            return None
        return DatasetRef(f"{_SECURE[scheme]}://{container}@{host.lower()}", _path_name(path))
    if scheme == "https":
        return _azure_https(host.lower(), path)
    if scheme == "azureml":
        return _azureml_uri(host, path)
    return None


def _bucket_dataset(scheme: str, bucket: str, path: str) -> DatasetRef | None:
    if not bucket:
        return None
    return DatasetRef(f"{scheme}://{bucket}", _path_name(path))


def _path_name(path: str) -> str:
    """An object key or path as OpenLineage names it: without the leading ``/``; ``/`` for the root."""
    return path.lstrip("/") or "/"


def _azure_https(host: str, path: str) -> DatasetRef | None:
    """``https://acct.blob.core.windows.net/container/path`` -> ``wasbs://container@acct.blob...``; ``dfs`` ->
    ``abfss``."""
    match = _AZURE_STORAGE_HOST.match(host)
    container, _, rest = path.lstrip("/").partition("/")
    if not match or not container:
        return None
    scheme = "wasbs" if match.group("kind") == "blob" else "abfss"
    return DatasetRef(f"{scheme}://{container}@{host}", _path_name(rest))


def _azureml_uri(host: str, path: str) -> DatasetRef | None:
    """``azureml://[subscriptions/../resourcegroups/../workspaces/../]datastores/{ds}/paths/{path}``: the datastore
    is the namespace; ``azureml://.../workspaces/{ws}/data/{name}/versions/{v}``: the workspace is."""
    segments = f"{host}{path}".split("/")
    lowered = [s.lower() for s in segments]
    if "datastores" in lowered:
        at = lowered.index("datastores")
        if at + 1 >= len(segments) or not segments[at + 1]:
            return None
        rest = segments[at + 2 :]
        if rest[:1] and rest[0].lower() == "paths":
            rest = rest[1:]
        return DatasetRef("azureml://" + "/".join(segments[: at + 2]), _path_name("/".join(rest)))
    if "data" in lowered:
        at = lowered.index("data")
        namespace = "azureml://" + "/".join(segments[:at]) if at else "azureml"
        return DatasetRef(namespace, "/".join(segments[at:]).rstrip("/"))
    return None


def _azureml_asset(reference: str) -> DatasetRef | None:
    """``azureml:{name}:{version}`` or ``azureml:{name}@{label}``, a data asset of the job's workspace."""
    name, colon, version = reference.partition(":")
    if not name:
        return None
    if colon:
        return DatasetRef("azureml", f"data/{name}/versions/{version}")
    return DatasetRef("azureml", f"data/{name}")


# -- the submitted request -> datasets ---------------------------------------------------------------------------


def command_line_datasets(argv: Iterable[Any], collector: _Collector | None = None) -> Lineage:
    """Storage URIs on a command line: inputs, or outputs when their flag says so (``--output gs://...``,
    ``--model-dir=s3://...``).

    :param argv: the words of the command line (``str`` words only are read).
    """
    found = collector or _Collector()
    previous_flag: str | None = None
    for word in argv:
        if not isinstance(word, str):
            previous_flag = None
            continue
        if word.startswith("-"):
            flag, equals, value = word.partition("=")
            if equals:
                found.add(value, output=_is_output_name(flag))
                previous_flag = None
            else:
                previous_flag = flag
            continue
        found.add(word, output=previous_flag is not None and _is_output_name(previous_flag))
        previous_flag = None
    return found.lineage()


def named_values_datasets(values: Mapping[str, Any] | None, collector: _Collector | None = None) -> Lineage:
    """Storage URIs among environment variables or hyperparameters: outputs when the name says so
    (``OUTPUT_PATH``, ``model_dir``), else inputs. W&B's own variables are skipped."""
    found = collector or _Collector()
    for name, value in (values or {}).items():
        if not str(name).upper().startswith("WANDB_"):
            found.add(value, output=_is_output_name(str(name)))
    return found.lineage()


def _is_output_name(name: str) -> bool:
    return bool(_OUTPUT_NAME.search(name.lstrip("-")))


def sagemaker_datasets(body: Mapping[str, Any]) -> Lineage:
    """A CreateTrainingJob body: its S3 channels and what its container is given in, its model artifacts out."""
    found = _Collector()
    for channel in body.get("InputDataConfig") or ():
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        found.add(source.get("S3Uri"))
    output_path = (body.get("OutputDataConfig") or {}).get("S3OutputPath")
    if isinstance(output_path, str) and output_path and body.get("TrainingJobName"):
        found.add(f"{output_path.rstrip('/')}/{body['TrainingJobName']}/output/model.tar.gz", output=True)
    spec = body.get("AlgorithmSpecification") or {}
    command_line_datasets([*(spec.get("ContainerEntrypoint") or ()), *(spec.get("ContainerArguments") or ())], found)
    named_values_datasets(body.get("HyperParameters"), found)
    named_values_datasets(body.get("Environment"), found)
    return found.lineage()


def vertex_datasets(custom_job: Mapping[str, Any]) -> Lineage:
    """A CustomJob (``aiplatform_v1``, snake_case dict): URIs its containers are given in, its base output
    directory out."""
    found = _Collector()
    spec = custom_job.get("job_spec") or {}
    found.add((spec.get("base_output_directory") or {}).get("output_uri_prefix"), output=True)
    for pool in spec.get("worker_pool_specs") or ():
        for program in (pool.get("container_spec"), pool.get("python_package_spec")):
            if not program:
                continue
            command_line_datasets([*(program.get("command") or ()), *(program.get("args") or ())], found)
            named_values_datasets({e.get("name"): e.get("value") for e in program.get("env") or ()}, found)
    return found.lineage()


def azure_ml_datasets(payload: Mapping[str, Any]) -> Lineage:
    """An Azure ML command job (``{"image", "command": {command() kwargs}}``): its ``inputs`` and the URIs on its
    command line and in its environment in, its ``outputs`` out."""
    kwargs = payload["command"] if isinstance(payload.get("command"), Mapping) else payload
    found = _Collector()
    for value in (kwargs.get("inputs") or {}).values():
        found.add(_azure_io_path(value))
    for value in (kwargs.get("outputs") or {}).values():
        found.add(_azure_io_path(value), output=True)
    command = kwargs.get("command")
    if isinstance(command, str):
        command_line_datasets(_split(command), found)
    named_values_datasets(kwargs.get("environment_variables"), found)
    return found.lineage()


def _azure_io_path(value: Any) -> Any:
    """An Azure ML input or output: a path, or ``{"type": ..., "path": ...}`` (an ``Input``/``Output``)."""
    if isinstance(value, Mapping):
        return value.get("path")
    return getattr(value, "path", value)


def _split(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:  # unbalanced quotes: the words as they stand
        return command.split()


def local_datasets(payload: Mapping[str, Any]) -> Lineage:
    """A local process or container: the storage URIs on its command line and in its environment (in, unless
    named as outputs)."""
    found = _Collector()
    command_line_datasets(payload.get("argv") or (), found)
    named_values_datasets(payload.get("env"), found)
    return found.lineage()


#: resource -> the datasets of the request its backend built.
REQUEST_DATASETS = {
    "sagemaker": sagemaker_datasets,
    "vertex": vertex_datasets,
    "azure-ml": azure_ml_datasets,
    "local-process": local_datasets,
    "local-container": local_datasets,
}


def request_datasets(resource: str, request: Mapping[str, Any] | None) -> Lineage:
    """The datasets of a submitted request (the backend's payload), per resource; none for others
    (``wandb-queue``: the queue's agent builds the cloud request)."""
    builder = REQUEST_DATASETS.get(resource)
    if builder is None or not request:
        return Lineage()
    return builder(request)


# -- the LaunchResult -> W&B datasets ----------------------------------------------------------------------------


def wandb_namespace(host: str) -> str:
    return f"{WANDB_SCHEME}://{host}"


def wandb_host(run_url: str | None, base_url: str | None = None) -> str:
    """The W&B server's host, as artifacts' namespace names it: the run page's host, else the web app of
    ``base_url`` (the API: ``api.wandb.ai`` -> ``wandb.ai``), else ``wandb.ai``."""
    if run_url and (host := urlsplit(run_url).netloc.rpartition("@")[2]):
        return host.lower()
    if base_url:
        from airflow_wandb_launch.launch.run import app_url

        if host := urlsplit(app_url(base_url)).netloc.rpartition("@")[2]:
            return host.lower()
    return DEFAULT_WANDB_HOST


def artifact_dataset(artifact: Any, host: str) -> DatasetRef | None:
    """A W&B artifact as a dataset: ``wandb://<host>``, ``entity/project/name:version``.

    :param artifact: a LaunchResult ``artifacts`` entry (its ``uri``), a ``wandb-artifact://`` URI or an
        ``entity/project/name:alias`` path.
    :param host: the W&B server's host.
    """
    uri = artifact.get("uri") if isinstance(artifact, Mapping) else artifact
    if not isinstance(uri, str) or not uri.strip():
        return None
    path = uri.strip()
    prefix = "wandb-artifact://"
    if path.lower().startswith(prefix):
        path = path[len(prefix) :]
    path = path.strip("/")
    return DatasetRef(wandb_namespace(host), path) if path else None


def result_datasets(result: Mapping[str, Any] | None, host: str, job: str | None = None) -> Lineage:
    """The W&B side of a launch: the job artifact and the artifacts the run used in, those it logged out.

    :param result: the LaunchResult (None: the run's artifacts are unknown).
    :param host: the W&B server's host.
    :param job: the operator's W&B job (``entity/project/name:alias``), if it ran one.
    """
    used = [job] if job else []
    used += list((result or {}).get("used_artifacts") or ())
    logged = (result or {}).get("artifacts") or ()
    inputs = [d for d in (artifact_dataset(a, host) for a in used) if d is not None]
    outputs = [d for d in (artifact_dataset(a, host) for a in logged) if d is not None]
    return Lineage(_unique(inputs), _unique(outputs))


#: the ``wandbLaunch`` facet's fields -> the LaunchResult (or XCom) keys they are read from.
FACET_FIELDS = {
    "runId": "run_id",
    "runPath": "run_path",
    "runUrl": "run_url",
    "runState": "run_state",
    "resource": "resource",
    "jobId": "job_id",
    "jobUrl": "job_url",
    "jobState": "job_state",
    "costUsd": "cost_usd",
}


def facet_fields(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The ``wandbLaunch`` run facet's fields from a LaunchResult (or what XCom holds of it)."""
    return {name: facts.get(key) for name, key in FACET_FIELDS.items()}


def _unique(datasets: Iterable[DatasetRef]) -> tuple[DatasetRef, ...]:
    return tuple(dict.fromkeys(datasets))


# -- OpenLineage objects -----------------------------------------------------------------------------------------


def openlineage_installed() -> bool:
    """Whether the OpenLineage provider is installed (its listener would ask for lineage)."""
    return _find_spec("airflow.providers.openlineage") is not None


def openlineage_enabled() -> bool:
    """Whether the OpenLineage provider is installed and configured to emit (a transport, not disabled)."""
    if not openlineage_installed():
        return False
    try:
        from airflow.providers.openlineage import conf

        return not conf.is_disabled()
    except Exception:  # a provider too old or too new to say: assume it emits
        return True


def _find_spec(name: str) -> Any:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


@functools.cache
def wandb_launch_run_facet_class() -> type:
    """The ``wandbLaunch`` run facet: the W&B run and the cloud job a launch task ran.

    A ``RunFacet`` (its schema URL is OpenLineage's ``RunFacet``, which allows these properties), made on first
    use: the OpenLineage client is imported only when lineage is asked for.
    """
    import attr
    from airflow.providers.common.compat.openlineage.facet import RunFacet

    @attr.define
    class WandbLaunchRunFacet(RunFacet):
        """The W&B run and the cloud job of a launch task (``None`` where unknown)."""

        runId: str | None = attr.field(default=None)
        runPath: str | None = attr.field(default=None)
        runUrl: str | None = attr.field(default=None)
        runState: str | None = attr.field(default=None)
        resource: str | None = attr.field(default=None)
        jobId: str | None = attr.field(default=None)
        jobUrl: str | None = attr.field(default=None)
        jobState: str | None = attr.field(default=None)
        costUsd: float | None = attr.field(default=None)

    WandbLaunchRunFacet.__qualname__ = "WandbLaunchRunFacet"
    return WandbLaunchRunFacet


def operator_lineage(lineage: Lineage, facts: Mapping[str, Any]) -> OperatorLineage:
    """``OperatorLineage`` of datasets and of what is known of the run and job (``run_path``, ``job_id``...)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset, ExternalQueryRunFacet
    from airflow.providers.openlineage.extractors import OperatorLineage

    run_facets: dict[str, Any] = {}
    if facts.get("run_path"):
        run_facets["externalQuery"] = ExternalQueryRunFacet(externalQueryId=facts["run_path"], source=WANDB_SOURCE)
    fields = facet_fields(facts)
    if any(value is not None for value in fields.values()):
        run_facets["wandbLaunch"] = wandb_launch_run_facet_class()(**fields)
    return OperatorLineage(
        inputs=[Dataset(namespace=d.namespace, name=d.name, facets={}) for d in lineage.inputs],
        outputs=[Dataset(namespace=d.namespace, name=d.name, facets={}) for d in lineage.outputs],
        run_facets=run_facets,
    )


class OpenLineageMixin:
    """OpenLineage for a launch operator (``WandbLaunchOperator`` and its subclasses).

    The operator records what it submitted with :meth:`remember_lineage_request` (``_lineage_request``, and
    the request's datasets in XCom ``openlineage_datasets`` for a task that resumes from deferral in another
    process) and sets ``_lineage_result`` to its LaunchResult. The OpenLineage listener then calls
    ``get_openlineage_facets_on_complete``; it, and everything OpenLineage, is imported only then: the
    operator works the same without the provider.
    """

    _lineage_request: dict[str, Any] | None = None
    _lineage_result: dict[str, Any] | None = None

    def remember_lineage_request(self, context: Context, payload: dict[str, Any]) -> None:
        """Keep the request submitted for lineage; when OpenLineage is enabled, push its datasets to XCom (URIs
        only: never the request, whose environment holds the W&B API key)."""
        self._lineage_request = payload
        if not openlineage_enabled():
            return
        try:
            datasets = request_datasets(self.resource, payload)  # type: ignore[attr-defined]
            context["ti"].xcom_push(key=LINEAGE_XCOM_KEY, value=datasets.to_dict())
        except Exception as err:  # lineage never fails a launch
            self.log.warning("Could not record the job's lineage datasets: %s", err)  # type: ignore[attr-defined]

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """The job's inputs and outputs (cloud data and W&B artifacts) and its W&B run, for OpenLineage."""
        return self._openlineage(task_instance, outputs=True)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        """As on completion, without outputs: a failed job's outputs are not to be trusted."""
        return self._openlineage(task_instance, outputs=False)

    def _openlineage(self, task_instance: Any, *, outputs: bool) -> OperatorLineage:
        resource = getattr(self, "resource", "")
        if self._lineage_request is not None:
            request = request_datasets(resource, self._lineage_request)
        else:
            request = Lineage.from_dict(_xcom(task_instance, LINEAGE_XCOM_KEY))
        result = self._lineage_result
        if result is None and outputs:  # a task that succeeded returned its LaunchResult
            pulled = _xcom(task_instance, "return_value")
            result = pulled if isinstance(pulled, Mapping) and "run_path" in pulled else None
        facts: Mapping[str, Any] = result or _submitted(task_instance)
        job = getattr(self, "job", None)
        asks_server = not facts.get("run_url") and (result is not None or job)  # W&B datasets, no run page to say
        host = wandb_host(facts.get("run_url"), self._wandb_base_url() if asks_server else None)
        lineage = request + result_datasets(result, host, job)
        if not outputs:
            lineage = Lineage(lineage.inputs, ())
        return operator_lineage(lineage, facts)

    def _wandb_base_url(self) -> str | None:
        try:
            return self.wandb_hook.credentials.base_url  # type: ignore[attr-defined]
        except Exception:
            return None


def _submitted(task_instance: Any) -> dict[str, Any]:
    """What the operator pushed to XCom at submit (``run_path``..., then ``job_id``...): the facts of a run whose
    result is unknown (a task that failed). Keys are read only once the one pushed before them is there: a
    missing XCom is an error line in the task's log."""
    facts: dict[str, Any] = {}
    for group in (("run_path", "run_id", "run_url"), ("job_id", "job_url")):
        first = _xcom(task_instance, group[0])
        if first is None:
            break
        facts[group[0]] = first
        facts.update({key: _xcom(task_instance, key) for key in group[1:]})
    return facts


def _xcom(task_instance: Any, key: str) -> Any:
    """This task instance's XCom ``key`` (None without a task instance, or when it cannot be read)."""
    if task_instance is None:
        return None
    try:
        return task_instance.xcom_pull(
            task_ids=task_instance.task_id, key=key, map_indexes=getattr(task_instance, "map_index", None)
        )
    except Exception:
        return None


__all__ = [
    "LINEAGE_XCOM_KEY",
    "DatasetRef",
    "Lineage",
    "OpenLineageMixin",
    "artifact_dataset",
    "azure_ml_datasets",
    "command_line_datasets",
    "dataset_for_uri",
    "local_datasets",
    "operator_lineage",
    "request_datasets",
    "result_datasets",
    "sagemaker_datasets",
    "vertex_datasets",
    "wandb_host",
    "wandb_launch_run_facet_class",
]
