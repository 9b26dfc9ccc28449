"""A deferred Azure ML job's log files in the trigger's log (which Airflow shows in the task's log), against the
Azure ML emulator through the real MLClient: Run History's ``logFiles``, each file read on by a ranged GET of its
SAS URL.

Each ``check()`` is one poll: a status read from the shared poller's next round, then the job's new lines.
"""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest

from airflow_wandb_launch.backends.azure_ml import logs
from airflow_wandb_launch.backends.azure_ml.backend import AzureMLBackend
from airflow_wandb_launch.backends.azure_ml.request import build_command_job
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.run import RunIdentity, WandbCredentials
from airflow_wandb_launch.triggers.launch import LOG_CURSOR_KEY, LaunchJobTrigger
from airflow_wandb_launch.triggers.status_poller import close_pollers
from tests.emulators.lifecycle import Lifecycle
from tests.helpers.log_tailing import TI, warnings

CONNECTION = {"azure_conn_id": "azure_default"}
STD = "user_logs/std_log.txt"
LOG_ROUTES = ("run_get", "log_blob")
pytestmark = pytest.mark.usefixtures("trigger_log", "patient_polls")


@pytest.fixture
async def job(aml):
    """``make(lifecycle=Running, **trigger_kwargs)``: a job submitted through the real backend (running until the
    test ends it) and a streaming trigger for it."""
    backend, count = AzureMLBackend(), itertools.count()

    def make(lifecycle: Lifecycle | None = None, nodes: int = 1, **kwargs) -> LaunchJobTrigger:
        i = next(count)
        aml.script(lifecycle or Lifecycle("Running"))
        run = RunIdentity(f"logs{i:04d}", "aml-logs", "e")
        request = LaunchRequest("azure-ml", run, image="acr.io/t:1", entry_point=("python", "train.py"))
        env = request.job_env(WandbCredentials(api_key="k", base_url="http://127.0.0.1:1"))
        args = {"compute": "cpu", "name": f"logs-{i:04d}", "instance_count": nodes}
        ref = backend.submit(build_command_job(request, args, env), run)
        options = {"poll_interval": 0.05, "stream_logs": True, **kwargs}
        return LaunchJobTrigger(job_ref=ref.to_dict(), connection_args=CONNECTION, **options)

    yield make
    backend.close()
    await close_pollers()


@pytest.fixture
def no_backoff(monkeypatch):
    """azure-core retries a 5xx three times (Run History: 0 + 1.6 + 3.2 s apart; the log files' GETs: the SDK's
    download policy, 0 + 0.8 + 1.6 s): at once here."""
    from azure.core.pipeline.policies import RetryPolicy

    monkeypatch.setattr(RetryPolicy, "get_backoff_time", lambda self, settings: 0)


def log_requests(aml) -> list[int]:
    """Run details reads and log file GETs served so far."""
    served = aml.meter.requests()
    return [served.get(route, 0) for route in LOG_ROUTES]


def ranges(aml, name: str, path: str = STD) -> list[str]:
    return [byte_range for job, file, byte_range in aml.log_ranges if (job, file) == (name, path)]


async def test_lines_appear_prefixed_in_order_and_once_across_polls(job, aml, shown):
    trigger = job()
    name = trigger.ref.job_id
    aml.write_log(name, "epoch 0\nepoch 1\nepoch 2\n")
    assert await trigger.check() is None
    assert shown() == ["[node_0] epoch 0", "[node_0] epoch 1", "[node_0] epoch 2"]

    (details, gets) = log_requests(aml)
    assert await trigger.check() is None  # nothing new: nothing shown
    assert len(shown()) == 3
    assert log_requests(aml) == [details, gets + 1]  # the file's new bytes asked for; its URL kept from before
    aml.write_log(name, "epoch 3\r\n\nmulti\n")
    await trigger.check()
    assert shown()[3:] == ["[node_0] epoch 3", "[node_0]", "[node_0] multi"]
    assert trigger.log_cursor == {"files": {STD: 40}}  # every byte consumed
    assert json.loads(json.dumps(trigger.log_cursor)) == trigger.log_cursor  # JSON-able, as kwargs must be


async def test_only_new_bytes_are_requested(job, aml):
    trigger = job()
    name = trigger.ref.job_id
    await trigger.check()  # no log file yet: Run History lists none, no file read
    assert ranges(aml, name) == []
    aml.write_log(name, "0123456\n")
    await trigger.check()
    await trigger.check()  # nothing new: Blob answers 416 InvalidRange
    aml.write_log(name, "89\n")
    await trigger.check()
    await trigger.check()
    end = logs.MAX_BYTES_PER_FILE - 1
    assert ranges(aml, name) == [f"bytes={start}-{start + end}" for start in (0, 8, 8, 11)]


