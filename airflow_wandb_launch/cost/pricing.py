"""Approximate hourly prices of the hardware table's machines, and the cost of a run from each cloud's own timing.

**The figures are approximate and dated** (:data:`PRICES_AS_OF`): public list prices (USD per machine-hour, Linux,
pay-as-you-go) as best known on that date, written without access to the price pages, for one US and one EU
region per cloud. Prices change, differ by region and contract, and spot prices move all the time: pass your own
with ``prices=`` (see :func:`merge_prices`), for example from the Airflow Variable :data:`PRICES_VARIABLE` read
by :func:`prices_from_variable`.

Each cloud's figures, their sources and how the cloud bills spot capacity are its :class:`PriceList`
(``PRICE_LIST`` in ``backends/<cloud>/pricing.py``, whose docstring says how the cloud bills); :data:`PRICES` is
the table built from every registered cloud's list. SageMaker has no spot column: its spot saving is in
``BillableTimeInSeconds``, billed at the on-demand rate (``PriceList.spot_at_on_demand``); Vertex AI and Azure ML
spot figures are a rough typical discount (``PriceList.spot_fraction``) of on-demand, not quotes.

An unknown (cloud, instance type, region) raises :class:`UnknownPrice` naming what is known, rather than guess: a
caller that must not fail (a cost summary after a run) catches it and records no cost.

Importable without Airflow; pure except :func:`prices_from_variable`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

#: the date the built-in figures were last checked against (memory of) the public price lists
PRICES_AS_OF = "2024-12-01"
#: an Airflow Variable holding price overrides as JSON, in the nested form :func:`merge_prices` reads
PRICES_VARIABLE = "wandb_launch_prices"


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


@dataclass(frozen=True)
class PriceList:
    """One cloud's built-in prices (``PRICE_LIST`` in its folder's ``pricing`` module).

    :param source: where the figures come from.
    :param us_region: the region ``us`` is priced in.
    :param us: instance type -> on-demand USD per machine-hour in ``us_region``, approximate as of PRICES_AS_OF.
    :param eu_region: the EU region, priced as ``us`` x ``eu_factor``.
    :param eu_factor: EU prices as a rough multiple of the US ones (list prices there run ~5-15% higher).
    :param not_in_eu: types not claimed for the EU region (limited or unknown availability there).
    :param spot_fraction: spot as a rough fraction of on-demand; None: no spot rate.
    :param spot_at_on_demand: set when spot runs are billed at the on-demand rate (the saving is in the billed
        time, as SageMaker's BillableTimeInSeconds): why, added to an estimate's source.
    """

    source: str
    us_region: str
    us: Mapping[str, float]
    eu_region: str
    eu_factor: float
    not_in_eu: tuple[str, ...] = ()
    spot_fraction: float | None = None
    spot_at_on_demand: str | None = None

    def prices(self, cloud: str) -> dict[tuple[str, str, str], Price]:
        """This list as table rows, in the US and (except ``not_in_eu``) the EU region."""
        source = f"{self.source}, approximate, as of {PRICES_AS_OF}"
        rows = {}
        for instance_type, rate in self.us.items():
            regions = [(self.us_region, 1.0)]
            if instance_type not in self.not_in_eu:
                regions.append((self.eu_region, self.eu_factor))
            for region, factor in regions:
                on_demand = round(rate * factor, 4)
                spot = round(on_demand * self.spot_fraction, 4) if self.spot_fraction else None
                rows[(cloud, instance_type, region)] = Price(on_demand, spot, source)
        return rows


def price_lists() -> dict[str, PriceList]:
    """Each registered cloud's :class:`PriceList`, from its folder's ``pricing`` module."""
    from airflow_wandb_launch.backends import BACKENDS

    return _price_lists(tuple(BACKENDS.items()))


@functools.cache
def _price_lists(registry: tuple[tuple[str, str], ...]) -> dict[str, PriceList]:
    from airflow_wandb_launch.backends import resource_module

    modules = {resource: resource_module(resource, "pricing") for resource, _ in registry}
    return {resource: module.PRICE_LIST for resource, module in modules.items() if module is not None}


def priced_cloud(cloud: str) -> str:
    """``cloud`` as the registered resource whose price list it names (any case; aliases accepted).

    :raises ValueError: for a name that is no registered resource with a price list.
    """
    from airflow_wandb_launch.backends import known_names, resolve_resource

    lists = price_lists()
    name = resolve_resource(str(cloud).strip().lower())
    if name not in lists:
        names = [n for n in known_names() if resolve_resource(n) in lists]
        raise ValueError(f"unknown cloud {cloud!r}: expected one with a price list, one of {names}")
    return name


def built_in_prices() -> dict[tuple[str, str, str], Price]:
    """(cloud, instance type, region) -> Price: every registered cloud's built-in list."""
    table: dict[tuple[str, str, str], Price] = {}
    for cloud, price_list in price_lists().items():
        table.update(price_list.prices(cloud))
    return table


def __getattr__(name: str) -> Any:
    """:data:`PRICES` (the built-in table), :data:`SOURCES`, :data:`US_REGIONS` and :data:`EU_REGIONS` (per cloud),
    assembled from the cloud folders when first read."""
    if name == "PRICES":
        return built_in_prices()
    fields = {"SOURCES": "source", "US_REGIONS": "us_region", "EU_REGIONS": "eu_region"}
    if name in fields:
        return {cloud: getattr(p, fields[name]) for cloud, p in price_lists().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def merge_prices(overrides: Mapping[Any, Any] | None) -> dict[tuple[str, str, str], Price]:
    """The built-in table with ``overrides`` applied (an override replaces the whole entry).

    :param overrides: either flat, ``{(cloud, instance_type, region): price}``, or nested as JSON can hold it,
        ``{cloud: {region: {instance_type: price}}}``; a price is a number (on-demand), a :class:`Price`, or
        ``{"on_demand": 3.0, "spot": 1.0}`` (``spot`` optional).
    :raises ValueError: for an override that is not of these shapes.
    """
    table = built_in_prices()
    for (cloud, instance_type, region), value in _flatten(overrides or {}):
        table[(priced_cloud(cloud), instance_type, region.strip().lower())] = _price(value, cloud, instance_type)
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

    :param cloud: a cloud with a price list (``sagemaker``, ``vertex``, ``azure-ml``, or an alias).
    :param instance_type: the instance type / VM size (Vertex: ``machine_type+<n>x<accelerator>``).
    :param region: the region (``us-east-1``, ``us-central1``, ``eastus`` ...).
    :param prices: overrides, see :func:`merge_prices`.
    :raises UnknownPrice: naming the regions the type is priced in, or the types priced in the region.
    """
    cloud = priced_cloud(cloud)
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

    :param cloud: a cloud with a price list (``sagemaker``, ``vertex``, ``azure-ml``, or an alias).
    :param instance_type: the machine as its price list keys it (Vertex: ``machine_type+<n>x<accelerator>``).
    :param region: the region the run ran in.
    :param seconds: SageMaker: ``BillableTimeInSeconds`` (already net of managed-spot savings, so billed at the
        on-demand rate); Vertex and Azure ML: ``end - start`` (``launch.job.elapsed_seconds``).
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
    at_on_demand = getattr(price_lists().get(cloud), "spot_at_on_demand", None)
    if at_on_demand:
        rate = price.on_demand
        if spot:
            source += f"; {at_on_demand}"
    elif spot:
        if price.spot is None:
            raise UnknownPrice(f"no {cloud} spot price for {instance_type} in {region!r}: pass prices= with 'spot'")
        rate = price.spot
    else:
        rate = price.on_demand
    billable = seconds * count
    usd = (Decimal(str(billable)) * Decimal(str(rate)) / Decimal(3600)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return CostEstimate(float(usd), billable, instance_type, cloud, rate, bool(spot), source)


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
