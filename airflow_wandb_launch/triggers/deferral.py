"""Shared by the provider's triggers: is a trigger's task still deferred (apache/airflow#73454)?"""

from __future__ import annotations

from airflow.triggers.base import BaseTrigger


async def task_still_deferred(trigger: BaseTrigger) -> bool:
    """True if the trigger's task instance is still ``deferred``.

    ``on_kill`` also fires when a trigger merely moves to another triggerer (apache/airflow#73454); the task
    is then still deferred and its job must keep running. If the state cannot be read, the kill is real.

    :param trigger: a running trigger (its ``task_instance`` is set by the triggerer).
    """
    ti = getattr(trigger, "task_instance", None)
    if ti is None:
        return False
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
            dag_id=ti.dag_id,
            task_ids=[ti.task_id],
            run_ids=[ti.run_id],
            map_index=ti.map_index,
        )
        return states[ti.run_id][ti.task_id] == "deferred"
    except Exception as err:
        trigger.log.warning("Could not read the task's state (%s); treating on_kill as a kill.", err)
        return False
