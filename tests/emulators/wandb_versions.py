"""Artifact versions and aliases in the W&B fake: add versions, move aliases (as the SDK's ``artifact.save()``
does), and script changes that happen after a number of reads (a new version, a run that ends).

Registered on :class:`~tests.emulators.wandb_server.WandbServer` as ``server.versions``; its GraphQL handlers:

- ``AirflowArtifactAlias`` (the provider's sensor query): ``project { artifactCollectionMembership(name:
  "name:alias") }`` like the SDK's ``ArtifactMembershipByName``; every read counts towards scripted changes.
- ``AirflowRunState``: the provider's run-state query; every read counts too.
- ``AddAliases`` / ``DeleteAliases`` / ``UpdateArtifact``: what ``wandb.Api().artifact(...)`` sends on ``save()``
  after ``artifact.aliases.append("production")``. Like W&B, an alias names one version of a collection at a time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
#: the read-counted operations, and the handler each delegates to on the server.
COUNTED = {
    "AirflowArtifactAlias": "_membership_query",
    "AirflowRunState": "_run_query",
    "AirflowRunsState": "_runs_query",  # the triggers' batched read
}


@dataclass
class _Scripted:
    operation: str
    after_reads: int
    action: Callable[[], None]


class ArtifactVersions:
    """Versions, aliases and read-scripted changes of one :class:`WandbServer`.

    :param server: the fake (its lock, version store and node builders are shared).
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.reads: dict[str, int] = dict.fromkeys(COUNTED, 0)
        self._scripted: list[_Scripted] = []

    def handlers(self) -> dict[str, Callable[[Json], Json]]:
        counted = {op: self._counting(op, getattr(self.server, method)) for op, method in COUNTED.items()}
        return {
            **counted,
            "AddAliases": self._add_aliases,
            "DeleteAliases": self._delete_aliases,
            "UpdateArtifact": self._update_artifact,
        }

    # --- driven by tests -------------------------------------------------------------------------

    def add(
        self,
        entity: str,
        project: str,
        name: str,
        *,
        type: str = "dataset",
        aliases: Iterable[str] = (),
        metadata: Json | None = None,
    ) -> str:
        """Store the next version of a collection (``latest`` moves to it); return ``name:vN``."""
        spec = {"name": name, "type": type, "aliases": list(aliases), "metadata": dict(metadata or {})}
        with self.server._lock:
            return self.server._add_artifact(entity, project, None, spec)

    def set_alias(self, entity: str, project: str, name: str, version: str, alias: str) -> None:
        """Point ``alias`` at ``vN`` (moving it off any other version), as W&B's ``addAliases`` does."""
        with self.server._lock:
            self.server._aliases.setdefault((entity, project, name), {})[alias] = int(version.lstrip("v"))

    def alias_version(self, entity: str, project: str, name: str, alias: str) -> str | None:
        """``vN`` the alias names now, or None."""
        with self.server._lock:
            index = self.server._aliases.get((entity, project, name), {}).get(alias)
        return None if index is None else f"v{index}"

    def metadata(self, entity: str, project: str, name: str, version: str) -> Json:
        with self.server._lock:
            return dict(self.server._versions[entity, project, name][int(version[1:])].get("metadata") or {})

    def after_reads(self, operation: str, reads: int, action: Callable[[], None]) -> None:
        """Run ``action`` (under the fake's lock) just before the ``reads``-th read from now of ``operation``.

        :param operation: ``AirflowArtifactAlias``, ``AirflowRunState`` (a poke) or ``AirflowRunsState`` (a trigger).
        """
        if operation not in COUNTED:
            raise ValueError(f"reads of {operation!r} are not counted; use one of {sorted(COUNTED)}")
        with self.server._lock:
            self._scripted.append(_Scripted(operation, self.reads[operation] + reads, action))

    def reset(self) -> None:
        with self.server._lock:
            self._scripted.clear()

    # --- GraphQL handlers (called under the fake's lock) -----------------------------------------

    def _counting(self, operation: str, handler: Callable[[Json], Json]) -> Callable[[Json], Json]:
        def counted(variables: Json) -> Json:
            self.reads[operation] += 1
            due = [s for s in self._scripted if s.operation == operation and s.after_reads <= self.reads[operation]]
            for scripted in due:
                self._scripted.remove(scripted)
                scripted.action()
            return handler(variables)

        return counted

    def _alias_inputs(self, variables: Json) -> tuple[tuple[str, str, str], int, list[str]]:
        data = variables["input"]
        artifact_id = data.get("artifactID") or data.get("artifact_id")
        entity, project, ref = base64.b64decode(artifact_id).decode().removeprefix("Artifact:").split("/")
        name, _, number = ref.rpartition(":v")
        aliases = [a["alias"] for a in data.get("aliases") or ()]
        return (entity, project, name), int(number), aliases

    def _add_aliases(self, variables: Json) -> Json:
        key, index, aliases = self._alias_inputs(variables)
        moved = self.server._aliases.setdefault(key, {})
        for alias in aliases:
            moved[alias] = index  # an alias names one version of its collection: it moves
        return {"addAliases": {"success": True}}

    def _delete_aliases(self, variables: Json) -> Json:
        key, index, aliases = self._alias_inputs(variables)
        moved = self.server._aliases.get(key, {})
        for alias in aliases:
            if moved.get(alias) == index:
                del moved[alias]
        return {"deleteAliases": {"success": True}}

    def _update_artifact(self, variables: Json) -> Json:
        data = variables["input"]
        artifact_id = data.get("artifactID") or data.get("artifact_id")
        entity, project, ref = base64.b64decode(artifact_id).decode().removeprefix("Artifact:").split("/")
        name, _, number = ref.rpartition(":v")
        version = self.server._versions[entity, project, name][int(number)]
        if data.get("metadata"):
            version["metadata"] = json.loads(data["metadata"])
        return {"updateArtifact": {"artifact": self.server._artifact_node(entity, project, ref)}}
