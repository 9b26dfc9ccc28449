"""Read an offline W&B run's result from its ``run-<id>.wandb`` transaction log (no account needed).

The log is a leveldb-style record stream (7-byte file header, 32 KiB blocks, records framed by
crc32/length/type) of ``wandb.proto.wandb_internal_pb2.Record`` messages.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_wandb_launch.launch.result import RunInfo, artifact_uri

HEADER = b":W&B\xe1\xbe\x00"
BLOCK = 32768
FRAME = struct.Struct("<IHB")  # crc32, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def find_offline_run(wandb_dir: str | os.PathLike, run_id: str) -> Path | None:
    """The newest ``offline-run-*-<run_id>`` folder under ``wandb_dir/wandb``, if any."""
    runs = sorted(Path(wandb_dir, "wandb").glob(f"offline-run-*-{run_id}"))
    return runs[-1] if runs else None


def iter_records(path: str | os.PathLike) -> Iterator[bytes]:
    """Yield each record's payload from a ``.wandb`` log."""
    data = Path(path).read_bytes()
    if not data.startswith(HEADER):
        raise ValueError(f"{path} is not a W&B transaction log")
    pos, pending = len(HEADER), b""
    while pos + FRAME.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < FRAME.size:
            pos += left
            continue
        _, length, kind = FRAME.unpack_from(data, pos)
        pos += FRAME.size
        if kind == 0:  # zero padding up to the block's end
            pos += left - FRAME.size
            continue
        if pos + length > len(data):
            return  # a record cut off by a killed writer: what came before it is complete
        chunk = data[pos : pos + length]
        pos += length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""


def read_offline_run(run_dir: str | os.PathLike, entity: str | None = None) -> RunInfo:
    """Summary, logged artifacts and final state of an offline run folder."""
    from wandb.proto import wandb_internal_pb2 as pb  # only on the worker, after the job

    run_dir = Path(run_dir)
    summary: dict[str, Any] = {}
    artifacts: list[dict[str, Any]] = []
    project, exit_code = None, None
    for payload in iter_records(next(run_dir.glob("run-*.wandb"))):
        record = pb.Record()
        try:
            record.ParseFromString(payload)
        except Exception as err:  # google.protobuf DecodeError: a damaged log
            raise ValueError(f"{run_dir} holds a damaged W&B transaction log: {err}") from err
        kind = record.WhichOneof("record_type")
        if kind == "run":
            project = record.run.project
            entity = entity or record.run.entity or None
        elif kind == "summary":
            for item in record.summary.update:
                _set_nested(summary, list(item.nested_key) or [item.key], json.loads(item.value_json))
            for item in record.summary.remove:
                summary.pop(item.key, None)
        elif kind == "artifact":
            artifacts.append(_artifact(record.artifact, entity))
        elif kind == "exit":
            exit_code = record.exit.exit_code
    summary.pop("_wandb", None)
    state = "running" if exit_code is None else "finished" if exit_code == 0 else "failed"
    for artifact in artifacts:
        artifact["uri"] = artifact_uri(entity, project or "", artifact["name"], "latest")
    return RunInfo(state=state, summary=summary, artifacts=artifacts, url=None, offline=True)


def _artifact(record: Any, entity: str | None) -> dict[str, Any]:
    files = {entry.path: entry.local_path for entry in record.manifest.contents}
    folders = {str(Path(p).parent) for p in files.values() if p}
    return {
        "name": record.name,
        "type": record.type,
        "version": None,  # assigned by W&B when `wandb sync` uploads it
        "aliases": list(record.aliases),
        "digest": record.digest,
        "path": folders.pop() if len(folders) == 1 else None,
        "files": files,
    }


def _set_nested(target: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value
