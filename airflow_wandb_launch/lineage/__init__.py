"""OpenLineage for launch operators: the job's cloud data in, the W&B artifacts and cloud outputs out.

With the ``[openlineage]`` extra (``apache-airflow-providers-openlineage``) installed and configured, the
OpenLineage listener calls :meth:`OpenLineageMixin.get_openlineage_facets_on_complete` when a launch task ends
and sends what it returns:

- **inputs**: the cloud data channels of the request the operator submitted (SageMaker
  ``InputDataConfig[].DataSource.S3DataSource.S3Uri``; Azure ML command ``inputs``), the storage URIs on the
  job's command line and in its environment (``gs://``, ``s3://``, ``abfss://``, ``wasbs://``, ``azureml://``,
  ``https://<account>.blob|dfs.core.windows.net/...``; one after a flag such as ``--output-dir`` or in a variable
  such as ``OUTPUT_PATH`` is an output instead), the W&B job artifact the operator ran (``job=``), and the W&B
  artifacts the run used (LaunchResult ``used_artifacts``, when W&B reports them);
- **outputs**: the job's cloud output (SageMaker's model artifacts
  ``<S3OutputPath>/<TrainingJobName>/output/model.tar.gz``, as the Amazon provider's training operator reports
  them; Vertex ``base_output_directory``; Azure ML command ``outputs``) and the artifact versions the run
  logged, as ``Dataset(namespace="wandb://<W&B host>", name="entity/project/name:vN")``;
- **run facets**: ``externalQuery`` (``ExternalQueryRunFacet``: the W&B run path, source ``wandb``) and
  ``wandbLaunch`` (the W&B run and the cloud job, with their URLs).

Dataset names follow the OpenLineage naming spec: ``s3://{bucket}`` / ``gs://{bucket}`` with the object key as
the name (``/`` for a whole bucket, as the Amazon and Google providers name them), ``abfss://{container}@{host}``
and ``wasbs://{container}@{host}`` with the path. Azure ML datastore URIs (``azureml://.../datastores/{name}/paths/
{path}``) have no OpenLineage naming: the datastore is the namespace, the path the name. Query strings (SAS
tokens), fragments and user info are never kept.

``datasets`` (URIs), ``wandb`` (artifacts) and each cloud's ``backends/<cloud>/lineage.py`` (its request) are pure
and need no OpenLineage package; ``facets`` makes the OpenLineage objects, ``mixin`` is what the operator carries.
"""

from __future__ import annotations

from airflow_wandb_launch.lineage.datasets import DatasetRef, Lineage, command_line_datasets, dataset_for_uri
from airflow_wandb_launch.lineage.mixin import LINEAGE_XCOM_KEY, OpenLineageMixin, request_datasets
from airflow_wandb_launch.lineage.wandb import artifact_dataset, result_datasets, wandb_host

__all__ = [
    "LINEAGE_XCOM_KEY",
    "DatasetRef",
    "Lineage",
    "OpenLineageMixin",
    "artifact_dataset",
    "command_line_datasets",
    "dataset_for_uri",
    "request_datasets",
    "result_datasets",
    "wandb_host",
]
