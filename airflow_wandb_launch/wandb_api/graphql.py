"""W&B's GraphQL endpoint over httpx: one POST per query, basic auth ``api:<key>``, clients reused.

Lighter than ``wandb.Api()`` (no wandb-core subprocess) and async-capable, so triggers use it.
"""

from __future__ import annotations

import time
from typing import Any

from airflow_wandb_launch.launch.run import WandbCredentials

DEFAULT_TIMEOUT = 30.0
#: attempts per operation when W&B answers 429/5xx or the connection fails (then the error is raised).
MAX_ATTEMPTS = 4
#: seconds before the second attempt; doubled for each further one (a ``Retry-After`` answer wins, up to 30 s).
FIRST_BACKOFF = 0.5
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): W&B's ``Retry-After`` if it says, else
    exponential from ``FIRST_BACKOFF``; at most 30 s. Pure."""
    try:
        if retry_after is not None:
            return min(max(float(retry_after), 0.0), 30.0)
    except ValueError:
        pass
    return min(FIRST_BACKOFF * 2 ** (attempt - 1), 30.0)


class GraphQLError(RuntimeError):
    """W&B answered with GraphQL errors."""


class GraphQLClient:
    """Runs GraphQL operations against one W&B server as one user.

    :param credentials: where and as whom (the API key is sent as basic auth, never logged).
    :param timeout: seconds per request.
    :param attempts: tries of a synchronous query after transient failures (1 where a polling loop retries).
    """

    def __init__(
        self, credentials: WandbCredentials, timeout: float = DEFAULT_TIMEOUT, attempts: int = MAX_ATTEMPTS
    ) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self.attempts = attempts
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
        """Run one operation synchronously (the worker); return its ``data``. A query is retried after a transient
        failure (429/5xx, a dropped connection), up to ``attempts`` times; a mutation is sent once (a push that took
        effect must not be pushed again)."""
        import httpx

        if self._sync is None:
            self._sync = httpx.Client(timeout=self.timeout, auth=("api", self.credentials.api_key or ""))
        body = self._request(query, variables, operation)
        attempts = 1 if query.lstrip().startswith("mutation") else self.attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self._sync.post(self.url, json=body)
            except httpx.TransportError:
                if attempt == attempts:
                    raise
                time.sleep(backoff(attempt, None))
                continue
            if response.status_code not in TRANSIENT_STATUSES or attempt == attempts:
                return self._data(response)
            time.sleep(backoff(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable")

    async def aexecute(self, query: str, variables: dict[str, Any], operation: str) -> dict[str, Any]:
        """Run one operation from an event loop; return its ``data``. Not retried here: a trigger's polling loop
        (its error budget, the connection's back-off) answers transient failures."""
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
