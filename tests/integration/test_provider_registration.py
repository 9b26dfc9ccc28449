"""Airflow discovers the provider through its entry point: the package, the `wandb` connection type, links."""

from __future__ import annotations


def test_providers_manager_registers_the_provider_and_wandb_connection_type():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-wandb-launch" in manager.providers
    hook = manager.hooks["wandb"]
    assert hook is not None and hook.hook_class_name == "airflow_wandb_launch.hooks.wandb.WandbHook"
    assert hook.connection_id_attribute_name == "wandb_conn_id"
    assert {"airflow_wandb_launch.links.WandbRunLink", "airflow_wandb_launch.links.CloudJobLink"} <= set(
        manager.extra_links_class_names
    )


def test_providers_manager_registers_the_task_wandb_launch_decorator():
    import warnings

    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    from airflow_wandb_launch.decorators.wandb_launch import wandb_launch_task

    with warnings.catch_warnings():  # deprecated (a FutureWarning) for the task-sdk's ProvidersManagerTaskRuntime
        warnings.simplefilter("ignore", FutureWarning)
        assert "wandb_launch" in ProvidersManager().taskflow_decorators
    assert ProvidersManagerTaskRuntime().taskflow_decorators["wandb_launch"] is wandb_launch_task
