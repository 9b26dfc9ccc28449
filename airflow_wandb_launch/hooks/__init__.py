"""Hooks of the W&B Launch provider."""

from airflow_wandb_launch.hooks.wandb import WandbHook

__all__ = ["WandbHook"]
