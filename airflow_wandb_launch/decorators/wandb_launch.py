"""``@task.wandb_launch``: a Python function, run on the worker at execute time, says what to launch.

.. code-block:: python

    @task.wandb_launch(resource="local-process", entry_point="python train.py", project="sweeps")
    def train(lr: float) -> dict:
        return {"lr": lr, "epochs": 30}  # the run's config


    train.expand(lr=[0.01, 0.1, 1.0])

The function returns a dict, read as one of:

- **launch overrides** when it has a ``run_config`` key, or when every key is an override key
  (:data:`OVERRIDE_KEYS`: ``run_config``, ``entry_point``, ``resource_args``, ``image``, ``env``, ``tags``);
  each value replaces the decorator's argument of that name;
- **the run's config** (``run_config``) otherwise.

A dict of override keys and keys a typo away from one (``{"image": ..., "entry_poin": ...}``) fails naming the key
(did you mean ...?) rather than launching it as a config; to launch a config whose keys are override names
(``{"env": "CartPole-v1"}``), return ``{"run_config": {...}}``. Anything else (not a dict, a value of the wrong type,
``WANDB_RUN_ID`` in ``env``) raises ``ResourceArgsError`` naming ``return value.<key>``, before anything runs.

Then the task is a ``WandbLaunchOperator``: it submits, defers, pushes XCom and returns the LaunchResult. The
function runs when the task submits its job; a task resuming after a deferral does not call it again (the job it
submitted is already known), nor does a retry that reattaches to an earlier try's job. Returned values are used as
they are (not rendered as Jinja templates).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import Context
from airflow.sdk.bases.decorator import DecoratedOperator, TaskDecorator, determine_kwargs, task_decorator_factory
from airflow.sdk.definitions._internal.types import SET_DURING_EXECUTION, SetDuringExecution

from airflow_wandb_launch.errors import MISSING, ResourceArgsError
from airflow_wandb_launch.launch.resource_args import suggest
from airflow_wandb_launch.operators.launch import WandbLaunchOperator

#: what a returned dict may override, in the order they are documented.
OVERRIDE_KEYS = ("run_config", "entry_point", "resource_args", "image", "env", "tags")
#: where errors in the function's return value point.
RETURN_VALUE = "return value"
#: how close a key must be to an override key to be taken for its typo (difflib ratio).
TYPO_CUTOFF = 0.8


class _WandbLaunchDecoratedOperator(DecoratedOperator, WandbLaunchOperator):
    """A ``WandbLaunchOperator`` whose launch inputs the decorated function returns at execute time.

    :param python_callable: the decorated function; returns the run config or launch overrides (module docs).
    :param op_args: positional arguments of the function (templated).
    :param op_kwargs: keyword arguments of the function (templated; what ``.expand()`` maps over).
    :param kwargs: the ``WandbLaunchOperator`` arguments (``resource``, ``project``, ...).
    """

    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, *WandbLaunchOperator.template_fields)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **WandbLaunchOperator.template_fields_renderers,
    }
    custom_operator_name: str = "@task.wandb_launch"

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not any(kwargs.get(name) for name in ("image", "job", "entry_point")):
            # what to run may come from the function: checked once it has returned
            kwargs["entry_point"] = SET_DURING_EXECUTION
        self._overrides_applied = False
        super().__init__(python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs)

    @property
    def overwrite_rtif_after_execution(self) -> bool:  # type: ignore[override]
        """Show the launched values in the Rendered Template tab, once the function has run in this process."""
        return self._overrides_applied

    def _submit(self, context: Context, *args: Any, **kwargs: Any) -> Any:
        """Call the function, apply what it returned, then submit as ``WandbLaunchOperator`` does.

        Only a submit needs it: a task resuming after a deferral (``execute_complete``), a retry reattaching to
        the job an earlier try submitted, or one replaying an earlier try's success does not call it again. An
        error here is one of ``WandbLaunchOperator.execute``'s "before any job ran" (XCom ``failure``).
        """
        call_context = {**context, **self.op_kwargs}
        returned = self.python_callable(
            *self.op_args, **determine_kwargs(self.python_callable, self.op_args, call_context)
        )
        self._apply(read_return_value(self.resource, returned))
        return super()._submit(context, *args, **kwargs)

    def _apply(self, overrides: dict[str, Any]) -> None:
        for key, value in overrides.items():
            setattr(self, key, value)
        if isinstance(self.entry_point, SetDuringExecution):
            self.entry_point = None
        if "image" in overrides and self.job:
            expected = f"no image: the task launches W&B job {self.job!r}, whose source is its image"
            raise ResourceArgsError(self.resource, f"{RETURN_VALUE}.image", self.image, expected)
        if not (self.image or self.job or self.entry_point):
            key = "entry_point" if self.resource == "local-process" else "image"
            expected = "an image, a W&B job or an entry_point: neither the decorator nor the function gave one"
            raise ResourceArgsError(self.resource, f"{RETURN_VALUE}.{key}", MISSING, expected)
        self._overrides_applied = True
        self.log.info("Launching with %s from %s", sorted(overrides), self.python_callable.__name__)


def read_return_value(resource: str, value: Any) -> dict[str, Any]:
    """The launch overrides a decorated function's return value stands for (module docs), checked.

    :param resource: the task's resource (for error messages).
    :param value: what the function returned.
    :raises ResourceArgsError: naming ``return value.<key>``.
    """
    if not isinstance(value, Mapping):
        expected = f"a dict: the run's config, or launch overrides with keys among {list(OVERRIDE_KEYS)}"
        raise ResourceArgsError(resource, RETURN_VALUE, value, expected)
    keys = list(value)
    known = [k for k in keys if k in OVERRIDE_KEYS]
    others = [k for k in keys if k not in OVERRIDE_KEYS]
    near = [k for k in others if difflib.get_close_matches(str(k), OVERRIDE_KEYS, n=1, cutoff=TYPO_CUTOFF)]
    is_overrides = "run_config" in value or bool(known and not others)
    if not is_overrides and not (known and others and near == others):
        _check_json(resource, RETURN_VALUE, value)
        return {"run_config": dict(value)}
    if "run_config" in value:
        why = "a dict with run_config holds launch overrides: the run's config goes inside run_config"
    else:
        why = f"{known} being override keys, the dict is read as launch overrides; to launch it as the run's config, "
        why += "return {'run_config': {...}}"
    for key in others:
        close = suggest(str(key), OVERRIDE_KEYS)
        hint = f"; did you mean {close!r}?" if close else ""
        expected = f"one of the override keys {list(OVERRIDE_KEYS)}{hint} ({why})"
        raise ResourceArgsError(resource, f"{RETURN_VALUE}.{key}", value[key], expected)
    for key in keys:
        _CHECKS[key](resource, f"{RETURN_VALUE}.{key}", value[key])
    overrides = {key: value[key] for key in keys}
    if "run_config" in overrides:
        overrides["run_config"] = dict(overrides["run_config"])
    for key in ("entry_point", "tags"):
        if isinstance(overrides.get(key), tuple):
            overrides[key] = list(overrides[key])
    return overrides


def _check_run_config(resource: str, path: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise ResourceArgsError(resource, path, value, "a dict: the run's config")
    _check_json(resource, path, value)


def _check_json(resource: str, path: str, value: Any) -> None:
    """A run config goes to the job as JSON (``WANDB_CONFIG``): string keys, JSON values, finite numbers."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ResourceArgsError(resource, f"{path}.{key!r}", item, "a string key (the config is JSON)")
            _check_json(resource, f"{path}.{key}", item)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(resource, f"{path}[{i}]", item)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ResourceArgsError(resource, path, value, "a finite number (the config is JSON)")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise ResourceArgsError(resource, path, value, "a JSON value: a string, number, bool, None, list or dict")


