"""What N deferred waits cost in ONE triggerer-like process: our trigger vs. the Amazon provider's SageMakerTrigger.

    python benchmarks/triggerer_scale.py --n 300 --resource sagemaker --poll-interval 5
    python benchmarks/triggerer_scale.py --n 200 --resource vertex        # ours only (anchor: null)
    python benchmarks/triggerer_scale.py --n 200 --resource azure-ml      # ours only (anchor: null)
    python benchmarks/triggerer_scale.py --n 1000 --resource vertex --stream-logs --sides ours

Options: ``--n`` jobs (default 1000), ``--resource`` sagemaker | vertex | azure-ml, ``--poll-interval`` seconds
(default 5), ``--timeout`` seconds per side (default 900), ``--rss-cap-gib`` (default 12: a side whose RSS
passes it stops and reports how far it got, rather than swapping), ``--sides`` (default: both, where there
is an anchor), ``--stream-logs`` (the jobs write log lines and our triggers tail them, ``stream_logs=True``;
the anchor, which streams no logs, waits as before on the same emulator).

With ``--stream-logs`` the emulator host writes, with the emulator's own helper (SageMaker: CloudWatch Logs
through moto, ``write_logs``; Vertex AI: Cloud Logging entries, ``write_logs``; Azure ML: the run's
``user_logs/std_log.txt``, ``write_log``), ``LOG_LINES_AT_START`` (2) lines to every job before the side
starts, then, from a thread of its own from when the N triggers start, ``LOG_LINES_PER_WRITE`` (3) lines to
``LOG_WRITE_SHARE`` (10 %) of the jobs per poll interval, one job at a time in turn, spread evenly over the
interval (each job writes every tenth interval); it stops just before the jobs end, so their triggers' last
reads should show every line written. The host's own writes (SageMaker's CreateLogGroup / CreateLogStream /
PutLogEvents) count nowhere, nor does its writing thread's CPU time. Our triggers' logger is replaced by one
counter for them all (``_ShownLines``): no line is rendered or written to a task log, and with no task instance
no log cursor goes to XCom, so a real triggerer spends more per line than is measured here.

Each side runs in its own fresh interpreter. That process starts a child process hosting the loopback
emulators (the cloud's, and the W&B fake) so that the emulator's threads, memory and CPU never count
against the triggers; it creates N jobs, all InProgress / running, through the emulator's normal create
call. The side process then imports what its trigger needs, runs ONE warm-up trigger on an extra job until
it has polled once and cancels it (lazy imports and caches: a long-running triggerer has them), waits one
poll interval for what it left running to go idle, and then, in one asyncio loop, starts N triggers, each
``trigger.run()`` consumed by its own task as Airflow's triggerer does (greenback portal, ``async for event
in trigger.run()``, ``cleanup()`` at the end; a shared-stream ``BaseEventTrigger`` goes through Airflow's
``SharedStreamManager``). Two poll intervals after every job was read once (with ``--stream-logs``: and
every trigger showed its job's first lines, its first log read), it flips every job to Completed at the
emulator (Describe/Get and List alike) and waits for every event. A 10 ms ticker task in the same loop
measures loop lag throughout.

Figures per side (the ``RESULT`` line's ``ours`` / ``anchor`` dicts):

* ``rss_per_job_kib``: (VmRSS when every job has been read once, and with ``--stream-logs`` every trigger showed
  its first lines - VmRSS just before the N triggers were built, warm-up done, emulators running) / N;
  ``rss_per_job_steady_kib``: the same at the end of steady state (2 P later: every trigger has read its logs a
  few times, with ``--stream-logs``).
* ``rss_first_trigger_kib``: what the warm-up trigger added (lazy imports, first client, caches).
* ``threads``: ``threading.active_count()`` in steady state (the most seen from all read once to 2 P
  later), less the harness's own helper threads (``bench-*``: emulator IPC, RSS watchdog).
* ``requests_per_round``: cloud API requests the emulator served in one poll interval P of steady state, from
  its request log: the mean over every window [a, a + P) with a from P/4 to P after the last job's first read
  (with ``--stream-logs``: or the last first log read, if later: listing 1000 jobs' log streams at the start is
  no steady state) (10 ms apart; polls come in bursts, and one window's edge through a burst would count some
  triggers twice or not at all): ``total``, ``min`` / ``max`` (over those windows), ``by_operation``
  (DescribeTrainingJob, ListTrainingJobs, GetCustomJob, job_get, W&B GraphQL operations as ``wandb:<op>``...,
  the log reads too), ``jobs_read`` (distinct jobs read in the 2 P after that first read: N means none was
  starved), ``window_s``. A trigger that sleeps P *after* each answer polls every P + answer time, so a little
  under N is normal; far under N means the process cannot keep up.
* ``log_reads`` (ours, ``--stream-logs``): ``requests_per_round`` of the log reads alone, over the same
  windows (``total``, ``min`` / ``max``, ``by_operation``: DescribeLogStreams / FilterLogEvents;
  ListLogEntries; run_get / log_blob); ``lines_shown_per_round``: the running lines (not the start lines) our
  triggers showed, over the same windows, against ``lines_written_per_round``; ``lines_shown`` /
  ``lines_written`` / ``lines_skipped``: the N jobs' lines over the whole run (shown = written: none lost,
  none twice; skipped: what ``… N lines skipped`` markers stood for). The table shows "-" for the anchor.
* ``loop_lag_ms``: the 10 ms ticker's worst overshoot during ``startup`` (triggers started -> all read
  once), ``steady`` (-> 2 P later, the flip) and ``completion`` (-> the last event); ``max_loop_lag_ms``
  is the max of startup and steady.
* ``seconds_until_all_polled``: from starting the triggers to the emulator's first read of the last job
  (``seconds_until_all_logs_read``: until the last trigger showed its job's first lines) (a cold start: the
  warm-up's leftovers have gone idle. In a busy triggerer, a trigger that shares a poller with others may also
  wait up to P for that poller's next round).
* ``completion_max_s``: from the flip (as the emulator finished it) to the last trigger's event
  (``completion_p50_s``: to the median one). Expect up to one P: a trigger notices at its next poll.
* ``cpu_percent_steady``: the process's CPU time in steady state (all read once -> 2 P later) / that time
  (100 = one core). ``emulator_cpu_percent_steady``: the same for the emulator host process (less its log
  writer's thread); near 100 its (GIL-bound) server is what limits the request rate, not the triggers.
* ``gc``: cyclic garbage collections while the N triggers ran: ``collections``, ``max_pause_ms``,
  ``total_s``, ``full`` (generation 2 collections: one over a heap of many GiB stalls the loop for seconds).
* ``package_digest`` (ours only): sha256 of ``airflow_wandb_launch/**/*.py`` when the run started, and
  ``package_changed_during_run``: which state of our code the figures measured.
* ``events``: events by status (all N should say success / succeeded), ``requests_total``: every request
  from the triggers' start to the last event, by operation; ``rss_peak_mib``; ``aborted`` (why a side
  stopped early: the RSS cap or the timeout) with ``progress`` (phase, triggers started, jobs read once,
  events, seconds since start, RSS grown per job read so far), else null; ``error`` if the side could not
  run at all (say, our package is mid-refactor and does not import).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.emulators, and the package itself

RESOURCES = ("sagemaker", "vertex", "azure-ml")
AWS_REGION = "us-east-1"
ENTITY, PROJECT = "bench", "triggerer-scale"
SIDE_MARK = "SIDE "
HELPER = "bench-"  # name prefix of the harness's own threads
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TICK = 0.010
#: ``--stream-logs``: lines every job has written when the triggers start; lines each later write adds; the share
#: of the jobs written to per poll interval (in turn, one job at a time, spread evenly over the interval).
LOG_LINES_AT_START, LOG_LINES_PER_WRITE, LOG_WRITE_SHARE = 2, 3, 0.1
#: how every line the jobs write while running starts (the start lines do not): lines shown per round counts these.
RUNNING_LINE = "step "
#: each cloud's log reads, as its emulator's meter names them (SageMaker: a job's streams listed, then many jobs'
#: streams read at once with FilterLogEvents).
LOG_OPERATIONS = {
    "sagemaker": ("DescribeLogStreams", "FilterLogEvents"),
    "vertex": ("ListLogEntries",),
    "azure-ml": ("run_get", "log_blob"),
}
#: the emulator host's own log writes (SageMaker's ``write_logs`` goes through moto's CloudWatch Logs, which the
#: meter counts): never the triggers' requests, so left out of every count.
WRITE_OPERATIONS = frozenset({"CreateLogGroup", "CreateLogStream", "PutLogEvents"})


# -- the triggers under test ---------------------------------------------------------------------------------
def make_our_trigger(
    resource: str, job_id: str, connection_args: dict[str, Any], poll_interval: float, stream_logs: bool = False
) -> Any:
    """Our trigger waiting for one job. The one place to adapt when the trigger API changes.

    :param resource: ``sagemaker``, ``vertex`` or ``azure-ml``.
    :param job_id: the TrainingJobName, the CustomJob resource name, or the Azure ML job name.
    :param connection_args: the backend's connection arguments (connection ids and locations).
    :param stream_logs: the trigger tails the job's log lines after each poll.
    """
    from airflow_wandb_launch.triggers.launch import LaunchJobTrigger

    run_id = job_id.rsplit("/", 1)[-1]
    if resource == "sagemaker":  # created_at, as the backend records it at submit: it bounds the listing
        where = {"region": connection_args["region_name"], "created_at": time.time() - 60}
    elif resource == "vertex":  # created_at lets the poller list the jobs (the harness's carry the W&B label)
        where = {"project": connection_args["project_id"], "region": connection_args["region"]}
        where["created_at"] = time.time() - 60
    else:  # created_at lets the poller list the jobs; no list_tag: the harness's jobs carry no tags (list them all)
        where = {k: connection_args[k] for k in ("subscription_id", "resource_group", "workspace_name")}
        where["created_at"] = time.time() - 60
    from airflow_wandb_launch.launch.job import JobRef
    from airflow_wandb_launch.launch.run import RunIdentity

    job_ref = JobRef(resource, job_id, RunIdentity(run_id, PROJECT, ENTITY), cloud=where).to_dict()
    return LaunchJobTrigger(
        job_ref=job_ref, connection_args=connection_args, poll_interval=poll_interval, stream_logs=stream_logs
    )


def make_anchor_trigger(job_name: str, connection_args: dict[str, Any], poll_interval: float) -> Any:
    """The Amazon provider's SageMakerTrigger for one training job (what SageMakerTrainingOperator defers to)."""
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

    return SageMakerTrigger(
        job_name=job_name,
        job_type="training",
        waiter_delay=max(1, round(poll_interval)),
        waiter_max_attempts=10**6,
        aws_conn_id=connection_args["aws_conn_id"],
        region_name=connection_args["region_name"],
    )


