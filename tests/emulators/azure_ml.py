"""An Azure ML workspace REST fake on loopback, for the real ``azure.ai.ml.MLClient``.

Point the SDK at it with ``AZUREML_DEV_URL_MFE=emulator.base_url`` (read when ``MLClient`` is built)::

    with AzureMLEmulator() as aml:
        os.environ["AZUREML_DEV_URL_MFE"] = aml.base_url
        ml_client = MLClient(aml.credential(), aml.subscription_id, aml.resource_group, aml.workspace)

Served: PUT anonymous environment versions; PUT/GET command jobs (each GET reads the job's
``Lifecycle`` once); GET ``jobs`` (``jobs.list``: newest first, or oldest first with
``list_newest_first = False``; ``tag``, ``properties`` and ``jobType`` filters; pages of ``list_page_size``
(100), the next one via ``nextLink`` with an opaque ``$skip`` continuation token, as Azure pages; each job a
page returns is read once, as a GET reads it; ``deny_list = True`` answers 403 AuthorizationFailed);
POST ``jobs/{name}/cancel`` (202 + ``Location``, done on the second poll);
the workspace GET, discovery document and Run History run GET that ``MLClient`` uses to reach a
run's ``error`` (Azure keeps a failed job's error there, not on the job resource) and its ``logFiles``;
the log files themselves, as Azure Blob serves them by SAS URL (below); and, for
``ClientSecretCredential`` with ``authority=emulator.base_url`` (tls) and instance discovery off,
Entra's OpenID discovery document and the client-credentials token endpoint (``clients``).
Errors and injected ``Faults`` answer as Azure does: ``{"error": {"code": ..., "message": ...}}``.
``set_status`` / ``finish_all`` end jobs at once (``set_created`` backdates one); ``meter`` counts requests per
route (``job_get``, ``job_list``, ``run_get``, ``log_blob``, ``token``...) and reads per job (a get of it, or a list
page holding it).

A job's log files (what ``jobs.stream()`` prints): ``write_log(name, text, path="user_logs/std_log.txt")`` appends
raw text (a partial line too) to one of them. The run details GET lists the files written so far in ``logFiles``
(path -> a SAS URL back at the emulator, ``.../azureml/ExperimentRun/dcid.<name>/<path>?sv=...&sig=fake``), whose
GET answers as Azure Blob does: ``Range: bytes=a-b`` (or ``bytes=a-``) -> 206 with ``Content-Range``; a start past
the end -> 416 ``InvalidRange``; no Range -> 200 with the whole file; a file not written -> 404 ``BlobNotFound``
(Blob's errors: XML, with ``x-ms-error-code``). ``log_ranges`` records each GET's (job, path, Range header).
``deny_run_details = True`` answers the run GET 403 ``AuthorizationFailed``; ``deny_logs = True`` the file GETs
403 ``AuthorizationFailure``. ``log_faults`` (a ``Faults`` of their own, so that status reads never meet them)
answer those two routes instead; their ``method`` is the route name (``"run_get"``, ``"log_blob"``)::

    aml.write_log("job-1", "epoch 1\nepoch 2")  # "epoch 2" waits for its newline
    aml.log_faults.inject(500, method="log_blob")
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.emulators.lifecycle import Faults, Lifecycle, Step
from tests.emulators.metering import Meter
from tests.emulators.tls import self_signed_cert

TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
_RUN_HISTORY_FIELDS = ("error", "startTimeUtc", "endTimeUtc")
DEFAULT_ERROR = {"code": "UserError", "message": "Execution failed. User process exited with code 1."}
#: Run History's error of a job Azure ML could not give machines for the workspace's quota, as it words it.
QUOTA_ERROR = {
    "code": "QuotaExceeded",
    "message": (
        "Subscription 00000000-0000-0000-0000-000000000000 does not have enough quota for Standard_NC24ads_A100_v4. "
        "Currently available: 0, requested: 24. Please request a quota increase (QuotaExceeded)."
    ),
}
#: ... when the region had no VMs of the size.
ALLOCATION_ERROR = {
    "code": "AllocationFailed",
    "message": (
        "AllocationFailed: Allocation failed. We do not have sufficient capacity for the requested VM size in this "
        "region."
    ),
}
_FAULT_CODES = {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable"}
_WS = (
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)"
)
_ROUTES = [
    (name, method, re.compile(pattern + r"/?$", re.IGNORECASE))
    for name, method, pattern in [
        ("env_put", "PUT", _WS + r"/environments/(?P<env>[^/]+)/versions/(?P<ver>[^/]+)"),
        ("job_put", "PUT", _WS + r"/jobs/(?P<name>[^/]+)"),
        ("job_list", "GET", _WS + r"/jobs"),
        ("job_get", "GET", _WS + r"/jobs/(?P<name>[^/]+)"),
        ("job_cancel", "POST", _WS + r"/jobs/(?P<name>[^/]+)/cancel"),
        ("cancel_op", "GET", r"/operationResults/cancel/(?P<name>[^/]+)"),
        ("workspace", "GET", _WS),
        ("discovery", "GET", r"/discovery"),
        ("run_get", "GET", r"/history/v1\.0" + _WS + r"(?:/experiments/[^/]+)?/runs/(?P<name>[^/]+)(?:/details)?"),
        ("log_blob", "GET", r"/azureml/ExperimentRun/dcid\.(?P<name>[^/]+)/(?P<path>.+)"),
        ("openid_config", "GET", r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration"),
        ("token", "POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token"),
    ]
]
LIST_PAGE_SIZE = 100
#: the query of a log file's SAS URL (a read-only service SAS for one blob, as Run History hands them out).
SAS_QUERY = "sv=2021-08-06&sr=b&sig=fake"
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
_BLOB_ERROR_CODES = {
    403: "AuthorizationFailure",
    404: "BlobNotFound",
    416: "InvalidRange",
    500: "InternalError",
    503: "ServerBusy",
}


class FakeCredential:
    """A token credential that hands out a fixed bearer token and counts the calls."""

    def __init__(self, token: str = "fake-azure-token") -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default 5 drops bursts of concurrent connects (a 1 s SYN retry each)


class AzureMLEmulator:
    """One Azure ML workspace served on ``127.0.0.1``; jobs follow scripted lifecycles.

    A step's ``fields`` are merged into the job's ``properties``, except the Run History ones: ``error`` (a
    message or ``{"code", "message"}``), which a ``Failed`` run reports, and ``startTimeUtc`` / ``endTimeUtc``
    (ISO 8601), which override the times Run History reports (else: the first read running, the first ended).
    ``tls=True`` serves https with a throwaway certificate (``ca_file``, for ``REQUESTS_CA_BUNDLE``):
    MLClient refuses bearer tokens over http on its workspace and Run History clients.
    """

    def __init__(
        self,
        subscription_id: str = "00000000-0000-0000-0000-000000000000",
        resource_group: str = "rg-test",
        workspace: str = "ws-test",
        *,
        tls: bool = False,
    ) -> None:
        self.subscription_id, self.resource_group, self.workspace = subscription_id, resource_group, workspace
        self.base_url = ""
        self.tls = tls
        self.ca_file: str | None = None  # with tls: the self-signed certificate, for REQUESTS_CA_BUNDLE
        self.retry_after = 1  # seconds, sent with injected 429/503 answers
        self.list_page_size = LIST_PAGE_SIZE
        self.list_newest_first = True  # Azure ML's order is not documented: tests may flip it
        self.deny_list = False  # True: jobs.list answers 403 (a role without the list permission)
        self.deny_run_details = False  # True: the Run History run GET answers 403
        self.deny_logs = False  # True: the log files' SAS GETs answer 403 (AuthorizationFailure)
        self.faults = Faults()
        self.log_faults = Faults()  # served on run_get and log_blob only (``method`` is the route)
        #: called as ``callback(job_name, environment_variables)`` when a job is created (to play its container)
        self.on_create: list[Callable[[str, dict[str, str]], None]] = []
        #: client credentials the token endpoint accepts (``client_id -> secret``); tokens handed out
        self.clients: dict[str, str] = {"emulator-client": "emulator-secret"}
        self.tokens_issued: list[dict[str, str]] = []
        self._default = Lifecycle(("Queued", 1), ("Running", 1), "Completed")
        self._server: ThreadingHTTPServer | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._lock = threading.Lock()
        self.reset()

    @property
    def default_lifecycle(self) -> Lifecycle:
        """The script an unscripted job follows; each job gets its own fresh copy of it."""
        return self._default

    @default_lifecycle.setter
    def default_lifecycle(self, lifecycle: Lifecycle) -> None:
        self._default = lifecycle

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> AzureMLEmulator:
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        scheme = "http"
        if self.tls:
            scheme, context = "https", ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tmp = tempfile.TemporaryDirectory(prefix="azure-ml-emulator-")
            self.ca_file = self_signed_cert(self._tmp.name)
            context.load_cert_chain(self.ca_file, os.path.join(self._tmp.name, "key.pem"))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.base_url = f"{scheme}://127.0.0.1:{self._server.server_port}/"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True, name="azure-ml-emulator").start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> AzureMLEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget jobs, scripts, recorded calls, faults and ``on_create`` callbacks."""
        with self._lock:
            self._lifecycles: dict[str, Lifecycle] = {}
            self._scripted: dict[str, Lifecycle] = {}
            self._fifo: list[Lifecycle] = []
            self._requests: dict[str, dict[str, Any]] = {}
            self._envs: list[dict[str, Any]] = []
            self._cancels: list[str] = []
            self._gets: dict[str, int] = {}
            self._cancel_polls: dict[str, int] = {}
            self._times: dict[str, dict[str, str]] = {}  # job -> Run History startTimeUtc / endTimeUtc
            self._created: dict[str, str] = {}  # job -> systemData.createdAt
            self._logs: dict[str, dict[str, bytearray]] = {}  # job -> log file path -> its bytes
            self.log_ranges: list[tuple[str, str, str | None]] = []  # (job, path, Range header) of each file GET
            self.requests: list[tuple[str, str]] = []  # (method, path) of every request received
            self.authorizations: list[str] = []  # the Authorization header of every request
            self.meter = Meter()
        self.faults, self.log_faults = Faults(), Faults()
        self.list_page_size, self.list_newest_first, self.deny_list = LIST_PAGE_SIZE, True, False
        self.deny_run_details = self.deny_logs = False
        self.on_create.clear()
        self.tokens_issued.clear()

    def credential(self) -> FakeCredential:
        return FakeCredential()

    # -- scripting and inspection --------------------------------------------------------------
    def script(self, lifecycle: Lifecycle, name: str | None = None) -> Lifecycle:
        """Use ``lifecycle`` for job ``name``, or (``None``) for the next job created without a script."""
        with self._lock:
            if name is None:
                self._fifo.append(lifecycle)
            else:
                self._scripted[name] = lifecycle
        return lifecycle

    def lifecycle(self, name: str) -> Lifecycle:
        return self._lifecycles[name]

    def job_names(self) -> list[str]:
        return list(self._requests)

    def create_request(self, name: str) -> dict[str, Any]:
        """The job PUT body exactly as received."""
        return self._requests[name]

    def environment_requests(self) -> list[dict[str, Any]]:
        return list(self._envs)

    def cancel_calls(self) -> list[str]:
        return list(self._cancels)

    def get_count(self, name: str) -> int:
        return self._gets.get(name, 0)

    def set_status(self, name: str, status: str = "Completed", **fields: Any) -> None:
        """Report ``status`` (with step ``fields``, e.g. ``error``) for job ``name`` from now on, on every read."""
        with self._lock:
            if name not in self._requests:
                raise KeyError(f"no job {name!r}")
            self._lifecycles[name] = Lifecycle(Step(status, None, dict(fields)))

    def set_created(self, name: str, when: datetime) -> None:
        """Report ``when`` as job ``name``'s creation (``systemData.createdAt``); the listing order stays as is."""
        with self._lock:
            self._created[name] = when.astimezone(UTC).isoformat()

    def write_log(self, name: str, text: str, path: str = "user_logs/std_log.txt") -> None:
        """Append ``text`` (raw: a line without its newline stays partial) to job ``name``'s log file ``path``."""
        with self._lock:
            self._logs.setdefault(name, {}).setdefault(path, bytearray()).extend(text.encode())

    def log_url(self, name: str, path: str) -> str:
        """The SAS URL Run History gives for job ``name``'s log file ``path``."""
        return f"{self.base_url}azureml/ExperimentRun/dcid.{name}/{path}?{SAS_QUERY}"

    def finish_all(self, status: str = "Completed", **fields: Any) -> int:
        """``set_status`` every job created so far; returns how many."""
        names = self.job_names()
        for name in names:
            self.set_status(name, status, **fields)
        return len(names)

    # -- request handling (returns status, body, extra headers) --------------------------------
    def _arm_id(self, suffix: str = "") -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace}{suffix}"
        )

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
        for route, verb, pattern in _ROUTES:
            m = pattern.match(path)
            if m and verb == method:
                return route, m.groupdict()
        return None

    def _dispatch(
        self, method: str, path: str, body: Any, query: str = "", headers: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._route(method, path)
        if found is None:
            return _error(404, "NotFound", f"No route for {method} {path}")
        route, args = found
        ours = (self.subscription_id, self.resource_group.lower(), self.workspace.lower())
        if "ws" in args and (args["sub"], args["rg"].lower(), args["ws"].lower()) != ours:
            return _error(404, "WorkspaceNotFound", f"Workspace {args['ws']} not found.")
        kept = {k: v for k, v in args.items() if k in ("name", "ver", "tenant", "path")}
        if route == "job_list":
            kept["query"] = query
        if route == "log_blob":
            kept["byte_range"] = (headers or {}).get("Range") or (headers or {}).get("x-ms-range")
        if route in ("run_get", "log_blob") and (fault := self.log_faults.take(route)):
            time.sleep(fault[1])
            if fault[0] != 200:
                return self._fault(fault[0]) if route == "run_get" else _blob_error(fault[0])
        return getattr(self, "_" + route)(body, **kept)

    def _env_put(self, body: Any, ver: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self._envs.append(body)
        resource_id = self._arm_id(f"/environments/CliV2AnonymousEnvironment/versions/{ver}")
        return 201, {"id": resource_id, "name": ver, "type": "versions", "properties": body["properties"]}, {}

    def _job_put(self, body: Any, name: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            created = name not in self._requests
            if created:
                lifecycle = self._scripted.pop(name, None) or (self._fifo.pop(0) if self._fifo else None)
                self._lifecycles[name] = lifecycle or Lifecycle(*self._default._steps)
                self._created[name] = datetime.now(UTC).isoformat()
            self._requests[name] = body
        if created:
            env = dict(body.get("properties", {}).get("environmentVariables") or {})
            for callback in list(self.on_create):
                callback(name, env)
        return (201 if created else 200), self._job_json(name, self._lifecycles[name].current), {}

    def _job_get(self, _: Any, name: str) -> tuple[int, Any, dict[str, str]]:
        if name not in self._requests:
            return _error(404, "UserError", f"Could not find job with name {name}.")
        with self._lock:
            self._gets[name] = self._gets.get(name, 0) + 1
            step = self._observe(name, self._lifecycles[name].read())
        self.meter.read(name)
        return 200, self._job_json(name, step), {}

    def _observe(self, name: str, step: Step) -> Step:
        """Note the Run History start/end times a report of ``step`` implies (call under the lock)."""
        times, now = self._times.setdefault(name, {}), datetime.now(UTC).isoformat()
        if step.state in ("Running", "Finalizing", *TERMINAL):
            times.setdefault("startTimeUtc", now)
        if step.state in TERMINAL:
            times.setdefault("endTimeUtc", now)
        return step

    def _job_list(self, _: Any, query: str) -> tuple[int, Any, dict[str, str]]:
        """``jobs.list``: the jobs that pass the filters, a page at a time; each job a page returns is read once."""
        if self.deny_list:
            message = "The client does not have authorization to perform action 'workspaces/jobs/read' (list)."
            return _error(403, "AuthorizationFailed", message)
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        start = _page_start(params.get("$skip"))
        if start is None:
            return _error(400, "BadRequest", f"Invalid continuation token {params['$skip']!r}.")
        wanted = [p.partition("=") for p in params.get("properties", "").split(",") if p]
        with self._lock:
            names = list(self._lifecycles)  # in creation order
        if self.list_newest_first:
            names.reverse()
        matching = []
        for name in names:
            props = self._requests[name].get("properties") or {}
            if "tag" in params and params["tag"] not in (props.get("tags") or {}):
                continue
            if params.get("jobType") and params["jobType"].lower() != str(props.get("jobType", "")).lower():
                continue
            user = props.get("properties") or {}
            if any(key not in user or (eq and user[key] != value) for key, eq, value in wanted):
                continue
            matching.append(name)
        page = matching[start : start + self.list_page_size]
        with self._lock:
            steps = {name: self._observe(name, self._lifecycles[name].read()) for name in page}
        self.meter.read(*page)
        body: dict[str, Any] = {"value": [self._job_json(name, step) for name, step in steps.items()]}
        if start + self.list_page_size < len(matching):
            params["$skip"] = _page_token(start + self.list_page_size)
            body["nextLink"] = f"{self.base_url}{self._arm_id('/jobs').lstrip('/')}?{urlencode(params)}"
        return 200, body, {}

    def _job_json(self, name: str, step: Any) -> dict[str, Any]:
        props = {"experimentName": "Default", "displayName": name, **self._requests[name]["properties"]}
        props.update({k: v for k, v in step.fields.items() if k not in _RUN_HISTORY_FIELDS})
        studio = f"https://ml.azure.com/runs/{name}?wsid={self._arm_id()}"
        props["services"] = {
            "Tracking": {"jobServiceType": "Tracking", "endpoint": f"azureml://{self.workspace}/mlflow"},
            "Studio": {"jobServiceType": "Studio", "endpoint": studio},
        }
        props["status"] = step.state
        created = {"createdAt": self._created[name], "createdBy": "emulator", "createdByType": "User"}
        return {
            "id": self._arm_id(f"/jobs/{name}"),
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
            "properties": props,
            "systemData": created,
        }

    def _job_cancel(self, _: Any, name: str) -> tuple[int, Any, dict[str, str]]:
        if name not in self._requests:
            return _error(404, "UserError", f"Could not find job with name {name}.")
        lifecycle = self._lifecycles[name]
        state = lifecycle.current.state
        with self._lock:
            self._cancels.append(name)
        if state in TERMINAL:
            return _error(400, "UserError", f"Job {name} is in terminal state {state} and cannot be canceled.")
        if state != "CancelRequested":
            lifecycle.stop("CancelRequested", "Canceled")
        location = f"{self.base_url}operationResults/cancel/{name}"
        return 202, None, {"Location": location}

    def _cancel_op(self, _: Any, name: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            polls = self._cancel_polls[name] = self._cancel_polls.get(name, 0) + 1
        return (202, None, {}) if polls == 1 else (200, None, {})

    def _workspace(self, _: Any) -> tuple[int, Any, dict[str, str]]:
        props = {"discoveryUrl": f"{self.base_url}discovery", "workspaceId": "00000000-0000-0000-0000-0000000000aa"}
        return 200, {"id": self._arm_id(), "name": self.workspace, "location": "eastus", "properties": props}, {}

    def _discovery(self, _: Any) -> tuple[int, Any, dict[str, str]]:
        api = self.base_url.rstrip("/")
        return 200, {key: api for key in ("api", "catalog", "experimentation", "history", "modelmanagement")}, {}

    def _run_get(self, _: Any, name: str) -> tuple[int, Any, dict[str, str]]:
        if self.deny_run_details:
            message = "The client does not have authorization to perform action 'workspaces/experiments/runs/read'."
            return _error(403, "AuthorizationFailed", message)
        if name not in self._requests:
            return _error(404, "UserError", f"Run {name} was not found.")
        step = self._lifecycles[name].current
        run: dict[str, Any] = {"runId": name, "status": step.state, "experimentId": "default"}
        with self._lock:
            written = sorted(self._logs.get(name, {}))
        run["logFiles"] = {path: self.log_url(name, path) for path in written}
        run.update(self._times.get(name, {}))
        run.update({k: v for k, v in step.fields.items() if k in ("startTimeUtc", "endTimeUtc")})
        if step.state == "Failed":
            error = step.fields.get("error", DEFAULT_ERROR)
            run["error"] = {"error": {"code": "UserError", "message": error} if isinstance(error, str) else error}
        return 200, run, {}

    def _log_blob(self, _: Any, name: str, path: str, byte_range: str | None) -> tuple[int, Any, dict[str, str]]:
        """A log file's GET by SAS URL, as Azure Blob answers it (a Range -> 206, or 416 past the end)."""
        with self._lock:
            self.log_ranges.append((name, path, byte_range))
            data = self._logs.get(name, {}).get(path)
            data = None if data is None else bytes(data)
        if self.deny_logs:
            return _blob_error(403)
        if data is None:
            return _blob_error(404)
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", "x-ms-blob-type": "AppendBlob"}
        if not byte_range:
            return 200, data, headers
        match = _RANGE.match(byte_range)
        if match is None or int(match[1]) >= len(data):
            return _blob_error(416, {"Content-Range": f"bytes */{len(data)}"})
        start = int(match[1])
        end = min(int(match[2]) if match[2] else len(data) - 1, len(data) - 1)
        return 206, data[start : end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"}

    def _openid_config(self, _: Any, tenant: str) -> tuple[int, Any, dict[str, str]]:
        """Microsoft Entra's OpenID discovery document, for MSAL (``ClientSecretCredential``)."""
        base = f"{self.base_url}{tenant}"
        return (
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "response_types_supported": ["code", "token"],
                "tenant_region_scope": "NA",
            },
            {},
        )

    def _token(self, body: Any, tenant: str) -> tuple[int, Any, dict[str, str]]:
        """The client credentials grant: a bearer token for a known client id and secret."""
        form = {k: v[0] for k, v in (body or {}).items()} if isinstance(body, dict) else {}
        client_id = form.get("client_id", "")
        if form.get("grant_type") != "client_credentials" or self.clients.get(client_id) != form.get("client_secret"):
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}, {}
        with self._lock:
            self.tokens_issued.append({"tenant": tenant, "client_id": client_id, "scope": form.get("scope", "")})
        token = f"emulator-token-{client_id}-{len(self.tokens_issued)}"
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}, {}

    def _fault(self, status: int) -> tuple[int, Any, dict[str, str]]:
        code = _FAULT_CODES.get(status, "Error")
        status, body, headers = _error(status, code, f"Injected fault: HTTP {status}.")
        if status in (429, 503):
            headers["Retry-After"] = str(self.retry_after)
        return status, body, headers


def _error(status: int, code: str, message: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"error": {"code": code, "message": message}}, {}


def _blob_error(status: int, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    """Azure Blob's error answer: an XML body, and its code in ``x-ms-error-code``."""
    code = _BLOB_ERROR_CODES.get(status, "InternalError")
    messages = {
        "InvalidRange": "The range specified is invalid for the current size of the resource.",
        "BlobNotFound": "The specified blob does not exist.",
        "AuthorizationFailure": "This request is not authorized to perform this operation.",
    }
    message = messages.get(code, f"Injected fault: HTTP {status}.")
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}\nRequestId:emulator\nTime:{datetime.now(UTC).isoformat()}"
        "</Message></Error>"
    )
    return status, body.encode(), {"Content-Type": "application/xml", "x-ms-error-code": code, **(headers or {})}


def _page_token(start: int) -> str:
    """An opaque continuation token (Azure's ``$skip``) for the page starting at ``start``."""
    return base64.urlsafe_b64encode(json.dumps({"start": start}).encode()).decode()


def _page_start(token: str | None) -> int | None:
    """Where the page of a continuation token starts (0 without one; None for a token we did not issue)."""
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["start"])
    except (ValueError, KeyError, TypeError):
        return None


def _handler(emulator: AzureMLEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            found = emulator._route(self.command, path)
            emulator.meter.request(found[0] if found else f"{self.command} {path}")  # the route: job_get, token...
            with emulator._lock:
                emulator.requests.append((self.command, path))
                emulator.authorizations.append(self.headers.get("Authorization") or "")
            fault = emulator.faults.take(self.command)
            if fault:
                time.sleep(fault[1])
            if fault and fault[0] != 200:
                status, body, headers = emulator._fault(fault[0])
            else:
                try:
                    form = "x-www-form-urlencoded" in (self.headers.get("Content-Type") or "")
                    parsed = parse_qs(raw.decode()) if form else json.loads(raw or b"null")
                    status, body, headers = emulator._dispatch(self.command, path, parsed, query, self.headers)
                except Exception as exc:  # a bug in the fake: 501, which azure-core does not retry
                    status, body, headers = _error(501, "EmulatorError", repr(exc))
            # bytes: a blob, or Blob's XML error, sent as is
            data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
            headers = dict(headers)
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-ms-request-id", f"emulator-{len(emulator.requests)}")
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
