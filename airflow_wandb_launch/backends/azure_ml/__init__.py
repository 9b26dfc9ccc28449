"""``azure-ml``: Azure Machine Learning command jobs."""

from __future__ import annotations

RESOURCE = "azure-ml"
#: the pip extra (and Airflow connection type) of this resource
EXTRA = "azure"
