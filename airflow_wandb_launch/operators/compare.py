"""WandbCompareRunsOperator: rank the W&B runs of several launch tasks and tag the best one in W&B."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.definitions.mappedoperator import MappedOperator

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

    A mapped launch task (``WandbLaunchOperator.partial(...).expand(...)``, ``@task.wandb_launch`` with
    ``.expand()``) contributes each of its map indexes, named ``<task_id>[<map_index>]``, read the same way.

    :param launch_task_ids: the launch tasks to compare, by task id; each is named by its task id (a mapped one's
        map indexes by ``<task_id>[<map_index>]``).
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
        """Name -> its LaunchResult, else its ``failure`` record, else a record of its state.

        A task is named by its id; each map index of a mapped task by ``<task_id>[<map_index>]``.

        :param context: the task's context.
        """
        dag = context["dag"]
        tasks = {task_id: dag.get_task(task_id) for task_id in self.launch_task_ids}
        mapped = {task_id for task_id, task in tasks.items() if isinstance(task, MappedOperator)}
        states = self._states(context, mapped)
        found: dict[str, dict[str, Any]] = {}
        for task_id, task in tasks.items():
            if task_id not in mapped:
                found[task_id] = self._entry(context, task_id, None, states.get((task_id, -1)), task)
                continue
            indexes = self._map_indexes(context, task_id, states)
            for map_index in indexes:
                name = f"{task_id}[{map_index}]"
                found[name] = self._entry(context, task_id, map_index, states.get((task_id, map_index)), task)
            if not indexes:  # it never expanded (nothing to map over, an upstream failed) or could not be read
                found[task_id] = self._entry(context, task_id, None, states.get((task_id, -1)), task)
        return found

    def _entry(
        self, context: Context, task_id: str, map_index: int | None, state: str | None, task: Any
    ) -> dict[str, Any]:
        """What one launch task, or one map index of a mapped one, left: its result, else failure, else state."""
        ti = context["ti"]
        unexpanded = map_index is None and isinstance(task, MappedOperator)  # no XCom of its own

        def pull(key: str) -> Any:
            if unexpanded:
                return None
            where: dict[str, Any] = {} if map_index is None else {"map_indexes": map_index}
            return ti.xcom_pull(task_ids=task_id, key=key, **where)

        result = pull("return_value")
        if result:
            return result
        failure = pull("failure")
        if failure:  # one that failed before its job ended has no job yet: its run path is in XCom
            return {"run_path": pull("run_path"), **failure}
        name = task_id if map_index is None else f"{task_id}[{map_index}]"
        return {
            "failed": True,
            "resource": _resource_of(task),
            "job_state": None,
            "job_id": pull("job_id"),
            "run_path": pull("run_path"),
            "reason": f"task {name} ended {state or 'unknown'} with no result (it failed before its job ended, or "
            "did not run): see its log",
        }

    def _map_indexes(self, context: Context, task_id: str, states: dict[tuple[str, int], str]) -> list[int]:
        """The map indexes of a mapped launch task in this DAG run: from its states, else its task count."""
        indexes = sorted(i for t, i in states if t == task_id and i >= 0)
        if indexes or states:
            return indexes
        ti = context["ti"]
        try:
            count = ti.get_ti_count(dag_id=ti.dag_id, task_ids=[task_id], run_ids=[ti.run_id])
        except Exception as err:
            self.log.warning("Could not count the map indexes of %s: %s", task_id, err)
            return []
        return list(range(count))

    def _states(self, context: Context, mapped: set[str]) -> dict[tuple[str, int], str]:
        """(task id, map index or -1) -> state, of the launch tasks in this DAG run (best effort: {} if unreadable).

        :param mapped: which launch tasks are mapped (their map indexes come back as ``<task_id>_<map_index>``).
        """
        ti = context["ti"]
        try:
            states = ti.get_task_states(dag_id=ti.dag_id, task_ids=self.launch_task_ids, run_ids=[ti.run_id])
        except Exception as err:
            self.log.warning("Could not read the launch tasks' states: %s", err)
            return {}
        found: dict[tuple[str, int], str] = {}
        for key, state in (states.get(ti.run_id) or {}).items():
            task_id, _, index = key.rpartition("_")
            if key in self.launch_task_ids:
                found[(key, -1)] = str(state)
            elif task_id in mapped and index.isdigit():
                found[(task_id, int(index))] = str(state)
        return found

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


def _resource_of(task: Any) -> str | None:
    """The resource a launch task runs on (a mapped one's, from its partial arguments)."""
    if isinstance(task, MappedOperator):
        return task.partial_kwargs.get("resource")
    return getattr(task, "resource", None)
