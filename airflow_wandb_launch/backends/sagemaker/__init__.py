"""``sagemaker``: SageMaker training jobs."""

from __future__ import annotations

RESOURCE = "sagemaker"
