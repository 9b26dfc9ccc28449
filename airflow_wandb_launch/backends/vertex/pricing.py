"""Vertex AI's price list and a job's pricing inputs. Pure data: no SDK, no Airflow.

Custom training prices: the machine type plus its accelerators, per replica-hour, keyed as
:func:`~airflow_wandb_launch.backends.vertex.hardware.instance_type` spells them. Cost is ``(end - start) x
replicas x rate``, the spot rate (a rough typical discount of on-demand, not a quote) with SPOT scheduling.
"""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.backends.vertex import RESOURCE
from airflow_wandb_launch.backends.vertex.hardware import instance_type
from airflow_wandb_launch.cost.pricing import PriceList
from airflow_wandb_launch.launch.pricing_inputs import Machine, PricingInputs

PRICE_LIST = PriceList(
    source="Google Cloud Vertex AI pricing page, custom training (cloud.google.com/vertex-ai/pricing)",
    us_region="us-central1",
    # On-demand USD per replica-hour in us-central1 (approximate, as of PRICES_AS_OF).
    us={
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
        "a2-ultragpu-1g+1xNVIDIA_A100_80GB": 5.7816,  # uncertain: an eighth of a2-ultragpu-8g
        "a2-ultragpu-4g+4xNVIDIA_A100_80GB": 23.1263,  # uncertain: half of a2-ultragpu-8g
        "a2-ultragpu-8g+8xNVIDIA_A100_80GB": 46.2526,  # uncertain
        "a3-highgpu-8g+8xNVIDIA_H100_80GB": 101.4881,  # uncertain
    },
    eu_region="europe-west4",
    eu_factor=1.10,
    spot_fraction=0.35,
)


def pricing_inputs(payload: dict[str, Any], region: str | None) -> PricingInputs:
    """What a cost estimate needs from a built CustomJob (see ``airflow_wandb_launch.cost.estimate``). Pure.

    Replicas are counted over all worker pools, per machine (``hardware.instance_type``): pools of one machine add
    up, and a job whose pools use different machines lists each, to be priced at its own rate.

    :param payload: the built CustomJob (``build_custom_job``'s snake_case dict).
    :param region: the Vertex AI region.
    """
    spec = payload.get("job_spec") or {}
    counts: dict[str, int] = {}
    for pool in spec.get("worker_pool_specs") or []:
        if pool.get("machine_spec"):  # an empty pool only holds a position
            key = instance_type(pool["machine_spec"])
            counts[key] = counts.get(key, 0) + int(pool.get("replica_count") or 1)
    spot = str((spec.get("scheduling") or {}).get("strategy") or "").upper() == "SPOT"
    machines = tuple(Machine(key, count) for key, count in counts.items())
    return PricingInputs(RESOURCE, region, spot, machines)
