"""A Vertex AI JobService (CustomJob) and Cloud Logging (``entries.list``) REST fake on loopback.

Speaks the wire format of ``aiplatform_v1`` clients built with ``transport="rest"`` or
``"rest_asyncio"`` and ``client_options={"api_endpoint": emulator.endpoint}``: camelCase JSON,
enums as ints, int64 as strings, errors as ``{"error": {"code", "message", "status"}}``.
Each GET of a job advances its scripted ``Lifecycle`` by one read. A list (``filter`` on labels, state, display
name or create_time, terms joined by AND; ``pageSize``/``pageToken``) is a read of each job on the page it
returns: those lifecycles advance one step, as a GET would (``get_count`` counts GETs only).
``set_state`` / ``finish_all`` end jobs at once; ``meter`` counts requests per RPC and reads per job.
``faults.inject(..., method=...)`` takes the HTTP method (``"GET"``: gets and lists alike) or the RPC
(``"ListCustomJobs"``); ``denied`` holds RPCs answered 403 PERMISSION_DENIED until removed (an IAM role
without that permission)::

    with VertexEmulator() as vertex:
        vertex.script(Lifecycle(("JOB_STATE_RUNNING", 2), ("JOB_STATE_FAILED", None, {"error": {...}})))
        vertex.faults.inject(503)
        vertex.denied.add("ListCustomJobs")

It also serves Cloud Logging's ``POST /v2/entries:list`` (the ``google-cloud-logging`` client over HTTP, with
``client_options={"api_endpoint": emulator.endpoint}``) as RPC ``ListLogEntries``: ``write_logs`` appends a
job's entries as Vertex writes them (``resource.type="ml_job"``, labels ``job_id``, ``project_id``,
``task_name``; RFC 3339 times with nanoseconds), listed by time then insertId, ``pageSize`` (at most 1000) at a
time. The filter may hold ``resource.type``, ``resource.labels.*`` and ``timestamp`` comparisons joined by AND,
each alone or a parenthesized OR of them (anything else is a 400 INVALID_ARGUMENT, as a filter the real API cannot
parse); ``log_queries`` keeps each
request's body::

    vertex.write_logs(job_name, ["epoch 1", "epoch 2"], task="workerpool0-1")
    vertex.denied.add("ListLogEntries")
"""

from __future__ import annotations

import itertools
import json
import operator
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.emulators.lifecycle import Faults, Lifecycle, Step
from tests.emulators.metering import Meter

# google.cloud.aiplatform_v1.types.JobState, kept here so the fake does not import the SDK.
JOB_STATES = {
    "JOB_STATE_UNSPECIFIED": 0,
    "JOB_STATE_QUEUED": 1,
    "JOB_STATE_PENDING": 2,
    "JOB_STATE_RUNNING": 3,
    "JOB_STATE_SUCCEEDED": 4,
    "JOB_STATE_FAILED": 5,
    "JOB_STATE_CANCELLING": 6,
    "JOB_STATE_CANCELLED": 7,
    "JOB_STATE_PAUSED": 8,
    "JOB_STATE_EXPIRED": 9,
    "JOB_STATE_UPDATING": 10,
    "JOB_STATE_PARTIALLY_SUCCEEDED": 11,
}
TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}
#: a failed CustomJob's ``error`` when the zone had no machines (a stockout), as Vertex words it: code 8,
#: RESOURCE_EXHAUSTED.
STOCKOUT_ERROR = {
    "code": 8,
    "message": (
        "The zone 'us-central1-a' does not have enough resources available to fulfill the request. "
        "'(resource type:compute)'."
    ),
}
#: ... when the project's quota for the accelerators is spent.
QUOTA_ERROR = {
    "code": 8,
    "message": (
        "The following quota metrics exceed quota limits: "
        "aiplatform.googleapis.com/custom_model_training_nvidia_a100_gpus"
    ),
}
#: ... when the training code failed (the job's own failure: never fallen back from).
USER_CODE_ERROR = {"code": 3, "message": "The replica workerpool0-0 exited with a non-zero status of 1."}


