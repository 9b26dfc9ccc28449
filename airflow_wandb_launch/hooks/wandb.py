"""WandbHook: W&B credentials from an Airflow connection, and run lookups (wandb SDK on the worker, httpx async)."""

from __future__ import annotations

import json
import os
import shlex
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_wandb_launch.errors import ResourceArgsError
from airflow_wandb_launch.launch.result import RunInfo
from airflow_wandb_launch.launch.run import DEFAULT_BASE_URL, RunIdentity, WandbCredentials
from airflow_wandb_launch.wandb_api import runs
from airflow_wandb_launch.wandb_api.graphql import GraphQLClient
from airflow_wandb_launch.wandb_api.runs import RUN_STATE_QUERY, read_run_state, run_variables

#: the file of a W&B job artifact that describes its source (written by wandb's JobBuilder).
JOB_FILE = "wandb-job.json"
#: W&B Registry projects: their paths name an organization, which the SDK resolves itself.
REGISTRY_PROJECT_PREFIX = "wandb-registry-"


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
                base_url=(os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
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
        if not self.credentials.online:
            return None
        with self.graphql() as client:
            viewer = client.execute(runs.VIEWER_ENTITY_QUERY, {}, "Viewer").get("viewer") or {}
        return viewer.get("entity")

    def get_job_image(self, job: str) -> tuple[str, list[str] | None]:
        """The image and entry point of a W&B image job (``[entity/]project/name[:alias]``, alias ``latest``).

        Reads only the job's ``wandb-job.json``. An entry point is returned only if the job stores one.

        :raises ResourceArgsError: the job does not exist, is not a job, or is a code-artifact or git job.
        """
        import tempfile

        import wandb

        api = self.api  # no API key: AirflowNotFoundException, before anything else
        path = self._job_path(job)
        try:
            artifact = api.artifact(path)
        except (wandb.errors.CommError, ValueError) as err:
            if "not found" in str(err).lower():
                raise ResourceArgsError(
                    "operator", "job", job, f"an existing W&B job artifact: {path} was not found ({err})"
                ) from err
            raise
        if artifact.type != "job":
            raise ResourceArgsError(
                "operator", "job", job, f"a W&B artifact of type 'job' ({path} is of type {artifact.type!r})"
            )
        try:
            entry = artifact.get_entry(JOB_FILE)
        except KeyError as err:
            raise ResourceArgsError(
                "operator", "job", job, f"a W&B job artifact with a {JOB_FILE} ({path} has none)"
            ) from err
        with tempfile.TemporaryDirectory(prefix="wandb-job-") as tmp:  # only this file; no copy kept in the cache
            spec = json.loads(Path(entry.download(root=tmp, skip_cache=True)).read_text(encoding="utf-8"))
        return _image_and_entry_point(job, spec)

    def _job_path(self, job: str) -> str:
        """``entity/project/name:alias`` of a job reference, filling in the entity, project and alias."""
        parts = job.strip().split("/")
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise ResourceArgsError("operator", "job", job, "a W&B job artifact 'entity/project/name:alias'")
        name, _, alias = parts[-1].partition(":")
        parts[-1] = f"{name}:{alias or 'latest'}"
        if len(parts) == 1:
            if not self.credentials.project:
                raise ResourceArgsError(
                    "operator", "job", job, f"'project/name:alias' (connection {self.wandb_conn_id!r} has no project)"
                )
            parts.insert(0, self.credentials.project)
        if len(parts) == 2 and not parts[0].startswith(REGISTRY_PROJECT_PREFIX):
            entity = self.default_entity()
            if entity:
                parts.insert(0, entity)
        return "/".join(parts)

    def get_run(self, run_path: str) -> RunInfo | None:
        """State, summary and logged artifacts of a run; None if W&B has no such run (GraphQL: no wandb import)."""
        with self.graphql() as client:
            run = runs.read_run(client, run_path)
        if run is None:
            return None
        entity, project, run_id = run_path.split("/")
        url = RunIdentity(run_id, project, entity).url(self.credentials.base_url)
        return RunInfo(state=run["state"], summary=run["summary"], artifacts=run["artifacts"], url=url)

    def update_run_summary(self, run_path: str, values: dict[str, Any]) -> None:
        """Merge ``values`` into a run's summary (the SDK's ``UpsertBucket`` with ``summaryMetrics``).

        :param run_path: ``entity/project/run_id``.
        :param values: summary keys and JSON-able values.
        """
        with self.graphql() as client:
            runs.update_summary(client, run_path, values)

    def add_run_tags(self, run_path: str, *tags: str) -> list[str]:
        """Add tags to a run (those it lacks); return its tags.

        :param run_path: ``entity/project/run_id``.
        :param tags: the tags to add.
        """
        run = self.api.run(run_path)
        missing = [tag for tag in tags if tag not in run.tags]
        if missing:
            run.tags.extend(missing)
            run.update()
        return list(run.tags)

    def graphql(self) -> GraphQLClient:
        """A GraphQL client for this connection (httpx; no wandb import): reuse it across polls."""
        return GraphQLClient(self.credentials)

    async def aget_run_state(
        self, entity: str, project: str, run_id: str, *, client: GraphQLClient | None = None
    ) -> dict | None:
        """``{"state", "summary"}`` of a run via one GraphQL POST, for triggers; None if it does not exist.

        :param client: a GraphQL client to reuse across polls (one is made, and closed, if not given).
        """
        own = client is None
        client = client or self.graphql()
        try:
            data = await client.aexecute(
                RUN_STATE_QUERY, run_variables(f"{entity}/{project}/{run_id}"), "AirflowRunState"
            )
        finally:
            if own:
                await client.aclose()
        return read_run_state(data)


def _image_and_entry_point(job: str, spec: dict[str, Any]) -> tuple[str, list[str] | None]:
    """The image and stored entry point of a parsed ``wandb-job.json``; only image jobs have an image."""
    source_type = spec.get("source_type")
    if source_type != "image":
        kind = {"artifact": "code-artifact", "repo": "git repo"}.get(source_type, repr(source_type))
        raise ResourceArgsError(
            "operator",
            "job",
            job,
            f"a W&B job whose source is a container image (this one is a {kind} job; build an image job, "
            "or use WandbLaunchQueueOperator to let a W&B agent build it)",
        )
    source = spec.get("source") or {}
    image = source.get("image")
    if not image or not isinstance(image, str):
        raise ResourceArgsError("operator", "job", job, f"an image job whose {JOB_FILE} names its image (source.image)")
    entry_point = source.get("entrypoint")  # a list, as W&B writes it
    if isinstance(entry_point, str):
        entry_point = shlex.split(entry_point)
    return image, [str(a) for a in entry_point] if entry_point else None
