"""Extra links: the W&B run and the job's cloud console page, read from the XCom the operator pushes at submit."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.sdk import BaseOperator

RUN_URL_KEY = "run_url"
JOB_URL_KEY = "job_url"


class _XComLink(BaseOperatorLink):
    xcom_key: ClassVar[str]

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value = XCom.get_value(key=self.xcom_key, ti_key=ti_key)
        return value if isinstance(value, str) else ""


class WandbRunLink(_XComLink):
    """The W&B run the task logs to."""

    name = "W&B Run"
    xcom_key = RUN_URL_KEY


class CloudJobLink(_XComLink):
    """The job's page in its cloud console (SageMaker, Vertex AI, Azure ML studio)."""

    name = "Cloud Job"
    xcom_key = JOB_URL_KEY
