"""WandbHook: W&B credentials from an Airflow connection, and run lookups (wandb SDK on the worker, httpx async)."""

from __future__ import annotations

import json
import os
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_wandb_launch.request import DEFAULT_BASE_URL, WandbCredentials
from airflow_wandb_launch.results import RunInfo, artifact_uri

RUN_STATE_QUERY = """
query AirflowRunState($entity: String!, $project: String!, $run: String!) {
  project(name: $project, entityName: $entity) { run(name: $run) { name state summaryMetrics } }
}
"""


class WandbHook(BaseHook):
    """Talks to W&B as the connection's user.

    Connection type ``wandb``: password = API key, host = base URL (default ``https://api.wandb.ai``),
    extra ``{"entity": ..., "project": ...}``. Without the connection, ``WANDB_API_KEY``,
    ``WANDB_BASE_URL``, ``WANDB_ENTITY`` and ``WANDB_PROJECT`` are used; with no key at all,
    runs are offline.

    :param wandb_conn_id: the connection id.
    """

    conn_name_attr = "wandb_conn_id"
    default_conn_name = "wandb_default"
    conn_type = "wandb"
    hook_name = "Weights & Biases"

    def __init__(self, wandb_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.wandb_conn_id = wandb_conn_id

    @cached_property
    def credentials(self) -> WandbCredentials:
        """The API key (masked in logs), base URL and default entity/project."""
        try:
            conn = self.get_connection(self.wandb_conn_id)
        except AirflowNotFoundException:
            conn = None
        if conn is not None:
            extra = conn.extra_dejson
            host = conn.host or ""
            if host and "://" not in host:
                host = f"{conn.schema or 'https'}://{host}" + (f":{conn.port}" if conn.port else "")
            credentials = WandbCredentials(
                api_key=conn.password or None,
                base_url=(host or DEFAULT_BASE_URL).rstrip("/"),
                entity=extra.get("entity") or None,
                project=extra.get("project") or None,
            )
        else:
            credentials = WandbCredentials(
                api_key=os.environ.get("WANDB_API_KEY") or None,
                base_url=os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
                entity=os.environ.get("WANDB_ENTITY") or None,
                project=os.environ.get("WANDB_PROJECT") or None,
            )
        if credentials.api_key:
            from airflow.sdk.log import mask_secret

            mask_secret(credentials.api_key)
        return credentials

    def get_conn(self) -> Any:
        """A ``wandb.Api`` client for this connection (imports wandb: call it on the worker only)."""
        return self.api

    @cached_property
    def api(self) -> Any:
        import wandb

        creds = self.credentials
        if not creds.online:
            raise AirflowNotFoundException(
                f"no W&B API key: set the password of connection {self.wandb_conn_id!r} or WANDB_API_KEY"
            )
        return wandb.Api(api_key=creds.api_key, overrides={"base_url": creds.base_url}, timeout=30)

    def default_entity(self) -> str | None:
        """The connection's entity, else the API key's default entity."""
        if self.credentials.entity:
            return self.credentials.entity
        return self.api.default_entity if self.credentials.online else None

    def get_run(self, run_path: str) -> RunInfo | None:
        """State, summary and logged artifacts of a run; None if W&B has no such run."""
        import wandb

        try:
            run = self.api.run(run_path)
            state = run.state
        except (wandb.errors.CommError, ValueError) as err:
            if "not found" in str(err).lower() or "could not find" in str(err).lower():
                return None
            raise
        entity, project = run.entity, run.project
        artifacts = [
            {
                "name": a.name.split(":")[0],
                "type": a.type,
                "version": a.version,
                "aliases": list(a.aliases),
                "uri": artifact_uri(entity, project, a.name.split(":")[0], a.version),
            }
            for a in run.logged_artifacts()
        ]
        summary = {k: v for k, v in dict(run.summary).items() if not k.startswith("_wandb")}
        return RunInfo(state=state, summary=summary, artifacts=artifacts, url=run.url)

    async def aget_run_state(self, entity: str, project: str, run_id: str, *, client: Any = None) -> dict | None:
        """``{"state", "summary"}`` of a run via one GraphQL POST, for triggers; None if it does not exist.

        :param client: an ``httpx.AsyncClient`` to reuse across polls (one is made if not given).
        """
        import httpx

        creds = self.credentials
        body = {
            "query": RUN_STATE_QUERY,
            "operationName": "AirflowRunState",
            "variables": {"entity": entity, "project": project, "run": run_id},
        }
        own = client is None
        client = client or httpx.AsyncClient(timeout=30)
        try:
            response = await client.post(f"{creds.base_url}/graphql", json=body, auth=("api", creds.api_key or ""))
            response.raise_for_status()
        finally:
            if own:
                await client.aclose()
        data = response.json()
        if data.get("errors"):
            raise RuntimeError(f"W&B GraphQL error: {data['errors']}")
        run = ((data.get("data") or {}).get("project") or {}).get("run")
        if not run:
            return None
        return {"state": run["state"], "summary": json.loads(run.get("summaryMetrics") or "{}")}
