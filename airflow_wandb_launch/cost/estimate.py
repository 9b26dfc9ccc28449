"""A finished job's estimated cost, from what its backend recorded at submit and the cloud's own timing.

Each cloud backend records ``JobRef.pricing`` at submit (``launch.pricing_inputs.PricingInputs``), e.g.::

    PricingInputs("vertex", "us-central1", False, (Machine("n1-standard-8+1xNVIDIA_TESLA_T4", 2),))

:func:`job_cost` combines it with the job's last :class:`~airflow_wandb_launch.launch.job.JobStatus` and
:func:`~airflow_wandb_launch.cost.pricing.estimate_cost`. The seconds each machine is billed for are its backend's
``billable_seconds`` of the status details:

- **SageMaker**: ``BillableTimeInSeconds x InstanceCount`` at the on-demand rate (managed spot's saving is already
  in the billable time).
- **Vertex AI** and **Azure ML**: ``(end - start) x replicas`` at the on-demand rate, or the spot rate with spot.
  Vertex reports one start and end per job, not per replica, so every replica is charged the job's whole
  running time (a slight overestimate for workers that start late). A job whose pools use different machines is
  priced pool by pool, each at its own rate, and the estimates added (``instance_type`` then lists them).

Prices are the built-in table of :mod:`airflow_wandb_launch.cost.pricing` with the Airflow Variable
``wandb_launch_prices`` (``pricing.PRICES_VARIABLE``) applied over it, read only when a cost is computed.
No estimate (``None``, with a log line saying why) for local resources, unpriced machines or regions, and jobs
without timing (one that never started). Importable without Airflow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_wandb_launch.cost.pricing import (
    PRICES_AS_OF,
    PRICES_VARIABLE,
    CostEstimate,
    UnknownPrice,
    estimate_cost,
    prices_from_variable,
)
from airflow_wandb_launch.launch.job import JobRef, JobStatus
from airflow_wandb_launch.launch.pricing_inputs import Machine, PricingInputs

log = logging.getLogger(__name__)


class NoCost(ValueError):
    """Why a job has no cost estimate."""


def load_prices(logger: logging.Logger | logging.LoggerAdapter = log) -> dict[str, Any]:
    """Price overrides from the Airflow Variable ``wandb_launch_prices``; ``{}`` if unset or unreadable.

    :param logger: where a bad Variable is reported (it never fails the caller).
    """
    try:
        return prices_from_variable()
    except Exception as err:
        logger.warning("Ignoring the %s Variable (built-in prices used): %s", PRICES_VARIABLE, err)
        return {}


def job_cost(
    ref: JobRef,
    status: JobStatus,
    *,
    prices: Mapping[Any, Any] | None = None,
    logger: logging.Logger | logging.LoggerAdapter = log,
) -> CostEstimate | None:
    """The job's estimated cost, or None (logged with the reason) when it cannot be estimated.

    :param ref: the job, with ``pricing`` from its backend's submit.
    :param status: its last status (SageMaker: ``details.BillableTimeInSeconds``; Vertex and Azure ML:
        ``details.start_time`` / ``details.end_time``).
    :param prices: price overrides (see ``pricing.merge_prices``); default: the ``wandb_launch_prices`` Variable,
        read only for a job that has pricing inputs.
    :param logger: where the reason for no estimate goes.
    """
    inputs = ref.pricing
    try:
        if inputs and prices is None:
            prices = load_prices(logger)
        return estimate(inputs, status.details, prices=prices)
    except (NoCost, UnknownPrice, ValueError) as err:
        logger.info("No cost estimate for %s job %s: %s", ref.resource, ref.job_id, err)
    except Exception as err:  # a cost must never fail the task
        logger.warning("No cost estimate for %s job %s: %r", ref.resource, ref.job_id, err)
    return None


def estimate(
    inputs: PricingInputs | None,
    details: Mapping[str, Any],
    *,
    prices: Mapping[Any, Any] | None = None,
) -> CostEstimate:
    """The cost from pricing inputs and status details. Pure.

    :param inputs: what the backend recorded at submit (``None`` for resources that record none).
    :param details: ``JobStatus.details``.
    :param prices: price overrides.
    :raises NoCost: for missing inputs, an unknown machine or missing timing.
    :raises UnknownPrice: for an unpriced machine or region.
    """
    if not inputs:
        raise NoCost("the resource records no pricing inputs (local resources cost nothing here)")
    cloud, region, machines = inputs.cloud, inputs.region, inputs.machines
    if not region:
        raise NoCost(f"the {cloud} region is unknown")
    unknown = [m for m in machines if not m.instance_type]
    if not machines or unknown:
        where = f" (compute cluster {unknown[0].compute!r})" if unknown and unknown[0].compute else ""
        raise NoCost(f"the machine type is not known{where}: its VM size is the cluster's, not the job's")
    seconds = job_seconds(cloud, details)
    parts = [
        estimate_cost(
            cloud, str(m.instance_type), region, seconds=seconds, count=m.count, spot=inputs.spot, prices=prices
        )
        for m in machines
    ]
    return parts[0] if len(parts) == 1 else combine(parts, machines)


def job_seconds(cloud: str, details: Mapping[str, Any]) -> float:
    """Seconds each machine is billed for, as the cloud's backend reads them from its status details.

    :param cloud: the cloud (a registered resource).
    :param details: ``JobStatus.details``.
    :raises NoCost: if the cloud reported no timing.
    """
    from airflow_wandb_launch.backends import backend_class
    from airflow_wandb_launch.backends.base import NoBillableTime

    try:
        return backend_class(cloud).billable_seconds(details)
    except NoBillableTime as err:
        raise NoCost(str(err)) from err


def combine(parts: list[CostEstimate], machines: Sequence[Machine]) -> CostEstimate:
    """One estimate of a job on several machine types: costs and machine-seconds added up.

    :param parts: one estimate per machine type.
    :param machines: the machines, in the same order (``{"instance_type", "count"}``).
    """
    usd = round(sum(p.usd for p in parts), 2)
    billable = sum(p.billable_seconds for p in parts)
    names = " + ".join(f"{m.count}x {p.instance_type}" for p, m in zip(parts, machines, strict=True))
    rate = round(sum(p.hourly_rate * p.billable_seconds for p in parts) / billable, 4) if billable else 0.0
    sources = "; ".join(dict.fromkeys(p.source for p in parts))
    return CostEstimate(usd, billable, names, parts[0].cloud, rate, parts[0].spot, sources)


def cost_dict(cost: CostEstimate | None, ref: JobRef) -> dict[str, Any] | None:
    """The LaunchResult's ``cost``: the estimate as JSON, with ``machines`` and ``prices_as_of``.

    :param cost: the estimate, or None.
    :param ref: the job (for the machine count).
    """
    if cost is None:
        return None
    return {
        "usd": cost.usd,
        "billable_seconds": cost.billable_seconds,
        "instance_type": cost.instance_type,
        "cloud": cost.cloud,
        "hourly_rate": cost.hourly_rate,
        "spot": cost.spot,
        "source": cost.source,
        "prices_as_of": PRICES_AS_OF,
        "machines": ref.pricing.machine_count if ref.pricing else 0,
    }


def write_cost_summary(
    hook: Any, run_path: str, cost: CostEstimate, logger: logging.Logger | logging.LoggerAdapter = log
) -> bool:
    """Write ``airflow/cost_usd`` ... into the W&B run's summary. Best effort: a failure is a warning.

    :param hook: a ``WandbHook``.
    :param run_path: ``entity/project/run_id``.
    :param cost: the estimate.
    :param logger: where a failure is reported.
    :return: whether it was written.
    """
    try:
        hook.update_run_summary(run_path, cost.summary())
    except Exception as err:
        logger.warning("Could not write the cost to W&B run %s's summary: %s", run_path, err)
        return False
    return True
