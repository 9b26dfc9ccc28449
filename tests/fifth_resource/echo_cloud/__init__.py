"""``echo-cloud``: a test-only cloud whose jobs live in this process (``service``). The class loads lazily, as the
real clouds' do, so ``pricing`` and ``states`` import without Airflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

RESOURCE = "echo-cloud"

if TYPE_CHECKING:
    from tests.fifth_resource.echo_cloud.backend import EchoCloudBackend


def __getattr__(name: str) -> Any:
    if name == "EchoCloudBackend":
        from tests.fifth_resource.echo_cloud.backend import EchoCloudBackend

        return EchoCloudBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["RESOURCE", "EchoCloudBackend"]
