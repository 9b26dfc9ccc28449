"""Triggers of the W&B Launch provider."""
