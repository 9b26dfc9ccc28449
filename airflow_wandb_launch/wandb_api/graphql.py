"""W&B's GraphQL endpoint over httpx: one POST per query, basic auth ``api:<key>``, clients reused.

Lighter than ``wandb.Api()`` (no wandb-core subprocess) and async-capable, so triggers use it.
"""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.launch.run import WandbCredentials

DEFAULT_TIMEOUT = 30.0


class GraphQLError(RuntimeError):
    """W&B answered with GraphQL errors."""


class GraphQLClient:
    """Runs GraphQL operations against one W&B server as one user.

    :param credentials: where and as whom (the API key is sent as basic auth, never logged).
    :param timeout: seconds per request.
    """

    def __init__(self, credentials: WandbCredentials, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self._sync: Any = None
        self._async: Any = None

    @property
    def url(self) -> str:
        return f"{self.credentials.base_url}/graphql"

    def _request(self, query: str, variables: dict[str, Any], operation: str) -> dict[str, Any]:
        return {"query": query, "variables": variables, "operationName": operation}

    @staticmethod
    def _data(response: Any) -> dict[str, Any]:
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in body["errors"])
            raise GraphQLError(f"W&B GraphQL error: {messages}")
        return body.get("data") or {}

    def execute(self, query: str, variables: dict[str, Any], operation: str) -> dict[str, Any]:
        """Run one operation synchronously; return its ``data``."""
        import httpx

        if self._sync is None:
            self._sync = httpx.Client(timeout=self.timeout, auth=("api", self.credentials.api_key or ""))
        return self._data(self._sync.post(self.url, json=self._request(query, variables, operation)))

    async def aexecute(self, query: str, variables: dict[str, Any], operation: str) -> dict[str, Any]:
        """Run one operation from an event loop; return its ``data``."""
        import httpx

        if self._async is None:
            self._async = httpx.AsyncClient(timeout=self.timeout, auth=("api", self.credentials.api_key or ""))
        return self._data(await self._async.post(self.url, json=self._request(query, variables, operation)))

    def __enter__(self) -> GraphQLClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        self.close()
        if self._async is not None:
            await self._async.aclose()
            self._async = None
