"""W&B artifacts as Airflow Assets: the ``wandb-artifact`` URI scheme, and asset events from launched runs.

URI forms (``Asset("wandb-artifact://entity/project/name")``):

- ``wandb-artifact://entity/project/name``: the artifact **collection**, the usual Asset. Every new version
  of the collection is an event of this Asset. ``:latest`` names the same thing and is dropped
  (``.../model:latest`` becomes ``.../model``): every new version becomes ``latest``.
- ``wandb-artifact://entity/project/name:production``: an alias, kept as written (an Asset of its own: the
  version that alias points to).
- ``wandb-artifact://entity/project/name:v3``: one version, kept (``:V3`` becomes ``:v3``).

The entity, project and name are required (an Asset URI is global: there is no connection to take a
default entity from) and are kept case as written (W&B names are case-sensitive). A URI with fewer or more
parts, an empty part, a character W&B names cannot hold, a port, a query or an empty qualifier is rejected with
a ``ValueError`` saying what was expected.

A launch operator's Asset outlets of this scheme emit an event only when its run logged a matching version
(see :func:`record_artifact_events`); other outlets are left to Airflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from airflow.sdk import Context

SCHEME = "wandb-artifact"
#: what W&B allows in entity, project and artifact names.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")
VERSION_PATTERN = re.compile(r"^[vV](\d+)$")
EXPECTED = "wandb-artifact://entity/project/name[:alias|:vN]"


@dataclass(frozen=True)
class ArtifactRef:
    """A parsed ``wandb-artifact://`` URI: a collection, or one version or alias of it."""

    entity: str
    project: str
    name: str
    qualifier: str | None = None  # "vN", an alias, or None for the collection

    @property
    def collection_uri(self) -> str:
        return f"{SCHEME}://{self.entity}/{self.project}/{self.name}"

    @property
    def uri(self) -> str:
        return f"{self.collection_uri}:{self.qualifier}" if self.qualifier else self.collection_uri

    @property
    def version_index(self) -> int | None:
        """N of a ``vN`` qualifier, else None."""
        match = VERSION_PATTERN.match(self.qualifier or "")
        return int(match.group(1)) if match else None

    def matches(self, artifact: dict[str, Any]) -> bool:
        """Whether a logged artifact (a LaunchResult ``artifacts`` entry) is a version this ref names."""
        logged = parse_uri(artifact["uri"]) if _has_entity(artifact.get("uri", "")) else None
        if logged is None or (logged.entity, logged.project, logged.name) != (self.entity, self.project, self.name):
            return False
        if self.qualifier is None:
            return True
        if self.version_index is not None:
            return artifact.get("version") == self.qualifier
        return self.qualifier in (artifact.get("aliases") or ())


def parse_uri(uri: str) -> ArtifactRef:
    """Parse and normalize a ``wandb-artifact://`` URI.

    :param uri: ``wandb-artifact://entity/project/name[:alias|:vN]``.
    :raises ValueError: the URI is malformed; the message says what was expected.
    """
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != SCHEME:
        raise ValueError(f"{uri!r} is not a {SCHEME} URI: expected {EXPECTED}")
    return _parse(parts, uri)


