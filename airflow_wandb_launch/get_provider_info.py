"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch import __version__

INTEGRATION = "Weights & Biases Launch"


def get_provider_info() -> dict[str, Any]:
    """Return this provider's metadata in Airflow's provider_info schema."""
    return {
        "package-name": "airflow-provider-wandb-launch",
        "name": "Weights & Biases Launch",
        "description": "Run W&B Launch training jobs on SageMaker, Vertex AI, Azure ML or locally, deferrable.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://docs.wandb.ai/platform/launch/",
                "tags": ["ml"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_wandb_launch.operators.launch",
                    "airflow_wandb_launch.operators.queue",
                    "airflow_wandb_launch.operators.compare",
                ],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["airflow_wandb_launch.hooks.wandb"]}],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_wandb_launch.triggers.launch",
                    "airflow_wandb_launch.triggers.wandb",
                ],
            }
        ],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["airflow_wandb_launch.sensors.wandb"]}],
        "task-decorators": [
            {"class-name": "airflow_wandb_launch.decorators.wandb_launch.wandb_launch_task", "name": "wandb_launch"}
        ],
        "asset-uris": [
            {
                "schemes": ["wandb-artifact"],
                "handler": "airflow_wandb_launch.assets.sanitize_uri",
                "factory": "airflow_wandb_launch.assets.create_asset",
            }
        ],
        "extra-links": [
            "airflow_wandb_launch.links.WandbRunLink",
            "airflow_wandb_launch.links.CloudJobLink",
        ],
        "connection-types": [
            {
                "connection-type": "wandb",
                "hook-class-name": "airflow_wandb_launch.hooks.wandb.WandbHook",
                "hook-name": "Weights & Biases",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"password": "API key", "host": "Base URL"},
                    "placeholders": {"host": "https://api.wandb.ai"},
                },
                "conn-fields": {
                    "entity": {
                        "label": "Default entity",
                        "description": "W&B entity (user or team) runs are logged under.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "project": {
                        "label": "Default project",
                        "description": "W&B project used when an operator names none.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
