"""pricing.py: the dated price table, cost arithmetic per cloud, user overrides, unknowns."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from airflow_wandb_launch.backends.azure_ml import RESOURCE as AZURE_ML
from airflow_wandb_launch.backends.sagemaker import RESOURCE as SAGEMAKER
from airflow_wandb_launch.backends.vertex import RESOURCE as VERTEX
from airflow_wandb_launch.cost.hardware import CLOUDS, HARDWARE
from airflow_wandb_launch.cost.pricing import (
    EU_REGIONS,
    PRICES,
    PRICES_AS_OF,
    PRICES_VARIABLE,
    SOURCES,
    US_REGIONS,
    CostEstimate,
    Price,
    UnknownPrice,
    estimate_cost,
    lookup_price,
    merge_prices,
    prices_from_variable,
)
from airflow_wandb_launch.launch.job import elapsed_seconds

T4_VERTEX = "n1-standard-8+1xNVIDIA_TESLA_T4"
#: round figures, so the arithmetic rows below are exact
FLAT = {
    (SAGEMAKER, "ml.test", "us-east-1"): Price(10.0, None, "test"),
    (VERTEX, "test-machine", "us-central1"): Price(10.0, 3.0, "test"),
    (AZURE_ML, "Standard_Test", "eastus"): Price(10.0, 2.5, "test"),
}

# -- the table -----------------------------------------------------------------------------------------------


def test_the_table_is_dated_and_sourced():
    assert dt.date.fromisoformat(PRICES_AS_OF)
    assert set(SOURCES) == set(CLOUDS)
    for (cloud, _, _), price in PRICES.items():
        assert SOURCES[cloud] in price.source and PRICES_AS_OF in price.source and "approximate" in price.source
        assert price.on_demand > 0
        assert (price.spot is None) == (cloud == SAGEMAKER)  # SageMaker's spot saving is in the billable time
        assert price.spot is None or 0 < price.spot < price.on_demand


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_offering_in_the_hardware_table_is_priced_in_the_us_region(cloud):
    for by_cloud in HARDWARE.values():
        if by_cloud[cloud] is not None:
            lookup_price(cloud, by_cloud[cloud].instance_type, US_REGIONS[cloud])


@pytest.mark.parametrize("cloud", CLOUDS)
def test_eu_rows_are_a_subset_and_cost_more(cloud):
    eu = {t: p for (c, t, r), p in PRICES.items() if c == cloud and r == EU_REGIONS[cloud]}
    assert eu
    for instance_type, price in eu.items():
        assert price.on_demand > PRICES[(cloud, instance_type, US_REGIONS[cloud])].on_demand


# -- arithmetic ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cloud", "instance_type", "region", "seconds", "count", "spot", "usd", "billable", "rate"),
    [
        # on-demand: seconds x count x rate
        (SAGEMAKER, "ml.test", "us-east-1", 3600, 1, False, 10.0, 3600, 10.0),
        (SAGEMAKER, "ml.test", "us-east-1", 1800, 4, False, 20.0, 7200, 10.0),
        # SageMaker managed spot: BillableTimeInSeconds already net of the saving, billed at on-demand
        (SAGEMAKER, "ml.test", "us-east-1", 900, 2, True, 5.0, 1800, 10.0),
        (VERTEX, "test-machine", "us-central1", 3600, 1, False, 10.0, 3600, 10.0),
        (VERTEX, "test-machine", "us-central1", 3600, 1, True, 3.0, 3600, 3.0),
        (VERTEX, "test-machine", "us-central1", 600, 8, True, 4.0, 4800, 3.0),
        (AZURE_ML, "Standard_Test", "eastus", 7200, 2, False, 40.0, 14400, 10.0),
        (AZURE_ML, "Standard_Test", "eastus", 3600, 3, True, 7.5, 10800, 2.5),
        (AZURE_ML, "Standard_Test", "EastUS ", 0, 1, False, 0.0, 0, 10.0),
        # rounding to cents, half up: 1 s at $10/h = $0.00277...
        (AZURE_ML, "Standard_Test", "eastus", 1, 1, False, 0.0, 1, 10.0),
        (AZURE_ML, "Standard_Test", "eastus", 18, 1, False, 0.05, 18, 10.0),
        (VERTEX, "test-machine", "us-central1", 0.5, 1, False, 0.0, 0.5, 10.0),
        (VERTEX, "test-machine", "us-central1", 6, 3, True, 0.02, 18, 3.0),  # 0.015 -> 0.02
    ],
)
def test_cost_arithmetic(cloud, instance_type, region, seconds, count, spot, usd, billable, rate):
    cost = estimate_cost(cloud, instance_type, region, seconds=seconds, count=count, spot=spot, prices=FLAT)
    assert cost == CostEstimate(usd, billable, instance_type, cloud, rate, spot, cost.source)
    assert cost.source.startswith("test")
    assert ("managed spot" in cost.source) is (cloud == SAGEMAKER and spot)


@pytest.mark.parametrize(
    ("cloud", "instance_type", "region", "seconds", "count", "spot", "usd"),
    [
        (SAGEMAKER, "ml.p3.2xlarge", "us-east-1", 3600, 1, False, 3.83),  # 3.825 -> 3.83 (half up)
        (SAGEMAKER, "ml.p3.2xlarge", "us-east-1", 3600, 1, True, 3.83),  # same rate: the saving is in seconds
        ("sagemaker", "ml.p4d.24xlarge", "us-east-1", 1800, 2, False, 37.69),
        ("vertex-ai", T4_VERTEX, "us-central1", 1800, 2, False, 0.84),  # 0.8395 -> 0.84
        ("vertex", T4_VERTEX, "us-central1", 3600, 1, True, 0.29),  # 0.8395 x 0.35 = 0.2938
        ("azureml", "Standard_NC6s_v3", "eastus", 3600, 2, False, 6.12),
        ("azure-ml", "Standard_NC6s_v3", "eastus", 3600, 1, True, 0.92),  # 3.06 x 0.3 = 0.918
    ],
)
def test_built_in_figures(cloud, instance_type, region, seconds, count, spot, usd):
    assert estimate_cost(cloud, instance_type, region, seconds=seconds, count=count, spot=spot).usd == usd


def test_summary_entries_for_the_w_and_b_run():
    cost = estimate_cost(SAGEMAKER, "ml.test", "us-east-1", seconds=360, prices=FLAT)
    assert cost.summary() == {
        "airflow/cost_usd": 1.0,
        "airflow/billable_seconds": 360,
        "airflow/instance_type": "ml.test",
        "airflow/cloud": SAGEMAKER,
    }


# -- overrides -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prices", "spot", "usd", "source"),
    [
        ({(AZURE_ML, "Standard_NC6s_v3", "eastus"): 1.0}, False, 1.0, "user override"),
        ({(AZURE_ML, "Standard_NC6s_v3", "eastus"): Price(2.0, 1.0)}, True, 1.0, "user override"),
        ({(AZURE_ML, "Standard_NC6s_v3", "eastus"): Price(2.0, 1.0, "contract")}, False, 2.0, "contract"),
        ({"azureml": {"EastUS": {"Standard_NC6s_v3": {"on_demand": 4, "spot": 0.5}}}}, True, 0.5, "user override"),
        ({"azure-ml": {"eastus": {"Standard_NC6s_v3": {"on_demand": 4, "source": "EA"}}}}, False, 4.0, "EA"),
    ],
)
def test_user_overrides_win(prices, spot, usd, source):
    cost = estimate_cost(AZURE_ML, "Standard_NC6s_v3", "eastus", seconds=3600, spot=spot, prices=prices)
    assert cost.usd == usd
    assert cost.source.startswith(source)


def test_an_override_replaces_the_whole_entry_and_adds_new_regions():
    with pytest.raises(UnknownPrice, match="spot"):  # on-demand only: the built-in spot figure is gone too
        only = {(VERTEX, T4_VERTEX, "us-central1"): 1}
        estimate_cost(VERTEX, T4_VERTEX, "us-central1", seconds=1, spot=True, prices=only)
    prices = {"vertex": {"asia-northeast1": {T4_VERTEX: 1.2}}}
    assert estimate_cost(VERTEX, T4_VERTEX, "asia-northeast1", seconds=3600, prices=prices).usd == 1.2
    assert merge_prices(prices)[(VERTEX, T4_VERTEX, "us-central1")] == PRICES[(VERTEX, T4_VERTEX, "us-central1")]
    assert merge_prices(None) == PRICES


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ([("sagemaker", "ml.x", "us-east-1")], "mapping"),
        ({"ml.x": 1.0}, "override key"),
        ({"sagemaker": {"us-east-1": 3.0}}, "instance types"),
        ({(SAGEMAKER, "ml.x", "us-east-1"): -1}, ">= 0"),
        ({(SAGEMAKER, "ml.x", "us-east-1"): "3"}, "expected a number"),
        ({(SAGEMAKER, "ml.x", "us-east-1"): {"spot": 1.0}}, "expected a number"),
        ({(SAGEMAKER, "ml.x", "us-east-1"): {"on_demand": 1.0, "reserved": 0.5}}, "expected a number"),
        ({("aws", "ml.x", "us-east-1"): 1.0}, "unknown cloud"),
    ],
)
def test_bad_overrides(prices, message):
    with pytest.raises(ValueError, match=message):
        merge_prices(prices)


# -- unknowns and bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cloud", "instance_type", "region", "spot", "message"),
    [
        (SAGEMAKER, "ml.p3.2xlarge", "ap-south-1", False, r"priced in \['eu-west-1', 'us-east-1'\]"),
        (SAGEMAKER, "ml.p5.48xlarge", "eu-west-1", False, r"priced in \['us-east-1'\]"),
        (SAGEMAKER, "ml.trn1.32xlarge", "us-east-1", False, "priced there: .*ml.p3.2xlarge"),
        (VERTEX, "a2-highgpu-8g", "us-central1", False, "a2-highgpu-8g\\+8xNVIDIA_TESLA_A100"),
        (AZURE_ML, "Standard_NC6s_v3", "mars-1", False, "priced in"),
        (AZURE_ML, "Standard_X", "mars-1", False, "priced there: nothing"),
    ],
)
def test_unknown_prices_raise_naming_what_is_known(cloud, instance_type, region, spot, message):
    with pytest.raises(UnknownPrice, match=message):
        estimate_cost(cloud, instance_type, region, seconds=60, spot=spot)


@pytest.mark.parametrize(("seconds", "count"), [(-1, 1), ("60", 1), (None, 1), (True, 1), (60, 0), (60, 1.0)])
def test_bad_seconds_or_count(seconds, count):
    with pytest.raises(ValueError, match=r"seconds|count"):
        estimate_cost(SAGEMAKER, "ml.p3.2xlarge", "us-east-1", seconds=seconds, count=count)


# -- timing --------------------------------------------------------------------------------------------------

UTC = dt.UTC


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", 3600),
        ("2026-01-01 00:00:00+00:00", "2026-01-01T00:30:00.5+00:00", 1800.5),  # str(datetime) and RFC 3339 mix
        ("2026-01-01T02:00:00+02:00", "2026-01-01T00:10:00Z", 600),
        (dt.datetime(2026, 1, 1, tzinfo=UTC), "2026-01-01T00:00:07.123456789Z", 7.123456),
        ("2026-01-01T00:00:00", "2026-01-01T00:00:00", 0),
    ],
)
def test_elapsed_seconds(start, end, seconds):
    assert elapsed_seconds(start, end) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-01-01T01:00:00Z", "2026-01-01T00:00:00Z", "before"),
        ("2026-01-01T00:00:00", "2026-01-01T01:00:00Z", "time zone"),
        ("yesterday", "2026-01-01T00:00:00Z", "ISO 8601"),
    ],
)
def test_bad_times(start, end, message):
    with pytest.raises(ValueError, match=message):
        elapsed_seconds(start, end)


def test_vertex_replicas_times_elapsed_end_to_end():
    seconds = elapsed_seconds("2026-01-01T00:00:00Z", "2026-01-01T00:45:00Z")
    cost = estimate_cost(VERTEX, "a2-highgpu-8g+8xNVIDIA_TESLA_A100", "us-central1", seconds=seconds, count=2)
    assert (cost.billable_seconds, cost.usd) == (5400, round(33.7955 * 1.5, 2))


# -- the Airflow Variable, and no Airflow needed -------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (None, {}),
        ("", {}),
        ('{"sagemaker": {"us-east-1": {"ml.p3.2xlarge": 3.0}}}', {"sagemaker": {"us-east-1": {"ml.p3.2xlarge": 3.0}}}),
    ],
)
def test_prices_from_variable(monkeypatch, stored, expected):
    from airflow.sdk import Variable

    seen = []

    def get(key, default=None, **_):
        seen.append(key)
        return default if stored is None else stored

    monkeypatch.setattr(Variable, "get", staticmethod(get))
    assert prices_from_variable() == expected
    assert seen == [PRICES_VARIABLE]
    if expected:
        assert estimate_cost(SAGEMAKER, "ml.p3.2xlarge", "us-east-1", seconds=3600, prices=expected).usd == 3.0


def test_prices_from_variable_rejects_non_objects(monkeypatch):
    from airflow.sdk import Variable

    monkeypatch.setattr(Variable, "get", staticmethod(lambda key, default=None, **_: "[1, 2]"))
    with pytest.raises(ValueError, match="JSON object"):
        prices_from_variable("mine")


def test_hardware_and_pricing_import_without_airflow():
    code = (
        "import sys; sys.modules['airflow'] = None\n"
        "from airflow_wandb_launch.cost import hardware, pricing\n"
        "assert 'airflow.sdk' not in sys.modules\n"
        "print(pricing.estimate_cost('sagemaker', 'ml.m5.xlarge', 'us-east-1', seconds=3600).usd)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0.23"