def _parse(parts: SplitResult, uri: str) -> ArtifactRef:
    def bad(why: str) -> ValueError:
        return ValueError(f"malformed W&B artifact URI {uri!r}: {why}; expected {EXPECTED}")

    if parts.query:
        raise bad("a query is not allowed")
    netloc = parts.netloc.rpartition("@")[2]  # Airflow drops user info itself (with a warning)
    if ":" in netloc:
        raise bad("the entity cannot carry a port")
    segments = [netloc, *parts.path.strip("/").split("/")] if parts.path.strip("/") else [netloc]
    if len(segments) != 3 or not all(segments):
        raise bad(f"it names {len([s for s in segments if s])} of entity, project and name")
    entity, project, last = segments
    name, colon, qualifier = last.partition(":")
    for label, value in (("entity", entity), ("project", project), ("name", name)):
        if not NAME_PATTERN.match(value):
            raise bad(f"the {label} {value!r} may hold only letters, digits, '-', '_' and '.'")
    if colon and not qualifier:
        raise bad("the ':' is not followed by an alias or version")
    if qualifier and not NAME_PATTERN.match(qualifier):
        raise bad(f"the alias {qualifier!r} may hold only letters, digits, '-', '_' and '.'")
    if (match := VERSION_PATTERN.match(qualifier)) is not None:
        qualifier = f"v{int(match.group(1))}"
    return ArtifactRef(entity, project, name, None if qualifier in ("", "latest") else qualifier)


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's URI handler for the ``wandb-artifact`` scheme (registered in the provider info).

    :param uri: the URI as Airflow split it (scheme lower-cased, trailing slashes and fragment removed).
    :raises ValueError: the URI is malformed.
    """
    ref = _parse(uri, uri.geturl())
    path = f"/{ref.project}/{ref.name}" + (f":{ref.qualifier}" if ref.qualifier else "")
    return uri._replace(netloc=ref.entity, path=path, query="", fragment="")


def create_asset(*, entity: str, project: str, name: str, alias: str | None = None, extra: dict | None = None) -> Any:
    """An ``Asset`` for a W&B artifact collection (or an alias or version of it).

    :param entity: the W&B entity. :param project: the W&B project. :param name: the artifact's name.
    :param alias: an alias or ``vN``; None for the collection.
    :param extra: the Asset's extra.
    """
    from airflow.sdk import Asset

    uri = ArtifactRef(entity, project, name, alias).uri
    return Asset(uri=uri, extra=extra)


def record_artifact_events(task: Any, context: Context, result: dict[str, Any]) -> None:
    """Make a launch task's ``wandb-artifact`` Asset outlets match what its run logged.

    Called when the task succeeds, before Airflow records its asset events. An outlet whose artifact the run
    logged gets the version in the event's extra (``version``, ``uri``, ``aliases``, ``run_id``, ``run_path``,
    ``run_url``); an outlet whose artifact the run did not log is removed from this task instance's outlets, so
    Airflow emits no event for it. Other outlets are left alone.

    :param task: the operator (its ``outlets`` are read and, for this execution only, trimmed).
    :param context: the task's context (its ``outlet_events``).
    :param result: the LaunchResult.
    """
    from airflow.sdk import Asset

    kept = []
    for outlet in task.outlets or ():
        if not (isinstance(outlet, Asset) and outlet.uri.startswith(f"{SCHEME}://")):
            kept.append(outlet)
            continue
        ref = parse_uri(outlet.uri)
        logged = [a for a in result.get("artifacts") or () if ref.matches(a)]
        if not logged:
            task.log.info("Run %s logged no version of %s: no asset event.", result.get("run_path"), outlet.uri)
            continue
        newest = max(logged, key=lambda a: _index(a.get("version")))
        context["outlet_events"][outlet].extra = _event_extra(newest, result)
        task.log.info("Asset event for %s: %s", outlet.uri, newest["uri"])
        kept.append(outlet)
    task.outlets = kept


def _event_extra(artifact: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": artifact.get("version"),
        "uri": artifact.get("uri"),
        "aliases": list(artifact.get("aliases") or ()),
        "type": artifact.get("type"),
        "run_id": result.get("run_id"),
        "run_path": result.get("run_path"),
        "run_url": result.get("run_url"),
    }


def _index(version: str | None) -> int:
    match = VERSION_PATTERN.match(version or "")
    return int(match.group(1)) if match else -1


def _has_entity(uri: str) -> bool:
    """Offline results name ``project/name`` only: they never match an Asset."""
    return uri.startswith(f"{SCHEME}://") and uri[len(SCHEME) + 3 :].count("/") == 2
