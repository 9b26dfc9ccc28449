"""Run W&B Launch training jobs from Apache Airflow 3 on SageMaker, Vertex AI, Azure ML or locally."""

__version__ = "0.1.0"