def test_the_emulator_serves_log_files_as_azure_blob_does(job, aml):
    """What the reads above rely on, through the SDK's requests pipeline: ranged GETs of the SAS URLs Run History
    lists (the files written so far), Blob's answers and error codes."""
    trigger = job(stream_logs=False)
    name = trigger.ref.job_id
    client = AzureMLBackend().client
    assert client.jobs._runs_operations.get_run_details(name).log_files == {}
    aml.write_log(name, "0123456789")
    [(path, url)] = client.jobs._runs_operations.get_run_details(name).log_files.items()
    assert path == STD and url == aml.log_url(name, STD) and url.endswith("&sig=fake")

    def get(byte_range=None):
        response = client.jobs._requests_pipeline.get(url, headers={"Range": byte_range} if byte_range else {})
        headers = response.headers
        return response.status_code, response.read(), headers.get("Content-Range"), headers.get("x-ms-error-code")

    assert get("bytes=2-4") == (206, b"234", "bytes 2-4/10", None)
    assert get("bytes=8-") == (206, b"89", "bytes 8-9/10", None)
    assert get("bytes=8-100") == (206, b"89", "bytes 8-9/10", None)
    assert get("bytes=10-20")[::2] == (416, "bytes */10") and get("bytes=10-20")[3] == "InvalidRange"
    assert get() == (200, b"0123456789", None, None)
    aml.deny_logs = True
    assert get("bytes=0-")[::3] == (403, "AuthorizationFailure")
    url = url.replace(STD, "user_logs/std_log_process_1.txt")
    aml.deny_logs = False
    assert get("bytes=0-")[::3] == (404, "BlobNotFound")
    assert aml.authorizations[-1] == ""  # the SAS is the authorization: no bearer token sent to storage


async def test_a_partial_line_waits_for_its_newline(job, aml, shown):
    trigger = job()
    name = trigger.ref.job_id
    aml.write_log(name, "step 1\nstep 2 lo")
    await trigger.check()
    assert shown() == ["[node_0] step 1"]
    await trigger.check()
    assert shown() == ["[node_0] step 1"]  # still no newline
    aml.write_log(name, "ss=0.5\n")
    await trigger.check()
    assert shown() == ["[node_0] step 1", "[node_0] step 2 loss=0.5"]


async def test_a_partial_line_is_shown_by_the_final_read(job, aml, shown):
    trigger = job()
    name = trigger.ref.job_id
    aml.write_log(name, "epoch 1\nexiting without a newline")
    await trigger.check()
    assert shown() == ["[node_0] epoch 1"]
    aml.set_status(name, "Completed")
    assert (await trigger.check())["status"]["state"] == "succeeded"
    assert shown() == ["[node_0] epoch 1", "[node_0] exiting without a newline"]


async def test_every_node_and_process_is_prefixed_files_in_name_order(job, aml, shown):
    trigger = job(nodes=2)
    name = trigger.ref.job_id
    aml.write_log(name, "a0\n", path="user_logs/std_log_node_0_process_0.txt")
    await trigger.check()  # node 1 has no file yet
    aml.write_log(name, "b0\nb1\n", path="user_logs/std_log_node_1_process_0.txt")
    aml.write_log(name, "a1\n", path="user_logs/std_log_node_0_process_0.txt")
    aml.write_log(name, "not the job's output\n", path="system_logs/lifecycler/execution-wrapper.log")
    await trigger.check()
    assert shown() == [
        "[node_0_process_0] a0",
        "[node_0_process_0] a1",  # files in name order, each file's lines in order
        "[node_1_process_0] b0",
        "[node_1_process_0] b1",
    ]
    assert set(trigger.log_cursor["files"]) == {
        "user_logs/std_log_node_0_process_0.txt",
        "user_logs/std_log_node_1_process_0.txt",
    }


async def test_the_legacy_runtimes_driver_logs_stream_too(job, aml, shown):
    trigger = job()
    name = trigger.ref.job_id
    aml.write_log(name, "driver 0\n", path="azureml-logs/70_driver_log_0.txt")
    aml.write_log(name, "driver 1\n", path="azureml-logs/70_driver_log_1.txt")
    await trigger.check()
    assert shown() == ["[driver_0] driver 0", "[driver_1] driver 1"]


