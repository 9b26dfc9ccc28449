"""``wandb-queue``: an existing W&B Launch queue as a backend (its agent runs the job)."""
