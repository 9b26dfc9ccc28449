"""Is a killed trigger's task still deferred? Tells a user's kill from a trigger moving between triggerers.

Airflow 3.3 calls ``BaseTrigger.on_kill`` also when a trigger merely moves to another triggerer
(apache/airflow#73454); its task is then still ``deferred`` and its job must keep running. A trigger has no
public way to read its task's state: this adapter calls the task SDK's ``RuntimeTaskInstance.get_task_states``
(the implementation of the public ``airflow.sdk.types.RuntimeTaskInstanceProtocol.get_task_states``), checked
against apache-airflow 3.3.2. Drop it when #73454 is fixed.
"""

from __future__ import annotations

from typing import Any


async def task_still_deferred(task_instance: Any, log: Any) -> bool:
    """True if ``task_instance`` (a running trigger's) is still ``deferred``; False if unknown (the kill is real).

    :param task_instance: ``trigger.task_instance``, set by the triggerer (None outside one).
    :param log: where a failed read is reported.
    """
    if task_instance is None:
        return False
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
            dag_id=task_instance.dag_id,
            task_ids=[task_instance.task_id],
            run_ids=[task_instance.run_id],
            map_index=task_instance.map_index,
        )
        return states[task_instance.run_id][task_instance.task_id] == "deferred"
    except Exception as err:
        log.warning("Could not read the task's state (%s); treating on_kill as a kill.", err)
        return False