async def test_a_poll_shows_at_most_its_budget_newest_first_after_a_skip_marker(job, aml, shown):
    trigger = job(max_log_lines_per_poll=5)
    name = trigger.ref.job_id
    aml.write_log(name, "".join(f"line {i}\n" for i in range(12)))
    await trigger.check()
    assert shown() == [
        "… 7 lines skipped (max_log_lines_per_poll=5)",
        *(f"[node_0] line {i}" for i in range(7, 12)),
    ]
    aml.write_log(name, "line 12\nline 13\n")
    await trigger.check()
    assert shown()[6:] == ["[node_0] line 12", "[node_0] line 13"]  # within the budget: all, no marker


async def test_a_file_larger_than_a_read_comes_over_several_polls(job, aml, shown, monkeypatch):
    monkeypatch.setattr(logs, "MAX_BYTES_PER_FILE", 16)
    trigger = job()
    name = trigger.ref.job_id
    aml.write_log(name, "".join(f"line {i:02d}\n" for i in range(6)))  # 8 bytes a line: 2 lines a read
    await trigger.check()
    assert shown() == ["[node_0] line 00", "[node_0] line 01"]
    await trigger.check()
    await trigger.check()
    assert shown() == [f"[node_0] line {i:02d}" for i in range(6)]  # late, none lost


async def test_the_final_event_brings_the_last_lines(job, aml, shown):
    trigger = job()
    name = trigger.ref.job_id
    task = asyncio.create_task(anext(trigger.run()))
    aml.write_log(name, "starting\n")
    while "[node_0] starting" not in shown():
        await asyncio.sleep(0.02)
    aml.write_log(name, "Traceback: loss is NaN\n")
    aml.set_status(name, "Failed", error="Execution failed: loss is NaN")
    event = await asyncio.wait_for(task, timeout=10)
    assert event.payload["status"]["state"] == "failed"
    assert shown() == ["[node_0] starting", "[node_0] Traceback: loss is NaN"]


async def test_no_log_read_without_stream_logs(job, aml):
    quiet = job(stream_logs=False)
    aml.write_log(quiet.ref.job_id, "x\n")
    await quiet.check()
    aml.set_status(quiet.ref.job_id, "Completed")
    assert (await quiet.check())["status"]["state"] == "succeeded"
    assert log_requests(aml) == [0, 0]


async def test_no_log_read_while_the_job_is_pending(job, aml):
    pending = job(Lifecycle("Queued"))
    aml.write_log(pending.ref.job_id, "x\n")
    assert await pending.check() is None and pending.pending
    assert await pending.check() is None
    assert log_requests(aml) == [0, 0]


async def test_a_rebuilt_trigger_resumes_from_its_serialized_cursor(job, aml, shown):
    trigger = job()
    name = trigger.ref.job_id
    aml.write_log(name, "one\ntwo\nthr")
    await trigger.check()
    _, kwargs = trigger.serialize()
    assert kwargs["log_cursor"] == trigger.log_cursor == {"files": {STD: 8}} and kwargs["stream_logs"] is True
    await close_pollers()  # the triggerer, its poller and its client are gone

    aml.write_log(name, "ee\n")
    revived = LaunchJobTrigger(**kwargs)
    await revived.check()
    assert shown() == ["[node_0] one", "[node_0] two", "[node_0] three"]
    assert ranges(aml, name)[-1].startswith("bytes=8-")


async def test_a_trigger_recreated_after_a_triggerer_restart_resumes_from_the_xcom_cursor(job, aml, shown, xcom):
    """The triggerer re-creates a trigger from the kwargs serialized at deferral (no cursor): it resumes from the
    cursor the first one persisted after each chunk it showed."""
    trigger = job()
    _, deferred_kwargs = trigger.serialize()  # what the operator stored when it deferred
    trigger.task_instance = TI
    name = trigger.ref.job_id
    aml.write_log(name, "one\ntwo\n")
    await trigger.check()
    saved = xcom[(LOG_CURSOR_KEY, "d", "train", "manual__1", -1)]
    assert saved == {"job_id": name, "cursor": {"files": {STD: 8}}}
    await close_pollers()

    aml.write_log(name, "three\n")
    revived = LaunchJobTrigger(**deferred_kwargs)
    assert revived.log_cursor is None
    revived.task_instance = TI
    await revived.check()
    aml.write_log(name, "four\n")
    await revived.check()
    assert shown() == ["[node_0] one", "[node_0] two", "[node_0] three", "[node_0] four"]


