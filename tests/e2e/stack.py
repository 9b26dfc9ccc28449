"""A real Airflow 3 stack on loopback for end-to-end tests: api-server, scheduler, triggerer and dag-processor.

Each component is its own process (own process group) sharing a temp ``AIRFLOW_HOME``, a SQLite metadata DB and
LocalExecutor, configured like docker-compose.yaml (same executor, auth manager and env names; no scheduler
health-check server: it would bind 0.0.0.0). The REST API (``/api/v2``) needs no token: with
``SIMPLE_AUTH_MANAGER_ALL_ADMINS=True`` the simple auth manager's middleware adds an admin JWT to every request::

    stack = AirflowStack(home, dags_folder, env={"AIRFLOW_CONN_AWS_DEFAULT": ...})
    stack.migrate()
    with stack:  # start() + wait healthy ... stop()
        stack.unpause("my_dag")
        run_id = stack.trigger("my_dag")
        stack.wait_for_dag_run("my_dag", run_id)

For faults (tests/e2e/test_fault_matrix_e2e.py): ``kill_component`` SIGKILLs a component with every process it
started and ``start_component`` starts it again (or a second instance), ``signal_component`` freezes and thaws one
(SIGSTOP/SIGCONT), and ``task_runner(ti_id)`` is the process running a task try (to kill a worker).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import psutil

AIRFLOW = str(Path(sys.executable).parent / "airflow")
COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
}
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class StackError(RuntimeError):
    """A REST call failed; or the stack did not start, a component died, a wait timed out (with the logs' tails)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AirflowStack:
    """Four Airflow components on 127.0.0.1, with REST helpers.

    :param home: ``AIRFLOW_HOME`` (created; holds airflow.db, the task logs and each component's log file).
    :param dags_folder: the DAGs to serve.
    :param env: extra environment (connections, settings); it overrides the defaults here.
    """

    def __init__(self, home: Path, dags_folder: Path, env: Mapping[str, str] | None = None) -> None:
        from cryptography.fernet import Fernet

        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.fernet_key = Fernet.generate_key().decode()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))},
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(Path(dags_folder).resolve()),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            # shared by every component (else each would make its own on first start)
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": Fernet.generate_key().decode(),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            # light and quick on a small machine: few executor workers, frequent loops
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            # the task supervisor notices its worker exited (e.g. on defer) within this many seconds
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            **(env or {}),
        }
        self.db_path = self.home / "airflow.db"
        self.timings: dict[str, float] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._names: dict[str, None] = {}  # every component name started (for the logs), in order
        self._logs: dict[str, IO[bytes]] = {}
        self._http = httpx.Client(base_url=f"{self.base_url}/api/v2", timeout=30)

    # -- processes ----------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Create the metadata DB (``airflow db migrate``, ~12 s)."""
        started = time.monotonic()
        done = subprocess.run([AIRFLOW, "db", "migrate"], env=self.env, capture_output=True, text=True)
        if done.returncode:
            output = f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
            raise StackError(f"airflow db migrate failed ({done.returncode}):\n{output}")
        self.timings["migrate"] = time.monotonic() - started

    def log_file(self, component: str) -> Path:
        return self.home / f"{component}.log"

    def start(self, timeout: float = 150) -> AirflowStack:
        """Start the four components and wait until the health endpoint reports each healthy."""
        started = time.monotonic()
        atexit.register(self.stop)
        for name in COMPONENTS:
            self._spawn(name, name, "wb")
        try:
            self._wait(self._healthy, timeout, "all components healthy")
            # the api-server builds the execution API on its first call (~4 s): warm it up before a task's
            # first call, which would otherwise time out (5 s) and retry
            self._wait(self._execution_api_up, 60, "the execution API")
        except BaseException:
            self.stop()
            raise
        self.timings["healthy"] = time.monotonic() - started
        return self

    def stop(self, grace: float = 15) -> None:
        """Stop every component with its whole process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
        for proc in self._procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        for proc in self._procs.values():  # stragglers: the leader's children (task runners, parsers, workers)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self._procs.clear()
        for log in self._logs.values():
            log.close()
        self._logs.clear()
        self._http.close()
        atexit.unregister(self.stop)

    def _spawn(self, name: str, component: str, mode: str) -> None:
        self._names.setdefault(name, None)
        log = self._logs[name] = self.log_file(name).open(mode)
        self._procs[name] = subprocess.Popen(
            [AIRFLOW, *COMPONENTS[component]],
            env=self.env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends it with all its children
        )

    # -- faults: kill, freeze and restart components, kill task runners -----------------------------------
    def start_component(self, name: str, component: str | None = None) -> None:
        """Start ``name`` again after ``kill_component`` (its log goes on), or another instance of ``component``
        under a new name (``start_component("triggerer-2", "triggerer")``); it is stopped with the stack."""
        if name in self._procs:
            raise StackError(f"airflow {name} runs already")
        self._spawn(name, component or name, "ab")

    def running(self, name: str) -> bool:
        """Whether the stack runs component ``name`` (frozen or not); False after ``kill_component``."""
        return name in self._procs

    def component_processes(self, name: str) -> list[psutil.Process]:
        """The component's process and every process it started (task runners, the trigger runner, parsers)."""
        import psutil

        with contextlib.suppress(psutil.NoSuchProcess):
            leader = psutil.Process(self._procs[name].pid)
            return [leader, *leader.children(recursive=True)]
        return []

    def kill_component(self, name: str) -> None:
        """SIGKILL the component and every process it started, as when its machine dies (no cleanup runs in it);
        the stack forgets it until ``start_component(name)``."""
        import psutil

        for process in reversed(self.component_processes(name)):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        self._procs.pop(name).wait()
        self._logs.pop(name).close()

    def signal_component(self, name: str, sig: signal.Signals) -> None:
        """Send ``sig`` to the component and every process it started: ``SIGSTOP`` freezes it (a VM paused, a
        process stuck in swap), ``SIGCONT`` wakes it."""
        import psutil

        for process in self.component_processes(name):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(sig)

    def stop_component(self, name: str, grace: float = 15) -> None:
        """Stop one component with its process group (SIGTERM, SIGKILL after ``grace`` s); the stack forgets it."""
        proc = self._procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self._logs.pop(name).close()

    def task_runner(self, ti_id: str) -> psutil.Process | None:
        """The process running a task try (titled ``airflow worker -- <ti id>``: the REST API's task instance ``id``,
        new for each try), under the scheduler's LocalExecutor; None if it does not run (yet)."""
        import psutil

        for process in self.component_processes("scheduler"):
            with contextlib.suppress(psutil.Error):
                if " ".join(process.cmdline()).strip() == f"airflow worker -- {ti_id}":
                    return process
        return None

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tails(self, lines: int = 60) -> str:
        """The last ``lines`` lines of each component's output (stdout and stderr)."""
        parts = []
        for name in {**dict.fromkeys(COMPONENTS), **self._names}:
            path = self.log_file(name)
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
            parts.append(f"===== {name}: last {lines} lines of {path} =====\n" + "\n".join(text))
        return "\n".join(parts)

    def check_alive(self) -> None:
        """Raise (with the logs' tails) if a component the stack runs has exited."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise StackError(f"airflow {name} exited with {proc.returncode}\n{self.log_tails()}")

    def _wait(self, ready: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            with contextlib.suppress(httpx.TransportError):
                if (value := ready()) is not None and value is not False:
                    return value
            if time.monotonic() > deadline:
                raise StackError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.log_tails()}")
            time.sleep(interval)

    def _healthy(self) -> bool:
        response = self._http.get("/monitor/health")
        if response.status_code != 200:
            return False
        health = response.json()
        return all((health.get(key) or {}).get("status") == "healthy" for key in HEALTH_KEYS)

    def _execution_api_up(self) -> bool:
        return self._http.get(f"{self.base_url}/execution/health", timeout=60).status_code == 200

    # -- REST ---------------------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call ``/api/v2{path}`` and return the JSON body; raise on an HTTP error."""
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise StackError(f"{method} /api/v2{path} -> {response.status_code}: {response.text}")
        return response.json()

    def wait_for_dag(self, dag_id: str, timeout: float = 60) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id`` (it shows in the API)."""
        return self._wait(lambda: self._dag_or_none(dag_id), timeout, f"DAG {dag_id} to be parsed")

    def _dag_or_none(self, dag_id: str) -> dict[str, Any] | None:
        response = self._http.get(f"/dags/{dag_id}")
        return response.json() if response.status_code == 200 else None

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a DAG run now; return its run id."""
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_dag_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 120,
        on_poll: Callable[[], None] | None = None,
        interval: float = 0.5,
    ) -> dict[str, Any]:
        """Poll until the run is success or failed (calling ``on_poll`` each time); return the run."""

        def done() -> dict[str, Any] | None:
            if on_poll is not None:
                on_poll()
            run = self.dag_run(dag_id, run_id)
            return run if run["state"] in TERMINAL_RUN_STATES else None

        started = time.monotonic()
        run = self._wait(done, timeout, f"dag run {dag_id}/{run_id} to finish", interval)
        self.timings[f"run {sum(k.startswith('run') for k in self.timings) + 1} ({run['state']})"] = (
            time.monotonic() - started
        )
        return run

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """The run's task instances by task id."""
        body = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in body["task_instances"]}

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """One task instance (state, try_number, max_tries, its try's ``id`` and ``pid``, its ``trigger``)."""
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """An XCom value, as stored (JSON)."""
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """A task try's whole log (worker and triggerer parts) as text, one event per line."""
        body = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Accept": "application/json"},
        )
        return "\n".join(_log_line(entry) for entry in body["content"])


def _log_line(entry: dict[str, Any] | str) -> str:
    """One structured log entry as text: its event, then its other fields (error details, ...) as JSON."""
    if not isinstance(entry, dict):
        return str(entry)
    rest = {k: v for k, v in entry.items() if k not in ("event", "timestamp", "level", "logger")}
    return f"{entry.get('event', '')} {json.dumps(rest, default=str)}" if rest else str(entry.get("event", ""))
