"""A fake of W&B's GraphQL API on loopback, for the real ``wandb`` SDK and our own httpx queries.

Point the SDK at it with ``WANDB_BASE_URL`` (or ``wandb.Api(api_key=..., overrides={"base_url": url})``).
Each operation name has a handler that returns a superset of the data; the answer is then cut down
to exactly the selection set of the query (aliases, fragments and ``@include``/``@skip`` honoured),
so one handler serves every variant of a query. An unknown operation gets a GraphQL error and a
loud log line, so gaps in the fake show up at once. Artifact files (e.g. a W&B job's ``wandb-job.json``)
are served over plain HTTP GET, as W&B's storage serves them (see ``wandb_artifacts``).
``fail_next(operation, times, status)`` makes the next requests of an operation fail (a 500, or a GraphQL error).
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from graphql import GraphQLError, parse, value_from_ast_untyped
from graphql.language import ast

from tests.emulators.wandb_artifacts import JOB_FILE, SIGNED_PREFIX, ArtifactFiles, job_spec
from tests.emulators.wandb_queue import LaunchQueues
from tests.emulators.wandb_run_updates import RunUpdates
from tests.emulators.wandb_versions import ArtifactVersions

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "0123456789abcdef0123456789abcdef01234567"
Json = dict[str, Any]


def _gid(kind: str, key: str) -> str:
    """A W&B-style opaque id: base64 of ``Kind:key``."""
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


def _digest(*parts: object) -> str:
    return hashlib.md5(repr(parts).encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class _Select:
    """Cuts handler data down to a query's selection set."""

    def __init__(self, doc: ast.DocumentNode, variables: Json) -> None:
        self.variables = variables
        defs = doc.definitions
        self.fragments = {d.name.value: d for d in defs if isinstance(d, ast.FragmentDefinitionNode)}

    def _included(self, node: ast.FieldNode | ast.FragmentSpreadNode | ast.InlineFragmentNode) -> bool:
        for d in node.directives or ():
            arg = next((a for a in d.arguments if a.name.value == "if"), None)
            cond = bool(value_from_ast_untyped(arg.value, self.variables)) if arg else True
            if (d.name.value == "include" and not cond) or (d.name.value == "skip" and cond):
                return False
        return True

    def _fields(self, sel: ast.SelectionSetNode) -> Iterable[ast.FieldNode]:
        for node in sel.selections:
            if not self._included(node):
                continue
            if isinstance(node, ast.FieldNode):
                yield node
            elif isinstance(node, ast.FragmentSpreadNode):
                yield from self._fields(self.fragments[node.name.value].selection_set)
            else:
                yield from self._fields(node.selection_set)

    def __call__(self, value: Any, sel: ast.SelectionSetNode | None) -> Any:
        if sel is None or value is None:
            return value
        if isinstance(value, list):
            return [self(v, sel) for v in value]
        out: Json = {}
        for f in self._fields(sel):
            if f.name.value not in value:
                log.warning("W&B fake: field %r is not emulated (null)", f.name.value)
            out[f.alias.value if f.alias else f.name.value] = self(value.get(f.name.value), f.selection_set)
        return out