def stockout(pending_reads: int = 1) -> Lifecycle:
    """A CustomJob pending for ``pending_reads`` reads, then failed with :data:`STOCKOUT_ERROR`."""
    return Lifecycle(("JOB_STATE_PENDING", pending_reads), ("JOB_STATE_FAILED", None, {"error": dict(STOCKOUT_ERROR)}))


# HTTP status -> google.rpc.Code name, as Google's REST front end reports it.
RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_COLLECTION = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+)/customJobs$")
_JOB = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/customJobs/\d+)(:cancel)?$")
# One term of a list filter (AIP-160, the subset Vertex users write): labels.k="v", labels.k:*, state=...,
# create_time>"2021-05-18T00:00:00Z", ...
_TERM = re.compile(
    r'^(labels\.[\w-]+|state|display_name|displayName|create_time|createTime)\s*(>=|<=|!=|=|>|<|:)\s*("[^"]*"|[\w*-]+)$'
)
#: create_time's comparisons
_COMPARE = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
LIST_PAGE_SIZE = 100
_ENTRIES = "/v2/entries:list"
# One term of a Cloud Logging filter (the subset our reader and Vertex's console write).
_LOG_TERM = re.compile(r'^(resource\.type|resource\.labels\.\w+|timestamp)\s*(>=|<=|=|>|<)\s*"([^"]*)"$')
#: entries.list's default and largest pageSize.
LOG_PAGE_SIZE, MAX_LOG_PAGE_SIZE = 50, 1000


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _timestamp(text: str) -> datetime:
    """An RFC 3339 time of a filter or a job; a 400 for anything else."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(400, f"create_time must be in RFC 3339 format, got {text!r}.")
    return moment


def _matches(resource: dict[str, Any], filter_: str) -> bool:
    """Whether a job matches a ListCustomJobs ``filter`` (terms joined by AND; anything else is a 400)."""
    for term in filter(None, (t.strip() for t in re.split(r"\s+AND\s+", filter_.strip()))):
        m = _TERM.match(term)
        if m is None:
            raise ApiError(
                400, f"Unsupported filter term {term!r} (the emulator serves labels, state, display_name, create_time)."
            )
        key, op, value = m[1], m[2], m[3].strip('"')
        if key in ("create_time", "createTime"):
            if op == ":":
                raise ApiError(400, "create_time supports =, !=, <, <=, >, >= comparisons.")
            if not _COMPARE[op](_timestamp(resource["createTime"]), _timestamp(value)):
                return False
            continue
        if op not in ("=", "!=", ":"):
            raise ApiError(400, f"{key} supports =, != and : only.")
        if key.startswith("labels."):
            actual = (resource.get("labels") or {}).get(key[len("labels.") :])
        elif key == "state":
            actual = next((n for n, v in JOB_STATES.items() if v == resource.get("state")), None)
        else:
            actual = resource.get("displayName")
        hit = actual is not None if op == ":" and value == "*" else actual == value
        if hit == (op == "!="):
            return False
    return True


def _rfc3339_nanos(epoch_ns: int) -> str:
    """Epoch nanoseconds as Cloud Logging writes a time: UTC, nine fractional digits, ``Z``."""
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def _epoch_ns(text: str) -> int:
    """An RFC 3339 time of a filter or an entry as epoch nanoseconds; a 400 for anything else."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$", text)
    if m is None:
        raise ApiError(400, f"Invalid timestamp {text!r} in the filter.")
    base = datetime.fromisoformat(m[1] + ("+00:00" if m[3] == "Z" else m[3]))
    return int(base.timestamp()) * 1_000_000_000 + int((m[2] or "").ljust(9, "0"))


