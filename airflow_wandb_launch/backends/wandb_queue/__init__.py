"""``wandb-queue``: an existing W&B Launch queue as a backend (its agent runs the job)."""

from airflow_wandb_launch.backends.wandb_queue.backend import WandbQueueBackend

__all__ = ["WandbQueueBackend"]
