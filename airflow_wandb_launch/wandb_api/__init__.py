"""The W&B client: GraphQL over one reused httpx client, run and queue operations, and offline run logs."""
