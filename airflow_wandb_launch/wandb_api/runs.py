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


# --- many runs in one read (triggers), one run's whole result (the worker) -------------------------------------------

#: runs per ``AirflowRunsState`` page (the SDK's own page size is 50; W&B serves up to 100 per page here too).
RUNS_PAGE_SIZE = 100

RUNS_STATE_QUERY = """
query AirflowRunsState($entity: String!, $project: String!, $filters: JSONString!, $first: Int!, $cursor: String) {
  project(name: $project, entityName: $entity) {
    runs(filters: $filters, first: $first, after: $cursor) {
      pageInfo { endCursor hasNextPage }
      edges { node { name state summaryMetrics } }
    }
  }
}
"""

RUN_RESULT_QUERY = """
query AirflowRunResult($entity: String!, $project: String!, $run: String!, $cursor: String, $perPage: Int!) {
  project(name: $project, entityName: $entity) {
    run(name: $run) {
      id
      name
      state
      summaryMetrics
      outputArtifacts(after: $cursor, first: $perPage) {
        pageInfo { endCursor hasNextPage }
        edges { node { versionIndex artifactType { name } artifactSequence { name } aliases { alias } } }
      }
    }
  }
}
"""


def runs_filter(run_ids: list[str]) -> str:
    """The ``filters`` JSON that selects these runs of one project (W&B's Mongo-style run filter). Pure."""
    return json.dumps({"name": {"$in": sorted(set(run_ids))}})


def group_by_project(run_paths: list[str]) -> dict[tuple[str, str], list[str]]:
    """``(entity, project) -> run ids`` for ``entity/project/run_id`` paths (paged by cursor when read). Pure."""
    groups: dict[tuple[str, str], list[str]] = {}
    for path in run_paths:
        entity, project, run_id = path.split("/")
        groups.setdefault((entity, project), []).append(run_id)
    return groups


def runs_variables(entity: str, project: str, run_ids: list[str], cursor: str | None = None) -> dict[str, Any]:
    return {
        "entity": entity,
        "project": project,
        "filters": runs_filter(run_ids),
        "first": RUNS_PAGE_SIZE,
        "cursor": cursor,
    }


def read_runs_state(data: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], str | None]:
    """``run id -> {"state", "summary"}`` of one ``AirflowRunsState`` page, and the next page's cursor (or None)."""
    runs = (data.get("project") or {}).get("runs") or {}
    found = {}
    for edge in runs.get("edges") or ():
        node = edge["node"]
        found[node["name"]] = {"state": node["state"], "summary": json.loads(node.get("summaryMetrics") or "{}")}
    page = runs.get("pageInfo") or {}
    return found, page.get("endCursor") if page.get("hasNextPage") else None


async def aread_run_states(client: Any, run_paths: list[str]) -> dict[str, dict[str, Any] | None]:
    """``run path -> {"state", "summary"}`` (None: no such run yet) for many runs: one query per project and page.

    :param client: a ``GraphQLClient``.
    :param run_paths: ``entity/project/run_id`` paths.
    """
    found: dict[str, dict[str, Any] | None] = dict.fromkeys(run_paths)
    for (entity, project), run_ids in group_by_project(run_paths).items():
        cursor: str | None = None
        while True:
            variables = runs_variables(entity, project, run_ids, cursor)
            page, cursor = read_runs_state(await client.aexecute(RUNS_STATE_QUERY, variables, "AirflowRunsState"))
            found.update({f"{entity}/{project}/{run_id}": run for run_id, run in page.items()})
            if cursor is None:
                break
    return found


def read_run_result(data: dict[str, Any], entity: str, project: str) -> tuple[dict[str, Any] | None, str | None]:
    """One ``AirflowRunResult`` page: ``{"id", "state", "summary", "artifacts"}`` (None: no such run) and the next
    artifacts page's cursor (or None). Artifacts are the run's logged versions, as the LaunchResult lists them."""
    run = (data.get("project") or {}).get("run")
    if not run:
        return None, None
    connection = run.get("outputArtifacts") or {}
    artifacts = []
    for edge in connection.get("edges") or ():
        node = edge["node"]
        name, version = node["artifactSequence"]["name"], f"v{node['versionIndex']}"
        artifacts.append(
            {
                "name": name,
                "type": (node.get("artifactType") or {}).get("name"),
                "version": version,
                "aliases": [a["alias"] for a in node.get("aliases") or () if not VERSION_ALIAS.match(a["alias"])],
                "uri": artifact_uri(entity, project, name, version),
            }
        )
    summary = {k: v for k, v in json.loads(run.get("summaryMetrics") or "{}").items() if not k.startswith("_wandb")}
    page = connection.get("pageInfo") or {}
    result = {"id": run.get("id"), "state": run["state"], "summary": summary, "artifacts": artifacts}
    return result, page.get("endCursor") if page.get("hasNextPage") else None


#: the SDK's own mutation for run changes (``Run.update``); ``summaryMetrics`` is the whole summary as JSON.
UPSERT_SUMMARY = """
mutation UpsertBucket($id: String, $summaryMetrics: JSONString) {
  upsertBucket(input: {id: $id, summaryMetrics: $summaryMetrics}) { bucket { id } }
}
"""

VIEWER_ENTITY_QUERY = """
query Viewer { viewer { entity } }
"""


def read_run(client: Any, run_path: str, per_page: int = 100) -> dict[str, Any] | None:
    """A run's ``{"id", "state", "summary", "artifacts"}`` (every logged artifact page); None if there is none.

    :param client: a ``GraphQLClient``.
    :param run_path: ``entity/project/run_id``.
    :param per_page: artifacts per page.
    """
    entity, project, _ = run_path.split("/")
    cursor, result = None, None
    while True:
        variables = {**run_variables(run_path), "cursor": cursor, "perPage": per_page}
        page, cursor = read_run_result(client.execute(RUN_RESULT_QUERY, variables, "AirflowRunResult"), entity, project)
        if page is None:
            return None
        if result is None:
            result = page
        else:
            result["artifacts"].extend(page["artifacts"])
        if cursor is None:
            return result


def update_summary(client: Any, run_path: str, values: dict[str, Any]) -> None:
    """Merge ``values`` into a run's summary: read it, send the merged whole (as the SDK does).

    :raises LookupError: W&B has no such run.
    """
    run = read_run(client, run_path, per_page=1)
    if run is None:
        raise LookupError(f"W&B has no run {run_path}")
    merged = {**run["summary"], **values}
    client.execute(UPSERT_SUMMARY, {"id": run["id"], "summaryMetrics": json.dumps(merged)}, "UpsertBucket")
