"""WandbLaunchVertexAIOperator: a W&B Launch job as a Vertex AI CustomJob."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_wandb_launch.operators.launch import WandbLaunchOperator


class WandbLaunchVertexAIOperator(WandbLaunchOperator):
    """Run a W&B Launch job as a Vertex AI CustomJob. See :class:`WandbLaunchOperator`.

    ``resource_args`` is W&B Launch's Vertex queue config, ``{"spec": {...}, "run": {...}}`` (optionally
    wrapped as ``{"vertex": {...}}``); ``${image_uri}`` is filled with the job's image.

    :param gcp_conn_id: Airflow Google Cloud connection. Its extras may set ``project``, ``region``
        (or ``location``) and ``api_endpoint``.
    :param project_id: GCP project (default: the connection's ``project`` extra, else the credentials').
    :param region: Vertex AI region, e.g. ``us-central1`` (default: the connection's ``region`` extra).
    :param impersonation_chain: service account to impersonate, or a chain of them.
    :param api_endpoint: JobService endpoint (default ``{region}-aiplatform.googleapis.com``), for
        Private Service Connect or an emulator.
    """

    def __init__(
        self,
        *,
        gcp_conn_id: str = "google_cloud_default",
        project_id: str | None = None,
        region: str | None = None,
        impersonation_chain: str | Sequence[str] | None = None,
        api_endpoint: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            resource="vertex",
            gcp_conn_id=gcp_conn_id,
            project_id=project_id,
            region=region,
            impersonation_chain=list(impersonation_chain)
            if isinstance(impersonation_chain, (list, tuple))
            else impersonation_chain,
            api_endpoint=api_endpoint,
            **kwargs,
        )
