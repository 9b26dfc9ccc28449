"""OpenLineage objects: imported only when lineage is asked for (the OpenLineage client takes ~0.5 s to import)."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_wandb_launch.lineage.datasets import Lineage
from airflow_wandb_launch.lineage.wandb import WANDB_SOURCE, facet_fields

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


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
