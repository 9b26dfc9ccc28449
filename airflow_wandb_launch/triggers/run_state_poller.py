"""One W&B run-state poller per ``wandb`` connection per triggerer process: many waiting runs, one query a round.

``WandbRunTrigger`` (and so ``WandbRunSensor`` deferred) registers its run path and awaits the next round, which
reads every registered run with one ``AirflowRunsState`` query per W&B project (runs selected by id, 100 a page)
on one shared GraphQL client, built off the event loop from the connection.
"""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.triggers.batch_poller import BatchPoller, shared_poller
from airflow_wandb_launch.wandb_api.graphql import GraphQLClient
from airflow_wandb_launch.wandb_api.runs import aread_run_states


class RunStatePoller(BatchPoller[GraphQLClient, str, "dict[str, Any] | None"]):
    """Reads ``{"state", "summary"}`` (None: no such run yet) of every registered run path, one round per interval.

    :param wandb_conn_id: the ``wandb`` connection.
    """

    def __init__(self, wandb_conn_id: str) -> None:
        super().__init__(f"W&B runs ({wandb_conn_id})")
        self.wandb_conn_id = wandb_conn_id

    def build_client(self) -> GraphQLClient:
        from airflow_wandb_launch.hooks.wandb import WandbHook

        return GraphQLClient(WandbHook(self.wandb_conn_id).credentials)

    async def close_client(self, client: GraphQLClient) -> None:
        await client.aclose()

    async def read(self, client: GraphQLClient, items: list[str]) -> dict[str, Any]:
        return await aread_run_states(client, items)


def run_poller_for(wandb_conn_id: str) -> RunStatePoller:
    """The run-state poller of one ``wandb`` connection in the running event loop (created on first use)."""
    return shared_poller(RunStatePoller, wandb_conn_id)
