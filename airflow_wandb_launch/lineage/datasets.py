"""Storage URIs as OpenLineage datasets, and the URIs a command line or an environment names. Pure.

Dataset names follow the OpenLineage naming spec: ``s3://{bucket}`` / ``gs://{bucket}`` with the object key as
the name (``/`` for a whole bucket, as the Amazon and Google providers name them), ``abfss://{container}@{host}``
and ``wasbs://{container}@{host}`` with the path. Azure ML datastore URIs (``azureml://.../datastores/{name}/paths/
{path}``) have no OpenLineage naming: the datastore is the namespace, the path the name. Query strings (SAS
tokens), fragments and user info are never kept.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
        return Lineage(unique(self.inputs + other.inputs), unique(self.outputs + other.outputs))

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"inputs": [d.to_dict() for d in self.inputs], "outputs": [d.to_dict() for d in self.outputs]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Lineage:
        if not data:
            return cls()
        read = lambda key: tuple(DatasetRef.from_dict(d) for d in data.get(key) or ())  # noqa: E731
        return cls(read("inputs"), read("outputs"))


@dataclass
class DatasetCollector:
    """Datasets found one URI at a time (inputs, or outputs), then one ``Lineage``."""

    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)

    def add(self, uri: Any, *, output: bool = False) -> None:
        if isinstance(uri, str) and (dataset := dataset_for_uri(uri)) is not None:
            (self.outputs if output else self.inputs).append(dataset)

    def lineage(self) -> Lineage:
        return Lineage(unique(self.inputs), unique(self.outputs))


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


# -- command lines and environments -> datasets ---------------------------------------------------------------


def command_line_datasets(argv: Iterable[Any], collector: DatasetCollector | None = None) -> Lineage:
    """Storage URIs on a command line: inputs, or outputs when their flag says so (``--output gs://...``,
    ``--model-dir=s3://...``).

    :param argv: the words of the command line (``str`` words only are read).
    """
    found = collector or DatasetCollector()
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


def named_values_datasets(values: Mapping[str, Any] | None, collector: DatasetCollector | None = None) -> Lineage:
    """Storage URIs among environment variables or hyperparameters: outputs when the name says so
    (``OUTPUT_PATH``, ``model_dir``), else inputs. W&B's own variables are skipped."""
    found = collector or DatasetCollector()
    for name, value in (values or {}).items():
        if not str(name).upper().startswith("WANDB_"):
            found.add(value, output=_is_output_name(str(name)))
    return found.lineage()


def _is_output_name(name: str) -> bool:
    return bool(_OUTPUT_NAME.search(name.lstrip("-")))


def split_command(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:  # unbalanced quotes: the words as they stand
        return command.split()


def unique(datasets: Iterable[DatasetRef]) -> tuple[DatasetRef, ...]:
    return tuple(dict.fromkeys(datasets))