def _log_filter(filter_: str) -> list[list[tuple[str, str, Any]]]:
    """An entries.list ``filter`` as AND-ed groups, each one term or a parenthesized OR of terms
    (``(resource.labels.job_id="1" OR resource.labels.job_id="2")``), a term (key, comparison, value); a 400 for
    anything else."""
    groups = []
    for group in filter(None, (t.strip() for t in re.split(r"\s+AND\s+", filter_.strip()))):
        inner = group[1:-1] if group.startswith("(") and group.endswith(")") else group
        alternatives = [t.strip() for t in re.split(r"\s+OR\s+", inner)]
        if len(alternatives) > 1 and inner is group:
            raise ApiError(400, f"OR terms must be parenthesized: {group!r}.")
        terms = []
        for term in alternatives:
            m = _LOG_TERM.match(term)
            if m is None:
                raise ApiError(400, f"Unparseable filter term {term!r}.")
            key, op, value = m[1], m[2], m[3]
            if key != "timestamp" and op != "=":
                raise ApiError(400, f"{key} supports = only in the emulator.")
            terms.append((key, op, _epoch_ns(value) if key == "timestamp" else value))
        groups.append(terms)
    return groups


def _entry_matches(entry: dict[str, Any], groups: list[list[tuple[str, str, Any]]]) -> bool:
    resource = entry.get("resource") or {}

    def holds(key: str, op: str, value: Any) -> bool:
        if key == "timestamp":
            actual = _epoch_ns(entry["timestamp"])
        elif key == "resource.type":
            actual = resource.get("type")
        else:
            actual = (resource.get("labels") or {}).get(key.removeprefix("resource.labels."))
        return actual is not None and _COMPARE[op](actual, value)

    return all(any(holds(*term) for term in terms) for terms in groups)


def _fresh(lifecycle: Lifecycle) -> Lifecycle:
    """An unread copy of ``lifecycle`` (a Lifecycle holds read state and a lock)."""
    return Lifecycle(*(Step(s.state, s.reads, dict(s.fields)) for s in lifecycle._steps))