def _check_entry_point(resource: str, path: str, value: Any) -> None:
    if isinstance(value, str):
        if not value.strip():
            raise ResourceArgsError(resource, path, value, "a command: a non-empty string or list of strings")
        return
    if not isinstance(value, list | tuple) or not value:
        raise ResourceArgsError(resource, path, value, "a command: a non-empty string or list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ResourceArgsError(resource, f"{path}[{i}]", item, "a string (one argument of the command)")


def _check_resource_args(resource: str, path: str, value: Any) -> None:
    if not isinstance(value, Mapping | str) or (isinstance(value, str) and not value.strip()):
        expected = "the resource's W&B Launch queue config: a dict, or a YAML/JSON file path relative to the DAG file"
        raise ResourceArgsError(resource, path, value, expected)


def _check_image(resource: str, path: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ResourceArgsError(resource, path, value, "a container image URI (a non-empty string)")


def _check_env(resource: str, path: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise ResourceArgsError(resource, path, value, "a dict of environment variables (name -> string)")
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise ResourceArgsError(resource, f"{path}.{name!r}", item, "a variable name (a non-empty string)")
        if name == "WANDB_RUN_ID":
            expected = "no value: the operator chooses the run id (use run_name to name the run)"
            raise ResourceArgsError(resource, f"{path}.{name}", item, expected)
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ResourceArgsError(resource, f"{path}.{name}", item, "a string (or a number)")


def _check_tags(resource: str, path: str, value: Any) -> None:
    if not isinstance(value, list | tuple):
        raise ResourceArgsError(resource, path, value, "a list of tags (strings)")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ResourceArgsError(resource, f"{path}[{i}]", item, "a tag (a non-empty string)")


_CHECKS: dict[str, Callable[[str, str, Any], None]] = {
    "run_config": _check_run_config,
    "entry_point": _check_entry_point,
    "resource_args": _check_resource_args,
    "image": _check_image,
    "env": _check_env,
    "tags": _check_tags,
}


def wandb_launch_task(python_callable: Callable | None = None, multiple_outputs: bool | None = None, **kwargs: Any):
    """``@task.wandb_launch(resource=..., **operator_args)``: the function returns what to launch (module docs).

    The task returns the LaunchResult as ``WandbLaunchOperator`` does (one XCom ``return_value``; pass
    ``multiple_outputs=True`` to also push each of its keys). It maps with ``.expand()`` over the function's
    arguments, each map index a run of its own.

    :param python_callable: the function (given when used as ``@task.wandb_launch`` without arguments).
    :param multiple_outputs: push the LaunchResult's keys as XComs too (default False, whatever the function's
        return annotation says: the function's return value is not the task's).
    :param kwargs: ``WandbLaunchOperator``'s arguments: ``resource`` (required), ``project``, ``entry_point``, ...
    """
    decorator: TaskDecorator = task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=bool(multiple_outputs),
        decorated_operator_class=_WandbLaunchDecoratedOperator,
        **kwargs,
    )
    return decorator
