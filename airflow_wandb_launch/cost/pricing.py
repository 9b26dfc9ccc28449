"""Approximate hourly prices of the hardware table's machines, and the cost of a run from each cloud's own timing.

**The figures are approximate and dated** (:data:`PRICES_AS_OF`): public list prices (USD per machine-hour, Linux,
pay-as-you-go) as best known on that date, written without access to the price pages, for one US and one EU
region per cloud. Prices change, differ by region and contract, and spot prices move all the time: pass your own
with ``prices=`` (see :func:`merge_prices`), for example from the Airflow Variable :data:`PRICES_VARIABLE` read
by :func:`prices_from_variable`. Sources, per cloud, are in :data:`SOURCES`.

- **SageMaker** (training prices, which include the SageMaker charge over EC2): there is no spot price column. For
  managed spot training AWS reports the saving in ``BillableTimeInSeconds`` instead: the job is billed
  ``BillableTimeInSeconds x InstanceCount x the on-demand rate``, and ``1 - BillableTimeInSeconds /
  TrainingTimeInSeconds`` is the saving (AWS's DescribeTrainingJob docs). So a SageMaker estimate always uses the
  on-demand rate on ``BillableTimeInSeconds``, spot or not.
- **Vertex AI** (custom training prices: machine type plus accelerators, per replica-hour, keyed as
  :func:`~airflow_wandb_launch.cost.hardware.vertex_instance_type` spells them) and **Azure ML** (the VM's price;
  Azure ML adds no charge of its own): cost is ``(end - start) x replicas x rate``, the spot rate with spot.
  Spot figures here are a rough typical discount (:data:`SPOT_FRACTION`) of on-demand, not quotes.

An unknown (cloud, instance type, region) raises :class:`UnknownPrice` naming what is known, rather than guess: a
caller that must not fail (a cost summary after a run) catches it and records no cost.

Importable without Airflow; pure except :func:`prices_from_variable`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from airflow_wandb_launch.cost.hardware import AZURE_ML, SAGEMAKER, VERTEX, canonical_cloud

#: the date the built-in figures were last checked against (memory of) the public price lists
PRICES_AS_OF = "2024-12-01"
#: an Airflow Variable holding price overrides as JSON, in the nested form :func:`merge_prices` reads
PRICES_VARIABLE = "wandb_launch_prices"
SOURCES = {
    SAGEMAKER: "AWS Amazon SageMaker pricing page, Training, on-demand (aws.amazon.com/sagemaker/pricing)",
    VERTEX: "Google Cloud Vertex AI pricing page, custom training (cloud.google.com/vertex-ai/pricing)",
    AZURE_ML: "Azure Linux Virtual Machines pricing page, pay-as-you-go (azure.microsoft.com/pricing/details/"
    "virtual-machines/linux); Azure ML bills the VM price",
}
US_REGIONS = {SAGEMAKER: "us-east-1", VERTEX: "us-central1", AZURE_ML: "eastus"}
EU_REGIONS = {SAGEMAKER: "eu-west-1", VERTEX: "europe-west4", AZURE_ML: "westeurope"}
#: EU prices as a rough multiple of the US ones (list prices in these regions run ~5-15% higher)
EU_FACTOR = {SAGEMAKER: 1.08, VERTEX: 1.10, AZURE_ML: 1.10}
#: spot as a rough fraction of on-demand (SageMaker: none, see the module docstring)
SPOT_FRACTION = {VERTEX: 0.35, AZURE_ML: 0.30}


class UnknownPrice(LookupError):
    """No price for a (cloud, instance type, region), or no spot price where spot was asked for."""


@dataclass(frozen=True)
class Price:
    """A machine's hourly price in USD.

    :param on_demand: the on-demand rate.
    :param spot: the spot rate; ``None`` if unknown (and always for SageMaker).
    :param source: where the figure comes from.
    """

    on_demand: float
    spot: float | None = None
    source: str = ""


@dataclass(frozen=True)
class CostEstimate:
    """A run's estimated cost.

    :param usd: the estimate, rounded half up to cents.
    :param billable_seconds: machine-seconds billed (seconds x machines).
    :param instance_type: the machine (Vertex: ``machine_type+<n>x<accelerator>``).
    :param cloud: the cloud.
    :param hourly_rate: USD per machine-hour used.
    :param spot: whether the run was on spot capacity.
    :param source: where the rate comes from, and its date.
    """

    usd: float
    billable_seconds: float
    instance_type: str
    cloud: str
    hourly_rate: float
    spot: bool
    source: str

    def summary(self) -> dict[str, Any]:
        """The W&B run summary entries for this estimate (``airflow/cost_usd`` ...)."""
        return {
            "airflow/cost_usd": self.usd,
            "airflow/billable_seconds": self.billable_seconds,
            "airflow/instance_type": self.instance_type,
            "airflow/cloud": self.cloud,
        }


# On-demand USD per machine-hour in the US region (approximate, as of PRICES_AS_OF).
_SAGEMAKER_US = {
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.m5.4xlarge": 0.922,
    "ml.g4dn.xlarge": 0.736,
    "ml.g6.xlarge": 1.006,  # uncertain: a newer type, figure inferred from EC2's price plus SageMaker's charge
    "ml.p3.2xlarge": 3.825,
    "ml.p3.8xlarge": 14.688,
    "ml.p3.16xlarge": 28.152,
    "ml.p4d.24xlarge": 37.688,
    "ml.p4de.24xlarge": 47.11,  # uncertain
    "ml.p5.48xlarge": 113.07,  # uncertain: AWS has cut P4/P5 prices since; override
}
#: types not claimed for the EU region (limited or unknown availability there)
_SAGEMAKER_NOT_EU = ("ml.g6.xlarge", "ml.p4de.24xlarge", "ml.p5.48xlarge")
_VERTEX_US = {
    "n1-standard-4": 0.2185,
    "n1-standard-8": 0.437,
    "n1-standard-16": 0.8741,
    "n1-standard-8+1xNVIDIA_TESLA_T4": 0.8395,  # n1-standard-8 + 1 T4 (0.4025)
    "g2-standard-8+1xNVIDIA_L4": 0.9816,  # uncertain
    "n1-standard-8+1xNVIDIA_TESLA_V100": 3.289,  # n1-standard-8 + 1 V100 (2.852)
    "n1-standard-32+4xNVIDIA_TESLA_V100": 13.1561,
    "n1-standard-64+8xNVIDIA_TESLA_V100": 26.3123,
    "a2-highgpu-1g+1xNVIDIA_TESLA_A100": 4.2245,
    "a2-highgpu-4g+4xNVIDIA_TESLA_A100": 16.8978,
    "a2-highgpu-8g+8xNVIDIA_TESLA_A100": 33.7955,
    "a2-ultragpu-8g+8xNVIDIA_A100_80GB": 46.2526,  # uncertain
    "a3-highgpu-8g+8xNVIDIA_H100_80GB": 101.4881,  # uncertain
}
_AZURE_US = {
    "Standard_D4s_v3": 0.192,
    "Standard_D8s_v3": 0.384,
    "Standard_D16s_v3": 0.768,
    "Standard_NC4as_T4_v3": 0.526,
    "Standard_NC6s_v3": 3.06,
    "Standard_NC24s_v3": 12.24,
    "Standard_ND96asr_v4": 27.197,
    "Standard_ND96amsr_A100_v4": 32.77,
    "Standard_ND96isr_H100_v5": 98.32,  # uncertain
}
_AZURE_NOT_EU = ("Standard_ND96isr_H100_v5",)


def _build() -> dict[tuple[str, str, str], Price]:
    table: dict[tuple[str, str, str], Price] = {}
    for cloud, us, not_eu in (
        (SAGEMAKER, _SAGEMAKER_US, _SAGEMAKER_NOT_EU),
        (VERTEX, _VERTEX_US, ()),
        (AZURE_ML, _AZURE_US, _AZURE_NOT_EU),
    ):
        source = f"{SOURCES[cloud]}, approximate, as of {PRICES_AS_OF}"
        spot = SPOT_FRACTION.get(cloud)
        for instance_type, rate in us.items():
            regions = [(US_REGIONS[cloud], 1.0)]
            if instance_type not in not_eu:
                regions.append((EU_REGIONS[cloud], EU_FACTOR[cloud]))
            for region, factor in regions:
                on_demand = round(rate * factor, 4)
                spot_rate = round(on_demand * spot, 4) if spot else None
                table[(cloud, instance_type, region)] = Price(on_demand, spot_rate, source)
    return table


#: (cloud, instance type, region) -> Price
PRICES: dict[tuple[str, str, str], Price] = _build()


def merge_prices(overrides: Mapping[Any, Any] | None) -> dict[tuple[str, str, str], Price]:
    """The built-in table with ``overrides`` applied (an override replaces the whole entry).

    :param overrides: either flat, ``{(cloud, instance_type, region): price}``, or nested as JSON can hold it,
        ``{cloud: {region: {instance_type: price}}}``; a price is a number (on-demand), a :class:`Price`, or
        ``{"on_demand": 3.0, "spot": 1.0}`` (``spot`` optional).
    :raises ValueError: for an override that is not of these shapes.
    """
    table = dict(PRICES)
    for (cloud, instance_type, region), value in _flatten(overrides or {}):
        table[(canonical_cloud(cloud), instance_type, region.strip().lower())] = _price(value, cloud, instance_type)
    return table


def _flatten(overrides: Mapping[Any, Any]) -> list[tuple[tuple[str, str, str], Any]]:
    if not isinstance(overrides, Mapping):
        raise ValueError(f"prices must be a mapping, not {type(overrides).__name__}")
    flat = []
    for key, value in overrides.items():
        if isinstance(key, tuple) and len(key) == 3:
            flat.append((key, value))
        elif isinstance(key, str) and isinstance(value, Mapping):
            for region, types in value.items():
                if not isinstance(types, Mapping):
                    raise ValueError(f"prices[{key!r}][{region!r}] must map instance types to prices")
                flat.extend(((key, instance_type, region), price) for instance_type, price in types.items())
        else:
            raise ValueError(
                f"price override key {key!r}: expected (cloud, instance_type, region) or a cloud name over "
                "{region: {instance_type: price}}"
            )
    return flat


def _price(value: Any, cloud: str, instance_type: str) -> Price:
    source = f"user override ({cloud} {instance_type})"
    if isinstance(value, Price):
        return value if value.source else Price(value.on_demand, value.spot, source)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Price(_rate(value, "on_demand"), None, source)
    if isinstance(value, Mapping) and "on_demand" in value and set(value) <= {"on_demand", "spot", "source"}:
        spot = value.get("spot")
        return Price(
            _rate(value["on_demand"], "on_demand"),
            None if spot is None else _rate(spot, "spot"),
            str(value.get("source") or source),
        )
    raise ValueError(f"price for {cloud} {instance_type}: {value!r}: expected a number or {{'on_demand', 'spot'}}")


def _rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} price must be a number >= 0 (USD per hour), not {value!r}")
    return float(value)


def lookup_price(
    cloud: str, instance_type: str, region: str, *, prices: Mapping[Any, Any] | None = None
) -> tuple[str, Price]:
    """The canonical cloud and the :class:`Price` of a machine in a region.

    :param cloud: ``sagemaker``, ``vertex`` or ``azure-ml`` (or an alias).
    :param instance_type: the instance type / VM size (Vertex: ``machine_type+<n>x<accelerator>``).
    :param region: the region (``us-east-1``, ``us-central1``, ``eastus`` ...).
    :param prices: overrides, see :func:`merge_prices`.
    :raises UnknownPrice: naming the regions the type is priced in, or the types priced in the region.
    """
    cloud = canonical_cloud(cloud)
    region = str(region).strip().lower()
    table = merge_prices(prices)
    found = table.get((cloud, instance_type, region))
    if found is None:
        regions = sorted({r for c, t, r in table if c == cloud and t == instance_type})
        if regions:
            raise UnknownPrice(
                f"no {cloud} price for {instance_type} in {region!r}; it is priced in {regions}: pass prices= "
                f"(or set the {PRICES_VARIABLE} Variable) for other regions"
            )
        types = sorted({t for c, t, r in table if c == cloud and r == region})
        raise UnknownPrice(
            f"no {cloud} price for instance type {instance_type!r} (region {region!r}); priced there: "
            f"{types or 'nothing'}: pass prices= (or set the {PRICES_VARIABLE} Variable)"
        )
    return cloud, found


def estimate_cost(
    cloud: str,
    instance_type: str,
    region: str,
    *,
    seconds: float,
    count: int = 1,
    spot: bool = False,
    prices: Mapping[Any, Any] | None = None,
) -> CostEstimate:
    """A run's estimated cost: ``seconds x count`` machine-seconds at the hourly rate.

    :param cloud: ``sagemaker``, ``vertex`` or ``azure-ml`` (or an alias).
    :param instance_type: the machine (Vertex: ``machine_type+<n>x<accelerator>``, see ``vertex_instance_type``).
    :param region: the region the run ran in.
    :param seconds: SageMaker: ``BillableTimeInSeconds`` (already net of managed-spot savings, so billed at the
        on-demand rate); Vertex and Azure ML: ``end - start`` (see :func:`elapsed_seconds`).
    :param count: machines (SageMaker ``InstanceCount``, Vertex replicas over all pools, Azure ``instance_count``).
    :param spot: the run used spot capacity (Vertex and Azure: the spot rate; SageMaker: recorded only).
    :param prices: overrides, see :func:`merge_prices`.
    :raises UnknownPrice: for an unpriced machine or region, or spot without a spot rate.
    :raises ValueError: for negative seconds or a count below 1.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"seconds must be a number >= 0, not {seconds!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, not {count!r}")
    cloud, price = lookup_price(cloud, instance_type, region, prices=prices)
    source = price.source
    if cloud == SAGEMAKER:
        rate = price.on_demand
        if spot:
            source += "; managed spot: BillableTimeInSeconds x on-demand rate (the saving is in the billable time)"
    elif spot:
        if price.spot is None:
            raise UnknownPrice(f"no {cloud} spot price for {instance_type} in {region!r}: pass prices= with 'spot'")
        rate = price.spot
    else:
        rate = price.on_demand
    billable = seconds * count
    usd = (Decimal(str(billable)) * Decimal(str(rate)) / Decimal(3600)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return CostEstimate(float(usd), billable, instance_type, cloud, rate, bool(spot), source)


def elapsed_seconds(start: datetime | str, end: datetime | str) -> float:
    """Seconds from ``start`` to ``end`` (datetimes or ISO 8601 strings, as Vertex reports its times).

    :param start: when the job started running (Vertex ``start_time``; Azure ML's start).
    :param end: when it ended.
    :raises ValueError: for unparsable times, a naive/aware mix, or an end before the start.
    """
    begin, finish = _when(start), _when(end)
    if (begin.tzinfo is None) != (finish.tzinfo is None):
        raise ValueError(f"start {start!r} and end {end!r} must both carry a time zone, or neither")
    seconds = (finish - begin).total_seconds()
    if seconds < 0:
        raise ValueError(f"end {end!r} is before start {start!r}")
    return seconds


def _when(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).strip())
    except ValueError as err:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from err


def prices_from_variable(name: str = PRICES_VARIABLE) -> dict[str, Any]:
    """Price overrides from an Airflow Variable holding JSON (nested form of :func:`merge_prices`); ``{}`` if unset.

    :param name: the Variable's key.
    :raises ValueError: if the Variable is not a JSON object.
    """
    from airflow.sdk import Variable  # Airflow only when asked for

    raw = Variable.get(name, default=None)
    if raw in (None, ""):
        return {}
    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, dict):
        raise ValueError(f"Variable {name!r} must hold a JSON object of prices, not {type(value).__name__}")
    return value