class ApiError(Exception):
    """Answered as a google.rpc.Status JSON body."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status or RPC_STATUS.get(code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class _Job:
    def __init__(self, name: str, request: dict[str, Any], lifecycle: Lifecycle) -> None:
        self.name, self.request, self.lifecycle = name, request, lifecycle
        self.gets = 0
        now = _now()
        self.resource: dict[str, Any] = {**request, "name": name, "createTime": now, "updateTime": now}
        self._apply(lifecycle.current)

    def _apply(self, step: Step) -> None:
        state = step.state
        previous = self.resource.get("state")
        self.resource.update(step.fields)
        self.resource["state"] = JOB_STATES[state]
        if previous != JOB_STATES[state]:
            self.resource["updateTime"] = _now()
        if state == "JOB_STATE_RUNNING":
            self.resource.setdefault("startTime", _now())
        if state in TERMINAL:
            self.resource.setdefault("endTime", _now())
        if state == "JOB_STATE_FAILED":
            self.resource.setdefault("error", {"code": 13, "message": "Job failed."})

    def read(self, *, get: bool = True) -> dict[str, Any]:
        """Advance the lifecycle one read and return the job as Vertex would (``get``: count a GET)."""
        if get:
            self.gets += 1
        self._apply(self.lifecycle.read())
        return self.resource

    def peek(self) -> dict[str, Any]:
        """The job at its lifecycle's current step, as a list's filter sees it (no read)."""
        self._apply(self.lifecycle.current)
        return self.resource


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default 5 drops bursts of concurrent connects (a 1 s SYN retry each)


class VertexEmulator:
    """A loopback Vertex AI JobService serving scripted CustomJob lifecycles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1_000_000_000_000_000_001)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""
        #: called with (job name, the first worker pool's container env) when a job is created.
        self.on_create: list[Callable[[str, dict[str, str]], None]] = []
        self.reset()

    # -- lifecycle of the server ------------------------------------------------
    def start(self) -> VertexEmulator:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="vertex", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> VertexEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection -----------------------------------------------
    def reset(self) -> None:
        """Forget jobs, scripts, calls and faults; restore the default lifecycle."""
        with self._lock:
            self.default_lifecycle = Lifecycle(("JOB_STATE_QUEUED", 1), ("JOB_STATE_RUNNING", 1), "JOB_STATE_SUCCEEDED")
            self.faults = Faults()
            #: RPCs (``"ListCustomJobs"``...) answered 403 PERMISSION_DENIED, before any fault.
            self.denied: set[str] = set()
            self._jobs: dict[str, _Job] = {}
            self._scripts: list[tuple[str | None, Lifecycle]] = []
            self._cancels: list[str] = []
            self.calls: list[tuple[str, str]] = []  # (method, path with query), as received
            self.meter = Meter()
            self.on_create.clear()
            self._entries: list[dict[str, Any]] = []
            self._insert_ids = itertools.count(1)
            self._log_clock = 0
            #: the body of each ListLogEntries request, as received.
            self.log_queries: list[dict[str, Any]] = []

    def script(self, lifecycle: Lifecycle, display_name: str | None = None) -> Lifecycle:
        """Use ``lifecycle`` for the next job created with ``display_name`` (``None``: any)."""
        with self._lock:
            self._scripts.append((display_name, lifecycle))
        return lifecycle

    def lifecycle(self, name: str) -> Lifecycle:
        return self._jobs[name].lifecycle

    def job_names(self) -> list[str]:
        return list(self._jobs)

    def create_request(self, name: str) -> dict[str, Any]:
        return self._jobs[name].request

    def cancel_calls(self) -> list[str]:
        return list(self._cancels)

    def get_count(self, name: str) -> int:
        """GetCustomJob calls of job ``name`` (a list's reads are in ``meter.reads``)."""
        return self._jobs[name].gets

    def set_state(self, name: str, state: str = "JOB_STATE_SUCCEEDED", **fields: Any) -> None:
        """Report ``state`` (``fields`` merged into the job, e.g. ``error``) for job ``name`` from now on."""
        with self._lock:
            self._job(name).lifecycle = Lifecycle(Step(state, None, dict(fields)))

    def finish_all(self, state: str = "JOB_STATE_SUCCEEDED", **fields: Any) -> int:
        """``set_state`` every job created so far; returns how many."""
        for name in self.job_names():
            self.set_state(name, state, **fields)
        return len(self._jobs)

    def write_logs(
        self,
        job: str,
        messages: list[str | dict[str, Any]],
        task: str = "workerpool0-0",
        at: int | list[int] | None = None,
    ) -> list[dict[str, Any]]:
        """Append ``messages`` to Cloud Logging as replica ``task`` of ``job`` wrote them; returns the entries.

        :param job: the CustomJob's resource name, or its numeric id (of a job created here).
        :param messages: each an entry: a string is its ``textPayload``, a dict its ``jsonPayload``.
        :param task: the replica (``workerpool0-0``...; ``service`` for Vertex's own messages).
        :param at: the entries' time in epoch nanoseconds: one for all of them (they share it), or one each
            (default: now, a microsecond apart, after every entry written so far).
        """
        with self._lock:
            name = job if "/" in job else next((n for n in self._jobs if n.endswith(f"/customJobs/{job}")), "")
            project, job_id = name.split("/")[1] if name else "", job.rpartition("/")[2]
            if not project:
                raise KeyError(f"no CustomJob {job!r} to write logs for")
            if at is None:
                first = max(time.time_ns(), self._log_clock + 1000)
                times = [first + 1000 * i for i in range(len(messages))]
            else:
                times = list(at) if isinstance(at, list) else [at] * len(messages)
            written = []
            for message, epoch_ns in zip(messages, times, strict=True):
                payload = {"jsonPayload": message} if isinstance(message, dict) else {"textPayload": message}
                entry = {
                    "insertId": f"{next(self._insert_ids):012x}",
                    **payload,
                    "resource": {
                        "type": "ml_job",
                        "labels": {"job_id": job_id, "project_id": project, "task_name": task},
                    },
                    "timestamp": _rfc3339_nanos(epoch_ns),
                    "severity": "INFO",
                    "labels": {"ml.googleapis.com/endpoint": ""},
                    "logName": f"projects/{project}/logs/{task}",
                    "receiveTimestamp": _rfc3339_nanos(max(time.time_ns(), epoch_ns)),
                }
                self._log_clock = max(self._log_clock, epoch_ns)
                self._entries.append(entry)
                written.append(entry)
            self._entries.sort(key=lambda e: (_epoch_ns(e["timestamp"]), e["insertId"]))
            return written

    # -- the API ------------------------------------------------------------------
    def _take_script(self, display_name: str | None) -> Lifecycle:
        for wanted in (display_name, None):
            for i, (key, lifecycle) in enumerate(self._scripts):
                if key == wanted:
                    del self._scripts[i]
                    return lifecycle
        return _fresh(self.default_lifecycle)

    def _job(self, name: str) -> _Job:
        if name not in self._jobs:
            raise ApiError(404, f'The CustomJob "{name}" does not exist.')
        return self._jobs[name]

    def create(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("displayName"):
            raise ApiError(400, "CustomJob.display_name is required.")
        if not body.get("jobSpec", {}).get("workerPoolSpecs"):
            raise ApiError(400, "CustomJob.job_spec.worker_pool_specs is required.")
        with self._lock:
            name = f"{parent}/customJobs/{next(self._ids)}"
            job = self._jobs[name] = _Job(name, body, self._take_script(body["displayName"]))
            created = dict(job.resource)
        container = body["jobSpec"]["workerPoolSpecs"][0].get("containerSpec") or {}
        env = {item["name"]: item.get("value", "") for item in container.get("env") or []}
        for callback in list(self.on_create):
            callback(name, env)
        return created

    def get(self, name: str) -> dict[str, Any]:
        with self._lock:
            job = dict(self._job(name).read())
        self.meter.read(name)
        return job

    def cancel(self, name: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(name)
            self._cancels.append(name)
            state = job.lifecycle.current.state
            if state in TERMINAL:
                message = f"Cannot cancel CustomJob {name} in state {state}."
                raise ApiError(400, message, "FAILED_PRECONDITION")
            if state != "JOB_STATE_CANCELLING":
                job.lifecycle.stop(
                    "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED", error={"code": 1, "message": "CANCELED"}
                )
            return {}

    def list_jobs(self, parent: str, filter_: str = "", page_size: int = 0, page_token: str = "") -> dict[str, Any]:
        """ListCustomJobs: jobs under ``parent`` matching ``filter_``, a page at a time (token: the next index).

        The filter sees each job's current step; each job on the page is then read (its lifecycle advances).
        """
        start = int(page_token) if page_token.isdigit() else 0
        size = page_size if 0 < page_size <= LIST_PAGE_SIZE else LIST_PAGE_SIZE
        with self._lock:
            jobs = [j for n, j in self._jobs.items() if n.startswith(parent + "/")]
            matching = [j for j in jobs if _matches(j.peek(), filter_)] if filter_ else jobs
            page = [dict(j.read(get=False)) for j in matching[start : start + size]]
        self.meter.read(*(job["name"] for job in page))
        out: dict[str, Any] = {"customJobs": page} if page else {}
        if start + size < len(matching):
            out["nextPageToken"] = str(start + size)
        return out

    def list_log_entries(self, body: dict[str, Any]) -> dict[str, Any]:
        """entries.list: the entries of ``resourceNames``' projects matching ``filter``, by time (then insertId),
        ``pageSize`` at a time (token: the next index)."""
        self.log_queries.append(dict(body))
        names = body.get("resourceNames") or []
        if not names or not all(re.fullmatch(r"projects/[^/]+", n) for n in names):
            raise ApiError(400, f"resourceNames must be projects/PROJECT_ID, got {names!r}.")
        order = body.get("orderBy") or "timestamp asc"
        if order not in ("timestamp asc", "timestamp desc"):
            raise ApiError(400, f"Invalid orderBy {order!r}.")
        size = int(body.get("pageSize") or LOG_PAGE_SIZE)
        if not 0 < size <= MAX_LOG_PAGE_SIZE:
            raise ApiError(400, f"pageSize must be at most {MAX_LOG_PAGE_SIZE}.")
        token = str(body.get("pageToken") or "")
        start = int(token) if token.isdigit() else 0
        projects = {n.partition("/")[2] for n in names}
        with self._lock:
            entries = [e for e in self._entries if e["resource"]["labels"]["project_id"] in projects]
        terms = _log_filter(body.get("filter") or "")
        matching = [e for e in entries if _entry_matches(e, terms)]
        if order == "timestamp desc":
            matching.reverse()
        out: dict[str, Any] = {"entries": [dict(e) for e in matching[start : start + size]]}
        if not out["entries"]:
            del out["entries"]
        if start + size < len(matching):
            out["nextPageToken"] = str(start + size)
        return out

    def route(self, method: str, path: str, body: dict[str, Any], query: str = "") -> dict[str, Any]:
        if path == _ENTRIES and method == "POST":
            return self.list_log_entries(body)
        if m := _COLLECTION.match(path):
            if method == "POST":
                return self.create(m[1], body)
            if method == "GET":
                params = {k: v[-1] for k, v in parse_qs(query).items()}
                size = params.get("pageSize") or params.get("page_size") or "0"
                token = params.get("pageToken") or params.get("page_token") or ""
                return self.list_jobs(m[1], params.get("filter", ""), int(size) if size.isdigit() else 0, token)
        elif m := _JOB.match(path):
            if method == "GET" and not m[2]:
                return self.get(m[1])
            if method == "POST" and m[2]:
                return self.cancel(m[1])
        raise ApiError(404, f"{method} {path} is not served by the Vertex emulator.")


def _operation(method: str, path: str) -> str:
    """The RPC a request calls (``GetCustomJob``..., ``ListLogEntries``), for ``meter``."""
    if path == _ENTRIES:
        return "ListLogEntries"
    if _COLLECTION.match(path):
        return {"POST": "CreateCustomJob", "GET": "ListCustomJobs"}.get(method, f"{method} customJobs")
    if m := _JOB.match(path):
        return "CancelCustomJob" if m[2] else {"GET": "GetCustomJob"}.get(method, f"{method} customJob")
    return f"{method} {path}"


def _handler(emulator: VertexEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            emulator.calls.append((self.command, self.path))
            path, _, query = self.path.partition("?")
            operation = _operation(self.command, path)
            emulator.meter.request(operation)
            status, payload = 200, {}
            if operation in emulator.denied:
                status, payload = 403, ApiError(403, f"Permission denied for {operation} on {path}.").body()
            elif fault := emulator.faults.take(self.command) or emulator.faults.take(operation):
                status, delay = fault
                time.sleep(delay)
                if status != 200:
                    payload = ApiError(status, f"Injected fault {status}.").body()
            if status == 200:
                try:
                    body = json.loads(raw) if raw else {}
                    payload = emulator.route(self.command, path, body, query)
                except ApiError as e:
                    status, payload = e.code, e.body()
                except json.JSONDecodeError as e:
                    status, payload = 400, ApiError(400, f"Invalid JSON payload: {e}").body()
                if status == 200 and (lost := emulator.faults.take_lost(operation)) is not None:
                    status, payload = lost, ApiError(lost, f"Injected fault {lost} (the call took effect).").body()
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                self.close_connection = True

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