#: imported before any measurement, so module imports never count as a job's memory
WARM_IMPORTS = {
    ("ours", "sagemaker"): ["airflow_wandb_launch.triggers.launch", "airflow.providers.amazon.aws.hooks.sagemaker"],
    ("ours", "vertex"): ["airflow_wandb_launch.triggers.launch", "google.cloud.aiplatform_v1"],
    ("ours", "azure-ml"): ["airflow_wandb_launch.triggers.launch", "azure.ai.ml", "azure.identity"],
    ("anchor", "sagemaker"): ["airflow.providers.amazon.aws.triggers.sagemaker", "aiobotocore.session"],
}


# -- the emulator host: its own process, driven over stdin/stdout (one JSON object a line) -------------------
class _Cloud:
    """One started cloud emulator: how to create a job, the side's env and connection arguments."""

    def __init__(self, resource: str) -> None:
        from tests.emulators.lifecycle import Lifecycle

        self.token, self.resource = uuid.uuid4().hex[:8], resource
        if resource == "sagemaker":
            import boto3

            from tests.emulators.sagemaker import SageMakerEmulator

            self.emulator = SageMakerEmulator(region=AWS_REGION).start()
            self.emulator.default_lifecycle = Lifecycle("InProgress")
            self._boto = boto3.client(
                "sagemaker",
                endpoint_url=self.emulator.endpoint_url,
                region_name=AWS_REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            self.env = {"AIRFLOW_CONN_AWS_DEFAULT": self.emulator.airflow_conn_env()}
            self.connection_args = {"aws_conn_id": "aws_default", "region_name": AWS_REGION}
            self.create = self._sagemaker_job
        elif resource == "vertex":
            from tests.emulators.vertex import VertexEmulator
            from tests.helpers.clouds import VERTEX_PROJECT, VERTEX_REGION

            self.emulator = VertexEmulator().start()
            self.emulator.default_lifecycle = Lifecycle("JOB_STATE_RUNNING")
            endpoint, self.parent = self.emulator.endpoint, f"projects/{VERTEX_PROJECT}/locations/{VERTEX_REGION}"
            extra = {"is_anonymous": True, "project": VERTEX_PROJECT, "region": VERTEX_REGION, "api_endpoint": endpoint}
            extra["logging_api_endpoint"] = endpoint  # it serves Cloud Logging's entries.list too
            conn = {"conn_type": "google_cloud_platform", "extra": extra}
            self.env = {"AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(conn)}
            self.connection_args = {
                "gcp_conn_id": "google_cloud_default",
                "project_id": VERTEX_PROJECT,
                "region": VERTEX_REGION,
                "api_endpoint": endpoint,
            }
            self.create = self._vertex_job
        else:
            from tests.emulators.azure_ml import AzureMLEmulator
            from tests.helpers.clouds import azure_conn

            aml = self.emulator = AzureMLEmulator(tls=True).start()
            aml.default_lifecycle, aml.retry_after = Lifecycle("Running"), 0
            self.env = {
                "AIRFLOW_CONN_AZURE_DEFAULT": azure_conn(aml),
                "AZUREML_DEV_URL_MFE": aml.base_url,
                "REQUESTS_CA_BUNDLE": str(aml.ca_file),
                "AZUREML_CURRENT_CLOUD": "AzureCloud",
            }
            self.connection_args = {
                "azure_conn_id": "azure_default",
                "subscription_id": aml.subscription_id,
                "resource_group": aml.resource_group,
                "workspace_name": aml.workspace,
            }
            self.create = self._azure_job

    def _sagemaker_job(self, i: int) -> str:
        name = f"bench-{self.token}-{i:05d}"
        self._boto.create_training_job(
            TrainingJobName=name,
            RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
            AlgorithmSpecification={
                "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1",
                "TrainingInputMode": "File",
            },
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
            OutputDataConfig={"S3OutputPath": "s3://bench/out"},
            StoppingCondition={"MaxRuntimeInSeconds": 86400},
            Environment={"WANDB_RUN_ID": name},
        )
        return name

    def _vertex_job(self, i: int) -> str:
        container = {"imageUri": "us-docker.pkg.dev/p/r/train:1", "env": [{"name": "WANDB_RUN_ID", "value": str(i)}]}
        pool = {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1", "containerSpec": container}
        body = {"displayName": f"bench-{i}", "labels": {"wandb-run-id": f"bench-{self.token}-{i:05d}"}}
        body["jobSpec"] = {"workerPoolSpecs": [pool]}
        return _http_json("POST", f"{self.emulator.endpoint}/v1/{self.parent}/customJobs", body)["name"]

    def _azure_job(self, i: int) -> str:
        aml, name = self.emulator, f"bench-{self.token}-{i:05d}"
        ws = (
            f"subscriptions/{aml.subscription_id}/resourceGroups/{aml.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{aml.workspace}"
        )
        properties = {
            "jobType": "Command",
            "command": "python train.py",
            "computeId": f"/{ws}/computes/gpu-cluster",
            "environmentId": f"/{ws}/environments/CliV2AnonymousEnvironment/versions/1",
            "environmentVariables": {"WANDB_RUN_ID": name},
            "displayName": name,
            "experimentName": PROJECT,
            "tags": {},
            "properties": {},
            "inputs": {},
            "outputs": {},
        }
        url = f"{aml.base_url}{ws}/jobs/{name}?api-version=2025-12-01"
        _http_json("PUT", url, {"properties": properties}, cafile=aml.ca_file)
        return name

    def write_lines(self, job: str, lines: list[str]) -> None:
        """Append ``lines`` to the job's output where the cloud keeps it, with the emulator's own helper
        (CloudWatch Logs, Cloud Logging, the run's ``user_logs/std_log.txt``)."""
        if self.resource == "azure-ml":
            self.emulator.write_log(job, "".join(f"{line}\n" for line in lines))
        else:
            self.emulator.write_logs(job, lines)


class _LogWriter:
    """The jobs' output while they run (``--stream-logs``): ``LOG_LINES_AT_START`` lines each before the side
    starts, then, in a thread from when the N triggers start, ``LOG_LINES_PER_WRITE`` lines to ``LOG_WRITE_SHARE``
    of the jobs per poll interval, one job at a time, in turn, spread evenly over the interval.

    :param jobs: the N jobs (``written`` counts their lines only).
    """

    def __init__(self, cloud: _Cloud, jobs: list[str], poll: float) -> None:
        self.cloud, self.jobs = cloud, jobs
        self.every = poll / max(1, round(LOG_WRITE_SHARE * len(jobs)))
        self.written = 0
        self.cpu_s = 0.0  # the writing thread's own CPU time: left out of the emulator's figure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=HELPER + "logs", daemon=True)

    def write_first(self, warm_job: str) -> None:
        """Write every job's first lines (the warm-up job's too, uncounted)."""
        first = ["Invoking script with the following command: python train.py", "Loaded 50000 training examples"]
        for job in [*self.jobs, warm_job]:
            self.cloud.write_lines(job, first[:LOG_LINES_AT_START])
        self.written = LOG_LINES_AT_START * len(self.jobs)

    def start(self) -> None:
        """Go on writing (once: the N triggers are about to start)."""
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def stop(self) -> None:
        """No more lines (before the jobs end: their triggers' last reads then show every line written)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        turn, due = 0, time.monotonic() + self.every
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            step = 100 * (turn // len(self.jobs) + 1)
            lines = [f"{RUNNING_LINE}{step + i}: loss={1 / (step + i):.5f}" for i in range(LOG_LINES_PER_WRITE)]
            try:
                self.cloud.write_lines(self.jobs[turn % len(self.jobs)], lines)
                self.written += len(lines)
            except Exception:
                traceback.print_exc()
            self.cpu_s = time.thread_time()
            turn, due = turn + 1, due + self.every


def _http_json(method: str, url: str, body: Any, cafile: str | None = None) -> Any:
    import ssl
    import urllib.request

    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method=method
    )
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return json.loads(response.read() or b"null")


class _MeteredList(list):
    """The W&B fake's request log, also counted by a ``Meter`` (as ``wandb:<operation>``) when appended to."""

    def __init__(self, meter: Any) -> None:
        super().__init__()
        self.meter = meter

    def append(self, item: Any) -> None:
        super().append(item)
        self.meter.request(f"wandb:{item.get('operation')}")


def _unwritten(requests: list[tuple[float, str]]) -> list[tuple[float, str]]:
    return [entry for entry in requests if entry[1] not in WRITE_OPERATIONS]


def host_main(resource: str, n: int, stream_logs: bool = False, poll: float = 5.0) -> None:
    """Serve the side process: start the emulators, create n jobs + 1 warm-up job (with ``stream_logs``, write
    their output as they run: ``_LogWriter``), then answer commands."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to stderr, never into the protocol
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _loopback_only()
    from tests.emulators.metering import Meter
    from tests.emulators.wandb_server import WandbServer

    cloud = _Cloud(resource)
    wandb, wandb_meter = WandbServer(default_entity=ENTITY).start(), Meter()
    wandb.requests = _MeteredList(wandb_meter)
    jobs = [cloud.create(i) for i in range(n + 1)]  # the last one is the warm-up trigger's
    for job in jobs:
        wandb.add_run(ENTITY, PROJECT, job.rsplit("/", 1)[-1], state="running")
    wandb_conn = {"conn_type": "wandb", "password": wandb.api_key, "host": wandb.base_url, "extra": {"entity": ENTITY}}
    env = {**cloud.env, "AIRFLOW_CONN_WANDB_DEFAULT": json.dumps(wandb_conn)}
    meter = cloud.emulator.meter
    writer = _LogWriter(cloud, jobs[:n], poll) if stream_logs else None
    if writer:
        writer.write_first(jobs[n])
    proto.write(json.dumps({"jobs": jobs[:n], "warm_job": jobs[n], "env": env, "conn": cloud.connection_args}) + "\n")

    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "reads":
            reply: Any = meter.reads(command["job"])
        elif op == "jobs_read":
            reply = meter.jobs_read()
        elif op == "reset_meter":  # the N triggers start next
            meter.reset()
            wandb_meter.reset()
            if writer:
                writer.start()
            reply = True
        elif op == "snapshot":
            snap = meter.snapshot()
            requests = {name: k for name, k in snap["requests"].items() if name not in WRITE_OPERATIONS}
            requests.update(wandb_meter.requests())
            cpu = time.process_time() - (writer.cpu_s if writer else 0.0)
            reply = {**snap, "requests": requests, "t": time.monotonic(), "cpu": cpu}
            reply["log_lines_written"] = writer.written if writer else None
        elif op == "timeline":
            reply = meter.timeline(command["since"])
            wandb_requests = wandb_meter.timeline(command["since"])["requests"]
            reply["requests"] = sorted(_unwritten(reply["requests"]) + wandb_requests)
        elif op == "finish_all":
            if writer:
                writer.stop()
            cloud.emulator.finish_all()
            reply = time.monotonic()
            for job in jobs:
                wandb.set_run_state(ENTITY, PROJECT, job.rsplit("/", 1)[-1], "finished")
        else:
            break
        proto.write(json.dumps({"reply": reply}) + "\n")
    wandb.stop()
    cloud.emulator.stop()


class Host:
    """The side's handle on its emulator host process (thread-safe calls)."""

    def __init__(self, resource: str, n: int, stream_logs: bool = False, poll: float = 5.0) -> None:
        command = [sys.executable, __file__, "--emulator-host", "--resource", resource, "--n", str(n)]
        command += ["--poll-interval", str(poll)] + (["--stream-logs"] if stream_logs else [])
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._lock = threading.Lock()
        line = self._proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"the emulator host for {resource} exited (code {self._proc.wait()})")
        self.hello: dict[str, Any] = json.loads(line)

    def call(self, op: str, **kwargs: Any) -> Any:
        with self._lock:
            self._proc.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")  # type: ignore[union-attr]
            return json.loads(self._proc.stdout.readline())["reply"]  # type: ignore[union-attr]

    def close(self) -> None:
        with suppress(Exception):
            self.call("stop")
        with suppress(Exception):
            self._proc.wait(timeout=10)
        if self._proc.poll() is None:
            self._proc.kill()


# -- one side: N triggers in one event loop --------------------------------------------------------------------
def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _threads() -> int:
    return sum(1 for t in threading.enumerate() if not t.name.startswith(HELPER))


def _loopback_only() -> None:
    """Fail any name lookup but loopback: nothing here may leave the machine."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in LOOPBACK:
            raise OSError(f"triggerer_scale: refusing to reach {name!r}")
        return real(host, *args, **kwargs)

    socket.getaddrinfo = guarded  # type: ignore[assignment]


class _ShownLines:
    """Stands in for our triggers' logger (``--stream-logs``): counts the job lines they show (``log.info("%s",
    line)``, each line prefixed ``[instance] ...``), notes when each line written while running (``RUNNING_LINE``)
    was shown, counts the lines their ``… N lines skipped`` markers stand for, and passes every other call on to
    the trigger's own logger. One for every trigger: no memory per job; nothing rendered (a triggerer writes each
    line to the task's log: that cost is not measured).
    """

    def __init__(self, log: Any) -> None:
        self.log, self.lines, self.skipped = log, 0, 0
        self.running: list[float] = []  # time.monotonic() when each running line was shown

    def reset(self) -> None:
        self.lines, self.skipped, self.running = 0, 0, []

    def info(self, event: Any, *args: Any, **kwargs: Any) -> None:
        text = args[0] if event == "%s" and len(args) == 1 and isinstance(args[0], str) else ""
        if text.startswith("["):
            self.lines += 1
            if text.partition("] ")[2].startswith(RUNNING_LINE):
                self.running.append(time.monotonic())
        elif text.startswith("… ") and text.split()[1].isdigit():
            self.skipped += int(text.split()[1])
        else:
            self.log.info(event, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


class Side:
    """One side's figures, filled in as it runs (the RSS watchdog may report them part-way)."""

    def __init__(self, name: str, n: int, rss_cap_kib: int) -> None:
        self.name, self.n, self.rss_cap_kib = name, n, rss_cap_kib
        self.phase = "setup"
        self.lags: dict[str, float] = {}
        self.result: dict[str, Any] = {"aborted": None}
        self.started = 0
        self.done: list[float] = []
        self.events: Counter[str] = Counter()
        self.peak_kib = 0
        self.host: Host | None = None
        self.shown: _ShownLines | None = None  # our triggers' job lines (--stream-logs)
        self.log_operations: tuple[str, ...] = ()
        self.start: float | None = None  # when the N triggers started
        self.rss_before_kib = 0
        self.gc_pauses: list[float] = []  # seconds, every cyclic-GC pass while the N triggers ran
        self.gc_full = 0  # of which full (generation 2) collections
        self._gc_started = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """A ``gc.callbacks`` hook: time each collection (a full one over a big heap stalls the loop)."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self.start is not None:
            self.gc_pauses.append(time.perf_counter() - self._gc_started)
            self.gc_full += info.get("generation") == 2

    def report(self, aborted: str | None = None) -> str:
        out = dict(self.result)
        lag = {phase: round(self.lags.get(phase, 0.0) * 1000, 1) for phase in ("startup", "steady", "completion")}
        out["loop_lag_ms"] = lag
        out["max_loop_lag_ms"] = max(lag["startup"], lag["steady"])
        out["events"] = dict(self.events)
        out["rss_peak_mib"] = round(self.peak_kib / 1024, 1)
        pauses = list(self.gc_pauses)
        out["gc"] = {"collections": len(pauses), "max_pause_ms": round(max(pauses, default=0) * 1000, 1)}
        out["gc"]["total_s"], out["gc"]["full"] = round(sum(pauses), 2), self.gc_full
        if aborted:
            out["aborted"] = aborted
            jobs_read = None
            with suppress(Exception):
                jobs_read = self.host.call("jobs_read") if self.host else None
            out["progress"] = {
                "phase": self.phase,
                "triggers_started": self.started,
                "jobs_read_once": jobs_read,
                "events": len(self.done),
                "seconds_since_start": round(time.monotonic() - self.start, 1) if self.start else None,
            }
            if self.start is not None and jobs_read:
                grown = _rss_kib() - self.rss_before_kib
                out["progress"]["rss_per_job_read_kib"] = round(grown / jobs_read, 1)
        return SIDE_MARK + json.dumps(out)

    def watch_rss(self) -> None:
        """A helper thread: track the peak RSS; past the cap, report how far the side got and exit."""
        while True:
            rss = _rss_kib()
            self.peak_kib = max(self.peak_kib, rss)
            if rss > self.rss_cap_kib:
                cap = self.rss_cap_kib / 1024**2
                print(self.report(f"RSS {rss / 1024**2:.1f} GiB passed the {cap:g} GiB cap"), flush=True)
                os._exit(3)
            time.sleep(0.2)


async def run_one(trigger: Any, trigger_id: int, side: Side, shared: Any) -> None:
    """Run a trigger as Airflow's TriggerRunner.run_trigger does, recording when its first event came."""
    import greenback
    from airflow.triggers.base import BaseEventTrigger

    if os.environ.get("AIRFLOW_DISABLE_GREENBACK_PORTAL", "").lower() != "true":
        await greenback.ensure_portal()
    key = None
    if isinstance(trigger, BaseEventTrigger):
        with suppress(Exception):
            key = trigger.shared_stream_key()
    stream = (
        trigger.filter_shared_stream(shared.subscribe(trigger_id=trigger_id, trigger=trigger, key=key))
        if key is not None
        else trigger.run()
    )
    first = True
    try:
        async for event in stream:
            if first:
                side.done.append(time.monotonic())
                status = event.payload.get("status") if isinstance(event.payload, dict) else None
                side.events[str(status.get("state") if isinstance(status, dict) else status)] += 1
                first = False
    finally:
        if key is not None:
            with suppress(Exception):
                await shared.unsubscribe(trigger_id, key)
        with suppress(Exception):
            await trigger.cleanup()