class WandbServer:
    """W&B GraphQL API fake on 127.0.0.1 (random free port), served from a daemon thread."""

    def __init__(self, api_key: str = DEFAULT_API_KEY, default_entity: str = "airflow-tests") -> None:
        self.api_key = api_key
        self.default_entity = default_entity
        self.base_url = ""
        self.requests: list[Json] = []
        self._lock = threading.RLock()
        self._faults: list[list[Any]] = []  # [operation, requests left, HTTP status, message]
        self._lost: list[str] = []  # operations whose next answer is lost after they ran
        self._runs: dict[tuple[str, str, str], Json] = {}
        self._versions: dict[tuple[str, str, str], list[Json]] = {}  # (entity, project, name) -> versions
        self._aliases: dict[tuple[str, str, str], dict[str, int]] = {}  # alias -> version index
        self._files = ArtifactFiles()
        self._httpd: _HTTPServer | None = None
        self._handlers: dict[str, Callable[[Json], Json]] = {
            "Viewer": self._viewer,
            "GetViewer": self._viewer,
            "GetDefaultEntity": self._viewer,
            "ServerFeaturesQuery": lambda _v: {"serverInfo": {"features": []}},
            "Run": self._run_query,
            "RunState": self._run_query,
            "AirflowRunState": self._run_query,
            "AirflowRunResult": self._run_query,
            "AirflowRunsState": self._runs_query,
            "RunOutputArtifacts": self._run_query,
            "ArtifactMembershipByName": self._membership_query,
            "FetchArtifactManifest": self._artifact_by_id,
            "ArtifactByID": self._artifact_by_id,
        }
        self.versions = ArtifactVersions(self)  # artifact versions/aliases, read-scripted changes
        self._handlers.update(self.versions.handlers())
        self.queues = LaunchQueues(self)  # W&B Launch run queues and a scripted agent
        self._handlers.update(self.queues.handlers(self._handlers))
        self.run_updates = RunUpdates(self)  # UpsertBucket: summary and tag updates from the SDK
        self._handlers.update(self.run_updates.handlers())

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> WandbServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _make_handler(self))
        self.base_url = f"http://127.0.0.1:{self._httpd.server_port}"
        serve = self._httpd.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.05}, name="wandb-fake", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> WandbServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- state -----------------------------------------------------------------------------------

    def add_run(
        self,
        entity: str,
        project: str,
        run_id: str,
        *,
        state: str = "finished",
        summary: dict | None = None,
        config: dict | None = None,
        name: str | None = None,
        group: str | None = None,
        tags: Iterable[str] = (),
        logged_artifacts: Iterable[dict] = (),
    ) -> None:
        """Store a run; each logged artifact becomes the next version of its collection."""
        with self._lock:
            arts = [self._add_artifact(entity, project, run_id, a) for a in logged_artifacts]
            self._runs[(entity, project, run_id)] = {
                "entity": entity,
                "project": project,
                "run_id": run_id,
                "state": state,
                "summary": dict(summary or {}),
                "config": dict(config or {}),
                "name": name or run_id,
                "group": group,
                "tags": list(tags),
                "created_at": _now(),
                "logged_artifacts": arts,  # ["model:v0", ...]
            }

    def add_job(
        self,
        entity: str,
        project: str,
        name: str,
        *,
        source_type: str = "image",
        image: str = "ghcr.io/acme/train:1.0",
        entrypoint: list[str] | None = None,
        aliases: Iterable[str] = ("latest",),
    ) -> str:
        """Store the next version of a W&B job artifact (one file, ``wandb-job.json``); return ``e/p/name:vN``.

        :param source_type: ``image``, ``artifact`` (code artifact) or ``repo`` (git), as W&B jobs have.
        :param aliases: aliases of the new version; like W&B, ``latest`` always moves to it.
        """
        spec = job_spec(source_type, image=image, entrypoint=entrypoint)
        files = {JOB_FILE: json.dumps(spec, indent=4).encode()}
        with self._lock:
            ref = self._add_artifact(entity, project, None, {"name": name, "type": "job", "aliases": aliases}, files)
        return f"{entity}/{project}/{ref}"

    def _add_artifact(
        self, entity: str, project: str, run_id: str | None, spec: dict, files: dict[str, bytes] | None = None
    ) -> str:
        key = (entity, project, spec["name"])
        versions = self._versions.setdefault(key, [])
        index = len(versions)
        artifact_id = _gid("Artifact", f"{entity}/{project}/{spec['name']}:v{index}")
        manifest, size = self._files.manifest(artifact_id, files or {})
        versions.append(
            {
                "type": spec.get("type", "model"),
                "run_id": run_id,
                "created_at": _now(),
                "manifest": manifest,
                "file_count": len(files or {}),
                "size": size,
                "metadata": dict(spec.get("metadata") or {}),
            }
        )
        aliases = self._aliases.setdefault(key, {})
        for alias in {"latest", *spec.get("aliases", ())}:
            aliases[alias] = index
        return f"{spec['name']}:v{index}"

    def set_run_state(self, entity: str, project: str, run_id: str, state: str) -> None:
        """Change a stored run's state (KeyError if there is no such run)."""
        with self._lock:
            self._runs[(entity, project, run_id)]["state"] = state

    def run(self, entity: str, project: str, run_id: str) -> dict | None:
        """A copy of the stored run record, or None."""
        with self._lock:
            return copy.deepcopy(self._runs.get((entity, project, run_id)))

    def operations(self) -> list[str]:
        with self._lock:
            return [r["operation"] for r in self.requests]

    def fail_next(self, operation: str, times: int = 1, status: int = 500, message: str | None = None) -> None:
        """Answer the next ``times`` requests of ``operation`` with an error instead of running its handler.

        :param status: the HTTP status (500: a server error); 200 answers a GraphQL error (``data: null``).
        :param message: the error's message.
        """
        with self._lock:
            self._faults.append([operation, times, status, message or f"W&B fake: injected {status} for {operation}"])

    def lose_next(self, operation: str, times: int = 1) -> None:
        """Run the next ``times`` requests of ``operation`` for real, then answer HTTP 500: the call took effect
        but its caller never learns it (a worker killed with the call in flight)."""
        with self._lock:
            self._lost.extend([operation] * times)

    def clear_faults(self) -> None:
        """Drop the faults not served yet."""
        with self._lock:
            self._faults.clear()
            self._lost.clear()

    def _fault(self, operation: str) -> tuple[int, Json] | None:
        """The injected answer for this request of ``operation``, if one is due (under the lock)."""
        fault = next((f for f in self._faults if f[0] == operation), None)
        if fault is None:
            return None
        fault[1] -= 1
        if fault[1] <= 0:
            self._faults.remove(fault)
        return fault[2], {"data": None, "errors": [{"message": fault[3]}]}

    # --- GraphQL nodes ---------------------------------------------------------------------------

    def _viewer(self, _vars: Json) -> Json:
        user = {
            "id": _gid("User", "airflow"),
            "name": "Airflow Tests",
            "username": "airflow",
            "email": "airflow@example.com",
            "admin": False,
            "flags": "{}",
            "entity": self.default_entity,
            "deletedAt": None,
            "apiKeys": {"edges": []},
            "teams": {"edges": [{"node": {"name": self.default_entity}}]},
        }
        return {"viewer": user}

    def _project_node(self, entity: str, project: str) -> Json:
        return {
            "__typename": "Project",
            "id": _gid("Project", f"{entity}/{project}"),
            "internalId": str(int(_digest(entity, project)[:6], 16)),
            "name": project,
            "entity": {"name": entity},
        }

    def _run_query(self, v: Json) -> Json:
        """Every ``project(...) { run(...) { ... } }`` query: the run node carries all fields."""
        rec = self._runs.get((v["entity"], v["project"], v.get("name") or v.get("run")))
        return {"project": {"run": self._run_node(rec, v) if rec else None}}

    def _runs_query(self, v: Json) -> Json:
        """``project { runs(filters, first, after) }``: the filter W&B's run table takes, ``{"name": {"$in": [...]}}``
        (run ids) or ``{"name": "<id>"}``; pages of ``first``, the cursor being the index of the next run."""
        wanted = json.loads(v.get("filters") or "{}").get("name")
        ids = set(wanted["$in"]) if isinstance(wanted, dict) else None if wanted is None else {wanted}
        recs = [
            rec
            for (entity, project, run_id), rec in sorted(self._runs.items())
            if (entity, project) == (v["entity"], v["project"]) and (ids is None or run_id in ids)
        ]
        start = int(v.get("cursor") or 0)
        page = recs[start : start + (v.get("first") or 50)]
        end = start + len(page)
        return {
            "project": {
                "runs": {
                    "pageInfo": {"endCursor": str(end), "hasNextPage": end < len(recs)},
                    "edges": [
                        {"node": self._run_node(rec, {}), "cursor": str(start + i + 1)} for i, rec in enumerate(page)
                    ],
                }
            }
        }

    def _run_node(self, rec: Json, v: Json) -> Json:
        project = self._project_node(rec["entity"], rec["project"])
        arts = [self._artifact_node(rec["entity"], rec["project"], ref) for ref in rec["logged_artifacts"]]
        start = int(v.get("cursor") or 0)
        page = arts[start : start + (v.get("perPage") or 50)]
        connection = {
            "totalCount": len(arts),
            "pageInfo": {
                "__typename": "PageInfo",
                "endCursor": str(start + len(page)),
                "hasNextPage": start + len(page) < len(arts),
            },
            "edges": [{"node": n, "cursor": str(start + i + 1)} for i, n in enumerate(page)],
        }
        return {
            "__typename": "Run",
            "id": _gid("Run", f"{rec['entity']}/{rec['project']}/{rec['run_id']}"),
            "projectId": project["internalId"],
            "name": rec["run_id"],
            "displayName": rec["name"],
            "tags": rec["tags"],
            "group": rec["group"],
            "state": rec["state"],
            "config": json.dumps({k: {"value": val, "desc": None} for k, val in rec["config"].items()}),
            "summaryMetrics": json.dumps(rec["summary"]),
            "systemMetrics": "{}",
            **dict.fromkeys(("sweepName", "jobType", "commit", "description", "notes"), None),
            "readOnly": False,
            "createdAt": rec["created_at"],
            "heartbeatAt": rec["created_at"],
            "historyLineCount": 0,
            "historyKeys": {"keys": {}, "lastStep": 0},
            "user": {"name": "Airflow Tests", "username": "airflow"},
            "project": project,
            "outputArtifacts": connection,
            "inputArtifacts": {**connection, "totalCount": 0, "edges": []},
        }

    def _artifact_node(self, entity: str, project: str, ref: str) -> Json:
        name, _, number = ref.rpartition(":v")
        index = int(number)
        version = self._versions[entity, project, name][index]
        seq = {"__typename": "ArtifactSequence", "name": name, "project": self._project_node(entity, project)}
        moved = self._aliases[entity, project, name]
        aliases = [f"v{index}", *sorted(a for a, i in moved.items() if i == index)]
        return {
            "__typename": "Artifact",
            "id": _gid("Artifact", f"{entity}/{project}/{name}:v{index}"),
            "artifactSequence": seq,
            "versionIndex": index,
            "artifactType": {"name": version["type"]},
            **dict.fromkeys(("description", "historyStep", "commitHash"), None),
            "metadata": json.dumps(version.get("metadata") or {}),
            "ttlDurationSeconds": -1,
            "ttlIsInherited": True,
            "tags": [],
            "state": "COMMITTED",
            "size": version["size"],
            "digest": _digest(entity, project, name, index),
            "digestAlgorithm": "MANIFEST_MD5",
            "fileCount": version["file_count"],
            "currentManifest": {"file": {"directUrl": f"{self.base_url}{SIGNED_PREFIX}{version['manifest']}"}},
            "createdAt": version["created_at"],
            "updatedAt": version["created_at"],
            "aliases": [
                {
                    "__typename": "ArtifactAlias",
                    "id": _gid("ArtifactAlias", f"{entity}/{project}/{name}:{a}"),
                    "alias": a,
                    "artifactCollection": seq,
                }
                for a in aliases
            ],
        }

    def _membership_query(self, v: Json) -> Json:
        """``project { artifactCollectionMembership(name: "name:alias") }``: null project if it has nothing."""
        entity, project = v["entity"], v["project"]
        name, _, alias = v["name"].partition(":")
        if not any(k[:2] == (entity, project) for k in (*self._versions, *self._runs)):
            return {"project": None}
        versions = self._versions.get((entity, project, name), [])
        aliases = self._aliases.get((entity, project, name), {})
        number = alias[1:] if alias[:1] == "v" and alias[1:].isdigit() else None
        index = int(number) if number is not None and int(number) < len(versions) else aliases.get(alias or "latest")
        membership = None
        if index is not None:
            node = self._artifact_node(entity, project, f"{name}:v{index}")
            membership = {
                "__typename": "ArtifactCollectionMembership",
                "id": _gid("ArtifactCollectionMembership", node["id"]),
                "versionIndex": index,
                "createdAt": node["createdAt"],
                "aliases": node["aliases"],
                "artifactCollection": node["artifactSequence"],
                "artifact": node,
            }
        return {"project": {**self._project_node(entity, project), "artifactCollectionMembership": membership}}

    def _artifact_by_id(self, v: Json) -> Json:
        """``artifact(id: ...)``: the ids are ``_gid("Artifact", "entity/project/name:vN")``."""
        try:
            entity, project, ref = base64.b64decode(v["id"]).decode().removeprefix("Artifact:").split("/")
            node = self._artifact_node(entity, project, ref)
        except (ValueError, KeyError, IndexError):
            node = None
        return {"artifact": node}

    def download(self, path: str, auth: tuple[str | None, str | None]) -> tuple[int, bytes]:
        """Record one HTTP GET of an artifact file or manifest, and answer it: (HTTP status, body)."""
        with self._lock:
            self.requests.append({"operation": "GET", "path": path, "auth_user": auth[0], "auth_key": auth[1]})
        digest, needs_auth = self._files.route(path)
        if digest is None:
            log.error("W&B fake: UNKNOWN GET %s", path)
            return 404, b"W&B fake: not emulated"
        if needs_auth and auth != ("api", self.api_key):
            return 401, b"user is not logged in"
        data = self._files.blobs.get(digest)
        return (200, data) if data is not None else (404, b"no such file")

    # --- request handling ------------------------------------------------------------------------

    def handle(self, body: Json, auth: tuple[str | None, str | None]) -> tuple[int, Json]:
        """Record one GraphQL request, check its key, and answer it: (HTTP status, JSON body)."""
        doc, op, error = _parse(body)
        name = op.name.value if op and op.name else body.get("operationName") or ""
        variables = body.get("variables") or {}
        with self._lock:
            self.requests.append({"operation": name, "variables": variables, "auth_user": auth[0], "auth_key": auth[1]})
            fault = self._fault(name)
        if fault is not None:
            return fault
        if auth != ("api", self.api_key):
            return 401, {"errors": [{"message": "user is not logged in"}]}
        if doc is None or op is None:
            return 200, {"data": None, "errors": [{"message": error}]}
        handler = self._handlers.get(name)
        if handler is None:
            log.error("W&B fake: UNKNOWN GraphQL operation %r; query:\n%s", name, body.get("query"))
            return 200, {"data": None, "errors": [{"message": f"W&B fake: {name!r} is not emulated"}]}
        variables = {**_defaults(op), **variables}
        try:
            with self._lock:
                data = handler(variables)
        except Exception as e:  # a gap in the fake: make it loud, but answer
            log.exception("W&B fake: %s failed on variables %s", name, variables)
            return 200, {"data": None, "errors": [{"message": f"W&B fake: {name} failed: {e!r}"}]}
        with self._lock:
            if name in self._lost:
                self._lost.remove(name)
                return 500, {"errors": [{"message": f"W&B fake: the answer to {name} was lost"}]}
        return 200, {"data": _Select(doc, variables)(data, op.selection_set)}


