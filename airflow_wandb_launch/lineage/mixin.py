"""``OpenLineageMixin``: what a launch operator reports to OpenLineage when its task ends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_wandb_launch.lineage.datasets import Lineage
from airflow_wandb_launch.lineage.facets import openlineage_enabled, operator_lineage
from airflow_wandb_launch.lineage.wandb import result_datasets, wandb_host

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

#: the XCom key of the request's datasets, pushed at submit: a deferred task resumes in another process, where
#: the request the operator built is gone.
LINEAGE_XCOM_KEY = "openlineage_datasets"


def request_datasets(resource: str, request: Mapping[str, Any] | None) -> Lineage:
    """The datasets of a submitted request (the backend's payload), as the resource's backend reads them; none
    for a resource that does not say (``wandb-queue``: the queue's agent builds the cloud request)."""
    if not request:
        return Lineage()
    from airflow_wandb_launch.backends import backend_class

    try:
        return backend_class(resource).request_lineage(request)
    except ValueError:  # a resource no backend serves: nothing to say
        return Lineage()


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
