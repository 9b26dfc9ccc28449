"""Azure ML's price list and a job's pricing inputs. Pure data: no SDK, no Airflow.

Azure ML bills the VM's price and adds no charge of its own. Cost is ``(end - start) x nodes x rate``, the spot
rate (a rough typical discount of on-demand, not a quote) on the Spot tier.
"""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.backends.azure_ml import RESOURCE
from airflow_wandb_launch.cost.pricing import PriceList
from airflow_wandb_launch.launch.pricing_inputs import Machine, PricingInputs

PRICE_LIST = PriceList(
    source="Azure Linux Virtual Machines pricing page, pay-as-you-go (azure.microsoft.com/pricing/details/"
    "virtual-machines/linux); Azure ML bills the VM price",
    us_region="eastus",
    # On-demand USD per VM-hour in eastus (approximate, as of PRICES_AS_OF).
    us={
        "Standard_D4s_v3": 0.192,
        "Standard_D8s_v3": 0.384,
        "Standard_D16s_v3": 0.768,
        "Standard_NC4as_T4_v3": 0.526,
        "Standard_NC6s_v3": 3.06,
        "Standard_NC24s_v3": 12.24,
        "Standard_NC24ads_A100_v4": 3.673,
        "Standard_NC96ads_A100_v4": 14.692,
        "Standard_ND96asr_v4": 27.197,
        "Standard_ND96amsr_A100_v4": 32.77,
        "Standard_ND96isr_H100_v5": 98.32,  # uncertain
    },
    eu_region="westeurope",
    eu_factor=1.10,
    not_in_eu=("Standard_ND96isr_H100_v5",),
    spot_fraction=0.30,
)


def pricing_inputs(payload: dict[str, Any], region: str | None) -> PricingInputs:
    """What a cost estimate needs from a built command job (see ``airflow_wandb_launch.cost.estimate``). Pure.

    On a ``compute`` cluster the VM size is the cluster's, not in the job: ``instance_type`` is then ``None``.

    :param payload: ``build_command_job``'s result.
    :param region: the workspace's Azure region.
    """
    kwargs = payload["command"]
    count = int(kwargs.get("instance_count") or 1)
    compute = kwargs.get("compute")
    machine = Machine(None, count, compute) if compute else Machine(kwargs.get("instance_type"), count)
    spot = kwargs.get("job_tier") == "Spot"
    return PricingInputs(RESOURCE, region, spot, (machine,))