def _parse(body: Json) -> tuple[ast.DocumentNode | None, ast.OperationDefinitionNode | None, str]:
    """The document and the operation to run (by ``operationName``, else the first), or an error."""
    try:
        doc = parse(body.get("query") or "")
    except GraphQLError as e:
        return None, None, f"cannot parse the query: {e.message}"
    ops = [d for d in doc.definitions if isinstance(d, ast.OperationDefinitionNode)]
    name = body.get("operationName")
    op = next((o for o in ops if name and o.name and o.name.value == name), ops[0] if ops else None)
    return doc, op, "" if op else "no operation in the query"


def _defaults(op: ast.OperationDefinitionNode) -> Json:
    return {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in op.variable_definitions or ()
        if d.default_value is not None
    }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops bursts of concurrent connects (1 s SYN retry)


def _make_handler(server: WandbServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("W&B fake: " + format, *args)

        def _reply(self, status: int, payload: Json | bytes) -> None:
            binary = isinstance(payload, bytes)
            data = payload if binary else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if binary else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            if self.path.split("?")[0].rstrip("/") != "/graphql":  # e.g. wandb-core's /sdk/otel/v1/metrics
                return self._reply(200, {})
            try:
                body = json.loads(raw)
            except ValueError:
                return self._reply(400, {"errors": [{"message": "body is not JSON"}]})
            self._reply(*server.handle(body, _basic_auth(self.headers.get("Authorization"))))

        def do_GET(self) -> None:
            self._reply(*server.download(self.path, _basic_auth(self.headers.get("Authorization"))))

    return Handler


def _basic_auth(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        user, _, key = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None, None
    return user, key
