"""W&B run and artifact reads over GraphQL: the queries, their variables, and reading their answers. Pure.

Shared by the sensors' ``poke``, their triggers, and the queue backend.
"""

from __future__ import annotations

import json
import re
from typing import Any

from airflow_wandb_launch.launch.result import artifact_uri

RUN_STATE_QUERY = """
query AirflowRunState($entity: String!, $project: String!, $run: String!) {
  project(name: $project, entityName: $entity) { run(name: $run) { name state summaryMetrics } }
}
"""

#: W&B run states after which a run does not change again (``preempted`` runs may resume: not terminal).
RUN_TERMINAL_STATES = frozenset({"finished", "failed", "crashed", "killed"})
VERSION_ALIAS = re.compile(r"^v\d+$")

ARTIFACT_ALIAS_QUERY = """
query AirflowArtifactAlias($entity: String!, $project: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    artifactCollectionMembership(name: $name) {
      versionIndex
      aliases { alias }
      artifact { id versionIndex digest createdAt artifactType { name } aliases { alias } }
    }
  }
}
"""


def read_run_state(data: dict[str, Any]) -> dict[str, Any] | None:
    """``{"state", "summary"}`` from an ``AirflowRunState`` answer; None if there is no such run (yet)."""
    run = (data.get("project") or {}).get("run")
    if not run:
        return None
    return {"state": run["state"], "summary": json.loads(run.get("summaryMetrics") or "{}")}


def read_artifact_version(data: dict[str, Any], entity: str, project: str, name: str) -> dict[str, Any] | None:
    """The version an ``AirflowArtifactAlias`` answer names, as the artifact sensor returns it; None if none."""
    membership = (data.get("project") or {}).get("artifactCollectionMembership")
    if not membership:
        return None
    artifact = membership.get("artifact") or {}
    index = membership.get("versionIndex", artifact.get("versionIndex"))
    found = [a["alias"] for a in (membership.get("aliases") or artifact.get("aliases") or ())]
    version = f"v{index}"
    return {
        "uri": artifact_uri(entity, project, name, version),
        "path": f"{entity}/{project}/{name}:{version}",
        "version": version,
        "version_index": int(index),
        "aliases": sorted({a for a in found if not VERSION_ALIAS.match(a)}),
        "type": (artifact.get("artifactType") or {}).get("name"),
        "digest": artifact.get("digest"),
        "created_at": artifact.get("createdAt"),
    }


def run_variables(run_path: str) -> dict[str, str]:
    entity, project, run_id = run_path.split("/")
    return {"entity": entity, "project": project, "run": run_id}


def artifact_variables(entity: str, project: str, name: str, alias: str) -> dict[str, str]:
    return {"entity": entity, "project": project, "name": f"{name}:{alias}"}
