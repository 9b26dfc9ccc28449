"""WandbCompareRunsOperator: rank the W&B runs of several launch tasks and tag the best one in W&B."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_wandb_launch.cost.comparison import TIE_BREAKERS, format_table, rank_runs
from airflow_wandb_launch.hooks.wandb import WandbHook


class WandbCompareRunsOperator(BaseOperator):
    """Rank the LaunchResults of ``launch_task_ids`` by a summary metric, then cost, then duration.

    Runs after its upstream launch tasks whatever their outcome (``trigger_rule="all_done"`` by default), so one
    cloud failing does not block the comparison of the others. For each launch task it reads, from XCom:
    ``return_value`` (the LaunchResult of a task that succeeded), else ``failure`` (what
    ``WandbLaunchOperator`` pushes before it fails: after its job ended, the job, its state, the reason and its
    cost; before, the error, e.g. a bad config or a refused submit), else the task's state (a task that never
    ran, or was killed).
    It logs the table (``comparison.format_table``), tags the winning W&B run ``best-<metric>`` (best effort)
    and returns the table (``ComparisonTable.to_dict()``: ``ranked``, ``unranked``, ``failed``, ``winner``).
    Ties and the ranking rules: see ``airflow_wandb_launch.cost.comparison``.

    :param launch_task_ids: the launch tasks to compare (not mapped); each is named by its task id.
    :param metric: the summary metric to rank by (templated).
    :param mode: ``min`` (lower is better, the default) or ``max`` (templated).
    :param tie_breakers: ``cost_usd`` and/or ``duration``, in the order they break ties.
    :param tag_winner: tag the winning run in W&B with ``winner_tag``.
    :param winner_tag: the tag (default ``best-<metric>``).
    :param wandb_conn_id: the ``wandb`` connection.
    """

    template_fields: Sequence[str] = ("metric", "mode", "winner_tag")
    ui_color = "#ffe8a3"

    def __init__(
        self,
        *,
        launch_task_ids: Sequence[str],
        metric: str,
        mode: str = "min",
        tie_breakers: Sequence[str] = TIE_BREAKERS,
        tag_winner: bool = True,
        winner_tag: str | None = None,
        wandb_conn_id: str = WandbHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        if isinstance(launch_task_ids, str) or not launch_task_ids:
            raise ValueError("launch_task_ids is a non-empty list of task ids")
        self.launch_task_ids = list(launch_task_ids)
        self.metric, self.mode, self.tie_breakers = metric, mode, tuple(tie_breakers)
        self.tag_winner, self.winner_tag, self.wandb_conn_id = tag_winner, winner_tag, wandb_conn_id

    @cached_property
    def wandb_hook(self) -> WandbHook:
        return WandbHook(self.wandb_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        results = self.collect(context)
        table = rank_runs(results, self.metric, self.mode, self.tie_breakers)
        self.log.info("Comparison of %d runs:\n%s", len(results), format_table(table))
        data = table.to_dict()
        data["tagged"] = self._tag(table.winner["run_path"]) if table.winner and self.tag_winner else None
        return data

    def collect(self, context: Context) -> dict[str, dict[str, Any]]:
        """Task id -> its LaunchResult, else its ``failure`` record, else a record of its state.

        :param context: the task's context.
        """
        ti = context["ti"]
        states = self._states(context)
        found: dict[str, dict[str, Any]] = {}
        for task_id in self.launch_task_ids:
            result = ti.xcom_pull(task_ids=task_id)
            failure = None if result else ti.xcom_pull(task_ids=task_id, key="failure")
            if result:
                found[task_id] = result
                continue
            if failure:  # one that failed before its job ended has no job yet: its run path is in XCom
                found[task_id] = {"run_path": ti.xcom_pull(task_ids=task_id, key="run_path"), **failure}
                continue
            state = states.get(task_id) or "unknown"
            found[task_id] = {
                "failed": True,
                "resource": getattr(context["dag"].get_task(task_id), "resource", None),
                "job_state": None,
                "job_id": ti.xcom_pull(task_ids=task_id, key="job_id"),
                "run_path": ti.xcom_pull(task_ids=task_id, key="run_path"),
                "reason": f"task {task_id} ended {state} with no result (it failed before its job ended, or did not "
                "run): see its log",
            }
        return found

    def _states(self, context: Context) -> dict[str, str]:
        """The launch tasks' states in this DAG run (best effort: {} if they cannot be read)."""
        ti = context["ti"]
        try:
            states = ti.get_task_states(dag_id=ti.dag_id, task_ids=self.launch_task_ids, run_ids=[ti.run_id])
        except Exception as err:
            self.log.warning("Could not read the launch tasks' states: %s", err)
            return {}
        return {task: str(state) for task, state in (states.get(ti.run_id) or {}).items()}

    def _tag(self, run_path: str | None) -> str | None:
        """Tag the winning run in W&B; the tag, or None if it could not be written (a warning, never a failure)."""
        tag = self.winner_tag or f"best-{self.metric}"
        if not run_path or not self.wandb_hook.credentials.online:
            self.log.info("Not tagging the winner %s: no W&B run to tag", run_path)
            return None
        try:
            self.wandb_hook.add_run_tags(run_path, tag)
        except Exception as err:
            self.log.warning("Could not tag W&B run %s %r: %s", run_path, tag, err)
            return None
        self.log.info("Tagged W&B run %s %r", run_path, tag)
        return tag
