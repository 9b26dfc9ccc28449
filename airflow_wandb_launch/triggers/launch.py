"""LaunchJobTrigger: waits in the triggerer for any backend's job to end, pass its deadline, or be killed."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_wandb_launch.backends import Backend
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.logs import LogRead, LogsDenied, skip_marker
from airflow_wandb_launch.triggers.polling import PollingTrigger
from airflow_wandb_launch.triggers.status_poller import StatusPoller, poller_for

#: XCom key (of the deferred task) where a streaming trigger keeps its log cursor after each chunk it shows: the
#: trigger a triggerer restart re-creates from its original kwargs resumes from there. Airflow clears it when
#: the task's next try starts (that try's log shows the job's lines from its start again).
LOG_CURSOR_KEY = "wandb_launch_log_cursor"
#: seconds one log read may take (a read that takes longer is dropped: the next poll reads those lines again).
LOG_READ_TIMEOUT = 60.0
#: seconds a poll waits for its log read at the least: beyond that and its poll interval, the read goes on in the
#: background and the next status read does not wait for it (a slow logging service never delays the job's end).
LOG_WAIT_SECONDS = 1.0


class LaunchJobTrigger(PollingTrigger):
    """Wait for a launched job to reach a terminal state; the event carries the job and its last status.

    Its kwargs hold connection ids and the job reference, never credentials. In the triggerer, every trigger of
    one connection shares one backend (one SDK client) and one ``StatusPoller``, which reads all their jobs in one
    batch per round; the trigger keeps its own deadline, pending deadline, error budget and ``on_kill``.

    :param job_ref: the job (``JobRef.to_dict()``).
    :param connection_args: the backend's connection arguments.
    :param poll_interval: seconds between status reads.
    :param deadline: epoch seconds after which the job is stopped and the event says ``timed_out``.
    :param pending_timeout: seconds the job may stay pending before it is stopped and the event says ``failed``.
    :param pending_since: epoch seconds the job was submitted.
    :param cancel_on_kill: stop the job when a user kills the deferred task.
    :param stream_logs: after each status read of a started job (and once more when it ended), write the job's
        new log lines to the trigger's log, which Airflow shows in the task's log.
    :param max_log_lines_per_poll: lines shown per read at most: the newest ones, after a ``… N lines
        skipped`` line for the older ones left out.
    :param log_cursor: where the log stream resumes (the backend's cursor; None: from the job's start).

    A log read shares the connection's backend (and its client), runs off the event loop, and is made together
    with the reads of the other triggers of the connection that the same status round woke (``log_batch``); a
    poll waits for it at most one poll interval (``LOG_WAIT_SECONDS`` at least), then the read goes on in the
    background while the status reads go on (the final read is awaited). A permission error is reported once and
    streaming stops; any other failed read is reported (once in a row) and retried at the next poll; neither
    touches the wait. The cursor is kept in memory (``serialize`` carries it) and, after each chunk of lines
    shown, in the task's ``wandb_launch_log_cursor`` XCom, from which a trigger re-created after a triggerer
    restart resumes: no line is shown twice, unless the triggerer dies between showing a chunk and saving its
    cursor (that one chunk is shown again).
    """

    fields = ("job_ref", "connection_args", "stream_logs", "max_log_lines_per_poll", "log_cursor")
    paced_by_reads = True  # the poller's rounds pace the reads

    def __init__(
        self,
        *,
        job_ref: dict[str, Any],
        connection_args: dict[str, Any] | None = None,
        stream_logs: bool = False,
        max_log_lines_per_poll: int = 200,
        log_cursor: dict[str, Any] | None = None,
        **polling: Any,
    ) -> None:
        super().__init__(**polling)
        self.job_ref = job_ref
        self.connection_args = connection_args or {}
        self.stream_logs, self.max_log_lines_per_poll = stream_logs, max_log_lines_per_poll
        self.log_cursor = log_cursor
        self.ref = JobRef.from_dict(job_ref)
        self._last: JobStatus | None = None
        self._tailing = stream_logs  # off after a permission error, or where the backend reads no logs
        self._cursor_restored = False
        self._log_error: str | None = None
        self._cursor_unsaved = False  # saving the cursor failed (said once)
        self._tailing_task: asyncio.Task | None = None  # the log read in flight

    @property
    def poller(self) -> StatusPoller:
        """This connection's poller in this process (shared with every other trigger of the connection)."""
        return poller_for(self.ref.resource, self.connection_args)

    async def backend(self) -> Backend:
        """This connection's shared backend (built off the event loop)."""
        return await self.poller.backend()

    def describe(self) -> str:
        return f"{self.ref.resource} job {self.ref.job_id}"

    async def check(self) -> dict[str, Any] | None:
        left = self._time_left()
        try:
            status = await asyncio.wait_for(
                self.poller.status(self.ref, self.poll_interval), left if left < 1e9 else None
            )
        except TimeoutError:  # a deadline comes before the next round: the loop handles it
            return None
        if self._last is None or status.state is not self._last.state:
            self.log.info("%s is %s (%s)", self.describe(), status.state.value, status.cloud_state)
        self._last = status
        self.pending = status.state is JobState.PENDING
        if status.state.terminal:
            await self._tail(final=True)  # the lines written since the last poll
            return self._payload(status)
        if not self.pending:  # nothing has run yet: no log to read
            await self._tail()
        return None

    async def _tail(self, *, final: bool = False) -> None:
        """Read the job's new lines, unless a read is still in flight; wait for it at most one poll interval (the
        final read: until it is done, after any read in flight)."""
        if not self._tailing:
            return
        task = self._tailing_task
        if task is not None and not task.done():
            if not final:
                await asyncio.wait({task}, timeout=max(self.poll_interval, LOG_WAIT_SECONDS))
                return
            await asyncio.wait({task})  # the final read comes after the one in flight
        task = self._tailing_task = asyncio.get_running_loop().create_task(self._tail_logs(final=final))
        if final:
            await task
        else:
            await asyncio.wait({task}, timeout=max(self.poll_interval, LOG_WAIT_SECONDS))

    # -- logs -------------------------------------------------------------------------------------------------

    async def _tail_logs(self, *, final: bool = False) -> None:
        """Show the job's new log lines; keep (and persist) where the next read starts. Never raises."""
        if not self._tailing:
            return
        if not self._cursor_restored:
            self._cursor_restored = True
            self.log_cursor = await self._saved_cursor() or self.log_cursor
        left = self._time_left()
        try:
            read = self.poller.log_chunk(LogRead(self.ref, self.log_cursor, self.max_log_lines_per_poll, final))
            chunk = await asyncio.wait_for(read, min(LOG_READ_TIMEOUT, max(left, 1.0)))
        except LogsDenied as err:
            self._tailing = False
            self.log.warning(
                "May not read %s's logs, so they are not streamed (the wait goes on): %s", self.describe(), err
            )
            return
        except Exception as err:
            said = f"{err}" or type(err).__name__
            if said != self._log_error:  # once per stretch of the same failure
                self.log.warning("Reading %s's logs failed (retried at the next poll): %s", self.describe(), said)
            self._log_error = said
            return
        self._log_error = None
        if not chunk.supported:
            self._tailing = False
            self.log.info("%s: the backend cannot stream its jobs' logs; see the job's page.", self.describe())
            return
        if chunk.skipped:
            self.log.info("%s", skip_marker(chunk.skipped, self.max_log_lines_per_poll))
        for line in chunk.lines:
            self.log.info("%s", line)
        self.log_cursor = chunk.cursor
        if chunk.lines or chunk.skipped:  # lines consumed: a re-created trigger must not show them again
            await self._save_cursor()

    async def _saved_cursor(self) -> dict[str, Any] | None:
        """The cursor an earlier trigger of this deferral persisted (a triggerer restart), if any."""
        ti = self.task_instance
        if ti is None:  # not in a triggerer (a wait on the worker): nothing persisted
            return None
        try:
            from airflow.sdk.execution_time.xcom import XCom

            saved = await asyncio.to_thread(
                XCom.get_one,
                key=LOG_CURSOR_KEY,
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=ti.map_index,
            )
        except Exception as err:
            self.log.warning("Could not read where %s's log stream stopped: %s", self.describe(), err)
            return None
        if isinstance(saved, dict) and saved.get("job_id") == self.ref.job_id and isinstance(saved.get("cursor"), dict):
            return saved["cursor"]
        return None

    async def _save_cursor(self) -> None:
        """Persist the cursor for a trigger re-created after a restart (in a thread: an XCom backend may block)."""
        ti = self.task_instance
        if ti is None:
            return
        try:
            from airflow.sdk.execution_time.xcom import XCom

            await asyncio.to_thread(
                XCom.set,
                LOG_CURSOR_KEY,
                {"job_id": self.ref.job_id, "cursor": self.log_cursor},
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=ti.map_index,
            )
        except Exception as err:
            if not self._cursor_unsaved:
                self.log.warning(
                    "Could not save where %s's log stream stopped (after a triggerer restart its lines would "
                    "show again): %s",
                    self.describe(),
                    err,
                )
            self._cursor_unsaved = True
        else:
            self._cursor_unsaved = False

    def failure_payload(self, message: str) -> dict[str, Any]:
        return self._payload(JobStatus(JobState.FAILED, "unknown", f"could not read the job's status: {message}"))

    async def on_deadline(self) -> dict[str, Any]:
        self.log.warning("%s passed its deadline: stopping it.", self.describe())
        stopped = await self._stop_saying()
        return self._payload(
            JobStatus(JobState.TIMED_OUT, "deadline", f"the task's execution_timeout passed; {stopped}")
        )

    async def on_pending_timeout(self, seconds: float) -> dict[str, Any]:
        self.log.warning("%s stayed pending for %g s: stopping it.", self.describe(), seconds)
        message = (await self.backend()).pending_timeout_message(self.ref, self._last, seconds)
        stopped = await self._stop_saying()
        cloud_state = self._last.cloud_state if self._last else "pending"
        return self._payload(JobStatus(JobState.FAILED, cloud_state, f"{message}; {stopped}"))

    async def _stop_saying(self) -> str:
        """Stop the job; say what happened."""
        try:
            return await (await self.backend()).acancel(self.ref) or "the job was stopped"
        except Exception as err:
            return f"stopping the job failed: {err}"

    def seen_ended(self) -> bool:
        return self._last is not None and self._last.state.terminal

    async def stop(self) -> None:
        await (await self.backend()).acancel(self.ref)

    def _payload(self, status: JobStatus) -> dict[str, Any]:
        return {"job": self.job_ref, "status": status.to_dict()}

    async def cleanup(self) -> None:
        self.poller.forget_job(self.ref)
        if self._tailing_task is not None:
            self._tailing_task.cancel()