async def test_the_cursor_is_saved_only_after_lines_were_shown(job, aml, xcom):
    trigger = job()
    trigger.task_instance = TI
    await trigger.check()  # no log file yet
    aml.write_log(trigger.ref.job_id, "partial")
    await trigger.check()  # nothing complete: nothing consumed
    assert xcom["writes"] == []
    aml.write_log(trigger.ref.job_id, " line\n")
    await trigger.check()
    await trigger.check()  # nothing new
    assert len(xcom["writes"]) == 1


@pytest.mark.parametrize(
    ("switch", "code"), [("deny_run_details", "AuthorizationFailed"), ("deny_logs", "AuthorizationFailure")]
)
async def test_a_denied_log_read_is_reported_once_and_the_job_still_completes(job, aml, caplog, shown, switch, code):
    trigger = job()
    name = trigger.ref.job_id
    aml.write_log(name, "secret\n")
    setattr(aml, switch, True)
    task = asyncio.create_task(anext(trigger.run()))
    while not warnings(caplog, "May not read"):
        await asyncio.sleep(0.02)
    before, listed = log_requests(aml), aml.meter.requests()["job_list"]
    await asyncio.sleep(0.3)  # a few more polls
    assert aml.meter.requests()["job_list"] > listed  # the wait goes on ...
    assert log_requests(aml) == before  # ... without log reads
    aml.set_status(name, "Completed")
    event = await asyncio.wait_for(task, timeout=10)
    assert event.payload["status"]["state"] == "succeeded"
    said = warnings(caplog, "May not read")
    assert len(said) == 1 and code in said[0] and "sig=" not in said[0]
    assert shown() == []


@pytest.mark.parametrize("route", LOG_ROUTES)
async def test_other_log_read_errors_are_reported_once_and_the_lines_come_later(
    job, aml, no_backoff, caplog, shown, route
):
    trigger = job()
    name = trigger.ref.job_id
    aml.write_log(name, "one\ntwo\n")
    aml.log_faults.inject(500, times=8, method=route)  # one try + 3 retries: two polls fail
    for _ in range(3):
        assert await trigger.check() is None
    assert aml.log_faults.served == [500] * 8
    assert len(warnings(caplog, "logs failed")) == 1  # two failed polls in a row, one warning
    assert shown() == ["[node_0] one", "[node_0] two"]  # nothing lost, nothing twice
    aml.set_status(name, "Completed")
    assert (await trigger.check())["status"]["state"] == "succeeded"
    assert shown() == ["[node_0] one", "[node_0] two"]


async def test_a_slow_log_read_blocks_no_other_trigger(job, aml, shown, monkeypatch):
    from airflow_wandb_launch.triggers import launch

    monkeypatch.setattr(launch, "LOG_WAIT_SECONDS", 0.5)  # a poll waits for its log read half a second at most
    slow, fast = job(), job()
    await slow.check()  # the client is built, its token fetched
    aml.write_log(slow.ref.job_id, "slow\n")
    aml.log_faults.inject(200, times=1, delay=2.0, method="run_get")
    slow_poll = asyncio.create_task(slow.check())
    while aml.log_faults.served != [200]:
        await asyncio.sleep(0.02)  # the slow trigger's log read is in flight
    aml.set_status(fast.ref.job_id, "Completed")
    event = await asyncio.wait_for(anext(fast.run()), timeout=5)
    assert event.payload["status"]["state"] == "succeeded"
    await asyncio.wait_for(slow_poll, timeout=5)  # its poll waited for its log read briefly ...
    async with asyncio.timeout(5):
        while "[node_0] slow" not in shown():  # ... which ended in the background
            await asyncio.sleep(0.05)
    assert shown() == ["[node_0] slow"]
    assert (await fast.backend()).client is (await slow.backend()).client  # one MLClient for the connection


async def test_a_kept_log_url_that_expired_is_read_again_from_run_history(job, aml, shown, monkeypatch):
    """Between Run History reads a poll GETs the files at the SAS URLs it kept; a refused one (an expired SAS) makes
    it ask Run History for fresh URLs once, and the lines still come, with no 'may not read'."""
    trigger = job()
    name = trigger.ref.job_id
    aml.write_log(name, "one\n")
    await trigger.check()
    aml.write_log(name, "two\n")
    aml.log_faults.inject(403, times=1, method="log_blob")  # the kept URL's SAS has expired
    details = log_requests(aml)[0]
    await trigger.check()
    assert shown() == ["[node_0] one", "[node_0] two"]
    assert log_requests(aml)[0] == details + 1  # fresh URLs, once
    assert trigger._tailing  # still streaming