async def _ticker(side: Side) -> None:
    while True:
        start = time.perf_counter()
        await asyncio.sleep(TICK)
        lag = time.perf_counter() - start - TICK
        if lag > side.lags.get(side.phase, 0.0):
            side.lags[side.phase] = lag


def _per_window(times: list[float], lo: float, hi: float, length: float) -> list[int]:
    """How many of the sorted ``times`` fall in [a, a + length), for every start a from lo to hi by 10 ms."""
    from bisect import bisect_left

    starts = [lo + i * 0.01 for i in range(int((hi - lo) / 0.01) + 1)]
    return [bisect_left(times, a + length) - bisect_left(times, a) for a in starts]


def _mean(values: list[int]) -> float:
    return round(sum(values) / len(values), 1) if values else 0.0


async def measure(side: Side, host: Host, make: Callable[[str], Any], poll: float, deadline: float) -> None:
    from airflow.triggers.shared_stream import SharedStreamManager

    loop = asyncio.get_running_loop()
    ipc = ThreadPoolExecutor(1, thread_name_prefix=HELPER + "ipc")

    async def call(op: str, **kwargs: Any) -> Any:
        return await loop.run_in_executor(ipc, lambda: host.call(op, **kwargs))

    def check(what: str) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the side's timeout passed while {what}")

    shared = SharedStreamManager()
    ticker = asyncio.create_task(_ticker(side))
    jobs, r = host.hello["jobs"], side.result

    side.phase = "warm-up"
    before = _rss_kib()
    warm = asyncio.create_task(run_one(make(host.hello["warm_job"]), -1, side, shared))
    while await call("reads", job=host.hello["warm_job"]) < 1:
        check("the warm-up trigger polled")
        if warm.done():
            warm.result()  # raises what the trigger raised
            raise RuntimeError("the warm-up trigger ended without reading its job")
        await asyncio.sleep(0.02)
    while side.shown and side.shown.lines < LOG_LINES_AT_START and not warm.done():  # its first log read too
        check("the warm-up trigger showed its job's first lines")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # its answer is handled
    warm.cancel()
    await asyncio.gather(warm, return_exceptions=True)
    r["rss_first_trigger_kib"] = _rss_kib() - before
    # Let anything the warm-up left running go idle (a poller shared by a connection's triggers sleeps one
    # interval after its round): the N triggers then start as after a triggerer restart, not mid-round.
    await asyncio.sleep(poll + 1.0)
    await call("reset_meter")
    if side.shown:
        side.shown.reset()  # the N jobs' lines only
    gc.collect()
    await asyncio.sleep(0.5)

    side.phase, side.lags = "startup", {}
    rss_before = side.rss_before_kib = _rss_kib()
    r["rss_before_mib"] = round(rss_before / 1024, 1)
    start = side.start = time.monotonic()
    tasks = []
    for i, job in enumerate(jobs):
        tasks.append(asyncio.create_task(run_one(make(job), i, side, shared)))
        side.started += 1

    def going(what: str) -> None:
        """Raise if the side's time is up, or if every trigger ended before ``what``."""
        check(f"waiting until {what}")
        if all(task.done() for task in tasks):
            errors = [t.exception() for t in tasks if not t.cancelled() and t.exception()]
            why = f"; first error: {errors[0]!r}" if errors else f"; events: {dict(side.events)}"
            raise RuntimeError(f"every trigger ended before {what}{why}")

    while await call("jobs_read") < len(jobs):
        going("every job was read once")
        await asyncio.sleep(0.05)
    shown, logs_read = side.shown, 0.0
    while shown and shown.lines - len(shown.running) < LOG_LINES_AT_START * len(jobs):  # every first log read
        going("every trigger showed its job's first lines")
        await asyncio.sleep(0.05)
    if shown:
        logs_read = time.monotonic()
        r["seconds_until_all_logs_read"] = round(logs_read - start, 2)
    rss_after = _rss_kib()
    begin = await call("snapshot")
    all_polled = max(begin["first_read"].values())
    r["seconds_until_all_polled"] = round(all_polled - start, 2)
    r["rss_after_mib"] = round(rss_after / 1024, 1)
    r["rss_per_job_kib"] = round((rss_after - rss_before) / len(jobs), 1)
    all_polled = max(all_polled, logs_read)  # steady state starts when every first read is done

    side.phase = "steady"
    steady_from, steady_to, cpu_a = time.monotonic(), all_polled + 2 * poll, time.process_time()
    host_a = await call("snapshot")
    threads = _threads()
    while time.monotonic() < steady_to:
        check("measuring steady state")
        await asyncio.sleep(min(0.25, max(0.0, steady_to - time.monotonic())))
        threads = max(threads, _threads())
    cpu_b, steady_s = time.process_time(), time.monotonic() - steady_from
    r["rss_per_job_steady_kib"] = round((_rss_kib() - rss_before) / len(jobs), 1)
    host_b = await call("snapshot")
    timeline = await call("timeline", since=all_polled)
    lo, hi = all_polled + poll / 4, all_polled + poll  # window starts; every window ends by all_polled + 2 P
    totals = _per_window([t for t, _ in timeline["requests"]], lo, hi, poll)
    ops = sorted({op for _, op in timeline["requests"]})
    by_op = {op: _mean(_per_window([t for t, o in timeline["requests"] if o == op], lo, hi, poll)) for op in ops}
    r["threads"] = threads
    r["requests_per_round"] = {
        "total": _mean(totals),
        "by_operation": by_op,
        "min": min(totals),
        "max": max(totals),
        "jobs_read": len({job for t, job in timeline["reads"] if all_polled < t < all_polled + 2 * poll}),
        "window_s": poll,
    }
    if side.shown:
        log_totals = _per_window([t for t, op in timeline["requests"] if op in side.log_operations], lo, hi, poll)
        r["log_reads"] = {
            "requests_per_round": {
                "total": _mean(log_totals),
                "by_operation": {op: by_op.get(op, 0.0) for op in side.log_operations},
                "min": min(log_totals),
                "max": max(log_totals),
            },
            "lines_shown_per_round": _mean(_per_window(sorted(side.shown.running), lo, hi, poll)),
            "lines_written_per_round": round(LOG_WRITE_SHARE * len(jobs)) * LOG_LINES_PER_WRITE,
        }
    r["cpu_percent_steady"] = round(100 * (cpu_b - cpu_a) / steady_s, 1)
    r["emulator_cpu_percent_steady"] = round(100 * (host_b["cpu"] - host_a["cpu"]) / (host_b["t"] - host_a["t"]), 1)

    side.phase = "completion"
    flipped = await call("finish_all")
    pending = set(tasks)
    while pending:
        check(f"waiting for events ({len(side.done)}/{len(jobs)} so far)")
        _, pending = await asyncio.wait(pending, timeout=1.0)
    failed = [t.exception() for t in tasks if not t.cancelled() and t.exception() is not None]
    if failed:
        r["task_errors"] = {"count": len(failed), "first": repr(failed[0])}
    after_flip = sorted(t - flipped for t in side.done)
    r["completion_max_s"] = round(after_flip[-1], 2) if after_flip else None
    r["completion_p50_s"] = round(after_flip[len(after_flip) // 2], 2) if after_flip else None
    end = await call("snapshot")
    r["requests_total"] = dict(sorted(end["requests"].items()))
    if side.shown and "log_reads" in r:
        r["log_reads"].update(lines_shown=side.shown.lines, lines_skipped=side.shown.skipped)
        r["log_reads"]["lines_written"] = end["log_lines_written"]
    ticker.cancel()
    ipc.shutdown(wait=False)


def side_main(args: argparse.Namespace) -> None:
    """One side, in this (fresh) process; prints ``SIDE {json}`` last."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _loopback_only()
    side = Side(args.side, args.n, int(args.rss_cap_gib * 1024**2))
    deadline = time.monotonic() + args.timeout - 30
    threading.Thread(target=side.watch_rss, name=HELPER + "rss", daemon=True).start()
    gc.callbacks.append(side.on_gc)
    try:
        side.host = host = Host(args.resource, args.n, args.stream_logs, args.poll_interval)
        os.environ.update(host.hello["env"])
        for module in WARM_IMPORTS[(args.side, args.resource)]:
            __import__(module)
        conn, poll = host.hello["conn"], args.poll_interval
        if args.side == "ours":

            def make(job: str) -> Any:
                trigger = make_our_trigger(args.resource, job, conn, poll, args.stream_logs)
                if args.stream_logs:
                    side.shown = side.shown or _ShownLines(trigger.log)
                    trigger._log = side.shown  # LoggingMixin's logger: count the lines it shows
                return trigger

            side.log_operations = LOG_OPERATIONS[args.resource]

        else:

            def make(job: str) -> Any:
                return make_anchor_trigger(job, conn, poll)

        probe = type(make(host.hello["warm_job"]))
        side.result["trigger"] = f"{probe.__module__}.{probe.__qualname__}"
        asyncio.run(measure(side, host, make, poll, deadline))
    except TimeoutError as err:
        print(side.report(str(err)), flush=True)
        os._exit(0)
    except BaseException as err:
        side.result["error"] = "".join(traceback.format_exception_only(err)).strip()
        traceback.print_exc()
    print(side.report(), flush=True)
    if side.host:
        side.host.close()


# -- the command: both sides, then the table ---------------------------------------------------------------
def run_side(name: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--side", name, "--resource", args.resource, "--n", str(args.n)]
    command += ["--poll-interval", str(args.poll_interval), "--timeout", str(args.timeout)]
    command += ["--rss-cap-gib", str(args.rss_cap_gib)] + (["--stream-logs"] if args.stream_logs else [])
    logs = ", streaming logs" if args.stream_logs else ""
    print(f"[{name}] {args.n} {args.resource} jobs, poll every {args.poll_interval:g} s{logs} ...", file=sys.stderr)
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=args.timeout + 60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    lines = [line for line in out.splitlines() if line.startswith(SIDE_MARK)]
    took = time.monotonic() - started
    print(f"[{name}] done in {took:.0f} s (exit {proc.returncode})", file=sys.stderr)
    if not lines:
        return {"error": f"the side printed no result (exit {proc.returncode})", "aborted": "no result"}
    return json.loads(lines[-1][len(SIDE_MARK) :])


def package_digest() -> str:
    """12 hex digits of sha256 over ``airflow_wandb_launch/**/*.py``: which state of our code a result measured."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "airflow_wandb_launch").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _rows(ours: dict[str, Any], anchor: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    sides = [ours, anchor or {}]

    def get(d: dict[str, Any], *path: str) -> Any:
        for key in path:
            d = d.get(key) if isinstance(d, dict) else None  # type: ignore[assignment]
        return d

    def span(*path: str) -> Callable[[dict[str, Any]], str | None]:  # a min / max row
        return lambda side: _span(get(side, *path))

    rows: list[tuple[str, tuple[str, ...] | Callable[[dict[str, Any]], Any]]] = [
        ("rss_per_job_kib", ("rss_per_job_kib",)),
        ("  rss per job at steady end", ("rss_per_job_steady_kib",)),
        ("rss_first_trigger_kib", ("rss_first_trigger_kib",)),
        ("rss_before_mib", ("rss_before_mib",)),
        ("rss_peak_mib", ("rss_peak_mib",)),
        ("threads", ("threads",)),
        ("requests_per_round", ("requests_per_round", "total")),
    ]
    log_ops = list(get(ours, "log_reads", "requests_per_round", "by_operation") or {})
    ops = sorted({op for s in sides for op in (get(s, "requests_per_round", "by_operation") or {})} - set(log_ops))
    rows += [(f"  {op}", ("requests_per_round", "by_operation", op)) for op in ops]
    rows += [
        ("  min / max over windows", span("requests_per_round")),
        ("  jobs read in steady 2 P", ("requests_per_round", "jobs_read")),
    ]
    if log_ops:  # --stream-logs (the anchor reads no logs: "-")
        rows += [("log_requests_per_round", ("log_reads", "requests_per_round", "total"))]
        rows += [(f"  {op}", ("log_reads", "requests_per_round", "by_operation", op)) for op in log_ops]
        rows += [
            ("  min / max over windows", span("log_reads", "requests_per_round")),
            ("log lines shown per round", ("log_reads", "lines_shown_per_round")),
            ("  written per round", ("log_reads", "lines_written_per_round")),
            ("log lines shown / written, run", _shown_of_written),
            ("  lines skipped (markers)", ("log_reads", "lines_skipped")),
        ]
    rows += [
        ("max_loop_lag_ms", ("max_loop_lag_ms",)),
        ("  loop lag startup ms", ("loop_lag_ms", "startup")),
        ("  loop lag steady ms", ("loop_lag_ms", "steady")),
        ("  loop lag completion ms", ("loop_lag_ms", "completion")),
        ("seconds_until_all_polled", ("seconds_until_all_polled",)),
        ("  seconds until all logs read", ("seconds_until_all_logs_read",)),
        ("completion_max_s", ("completion_max_s",)),
        ("  completion_p50_s", ("completion_p50_s",)),
        ("cpu_percent_steady", ("cpu_percent_steady",)),
        ("  emulator_cpu_percent_steady", ("emulator_cpu_percent_steady",)),
        ("gc max pause ms", ("gc", "max_pause_ms")),
        ("gc total s", ("gc", "total_s")),
        ("  gc full collections", ("gc", "full")),
        ("events", ("events",)),
    ]
    out = []
    for label, path in rows:
        if callable(path):
            out.append((label, path(ours), path(anchor) if anchor else None))
        else:
            out.append((label, get(ours, *path), get(anchor, *path) if anchor else None))
    return out


def _span(r: Any) -> str | None:
    return f"{r['min']} / {r['max']}" if isinstance(r, dict) and "min" in r else None


def _shown_of_written(side: dict[str, Any]) -> str | None:
    logs = side.get("log_reads") if isinstance(side, dict) else None
    if not isinstance(logs, dict) or "lines_shown" not in logs:
        return None
    return f"{logs['lines_shown']} / {logs['lines_written']}"


def table(result: dict[str, Any]) -> str:
    ours, anchor = result["ours"], result["anchor"]
    head = f"n={result['n']}  resource={result['resource']}  poll_interval_s={result['poll_interval_s']:g}"
    head += f"  (ours: airflow_wandb_launch {ours.get('package_digest')}"
    head += ", CHANGED during the run)" if ours.get("package_changed_during_run") else ")"
    head += "  stream_logs" if result.get("stream_logs") else ""
    anchor_name = "SageMakerTrigger" if result["resource"] == "sagemaker" else "anchor: none"
    lines = [head, f"{'metric':<34}{'ours':>16}{anchor_name:>20}{'ratio':>9}", "-" * 79]
    for label, mine, theirs in _rows(ours, anchor):
        ratio = ""
        if isinstance(mine, int | float) and isinstance(theirs, int | float) and theirs:
            ratio = f"{mine / theirs:.2f}"

        def show(v: Any) -> str:
            if v is None:
                return "-"
            if isinstance(v, str):
                return v
            return f"{v:g}" if isinstance(v, int | float) else json.dumps(v, separators=(",", ":"))

        lines.append(f"{label:<34}{show(mine):>16}{show(theirs):>20}{ratio:>9}")
    for name, side in (("ours", ours), (anchor_name, anchor)):
        for key in ("aborted", "error", "task_errors"):
            if side and side.get(key):
                lines.append(f"{name} {key}: {side[key]} {side.get('progress', '') if key == 'aborted' else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=1000, help="jobs, one trigger each (default 1000)")
    parser.add_argument("--resource", choices=RESOURCES, default="sagemaker")
    parser.add_argument("--poll-interval", type=float, default=5.0, help="seconds between polls (default 5)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per side before it stops (default 900)")
    parser.add_argument("--rss-cap-gib", type=float, default=12.0, help="stop a side past this RSS (default 12)")
    parser.add_argument("--sides", default="ours,anchor", help="which sides to run (default ours,anchor)")
    parser.add_argument(
        "--stream-logs", action="store_true", help="jobs write log lines; our triggers tail them (stream_logs=True)"
    )
    parser.add_argument("--side", choices=("ours", "anchor"), help=argparse.SUPPRESS)
    parser.add_argument("--emulator-host", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.emulator_host:
        return host_main(args.resource, args.n, args.stream_logs, args.poll_interval)
    if args.side:
        return side_main(args)

    with tempfile.TemporaryDirectory(prefix="triggerer-scale-") as home:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(Path(home) / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": AWS_REGION,
            "AWS_CONFIG_FILE": str(Path(home) / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(Path(home) / "aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_GCE_CHECK": "True",
            "WANDB_SILENT": "true",
            "WANDB_DIR": str(Path(home) / "wandb"),
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "ARM_CLOUD_METADATA_URL", "WANDB_API_KEY", "WANDB_BASE_URL"):
            env.pop(name, None)
        wanted = args.sides.split(",")
        digest = package_digest()
        ours = run_side("ours", args, env) if "ours" in wanted else {"skipped": True}
        ours["package_digest"] = digest
        ours["package_changed_during_run"] = package_digest() != digest
        anchor = run_side("anchor", args, env) if args.resource == "sagemaker" and "anchor" in wanted else None
    result = {
        "n": args.n,
        "resource": args.resource,
        "poll_interval_s": args.poll_interval,
        "stream_logs": args.stream_logs,
        "ours": ours,
        "anchor": anchor,
    }
    print(table(result))
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
