"""SageMaker's price list and a job's pricing inputs. Pure data: no SDK, no Airflow.

SageMaker training prices include the SageMaker charge over EC2. There is no spot price column: for managed spot
training AWS reports the saving in ``BillableTimeInSeconds`` instead (the job is billed ``BillableTimeInSeconds x
InstanceCount x the on-demand rate``, and ``1 - BillableTimeInSeconds / TrainingTimeInSeconds`` is the saving, as
AWS's DescribeTrainingJob docs say), so spot is priced at the on-demand rate on the billable time.
"""

from __future__ import annotations

from typing import Any

from airflow_wandb_launch.backends.sagemaker import RESOURCE
from airflow_wandb_launch.cost.pricing import PriceList
from airflow_wandb_launch.launch.pricing_inputs import Machine, PricingInputs

PRICE_LIST = PriceList(
    source="AWS Amazon SageMaker pricing page, Training, on-demand (aws.amazon.com/sagemaker/pricing)",
    us_region="us-east-1",
    # On-demand USD per machine-hour in us-east-1 (approximate, as of PRICES_AS_OF).
    us={
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
    },
    eu_region="eu-west-1",
    eu_factor=1.08,
    not_in_eu=("ml.g6.xlarge", "ml.p4de.24xlarge", "ml.p5.48xlarge"),
    spot_fraction=None,
    spot_at_on_demand="managed spot: BillableTimeInSeconds x on-demand rate (the saving is in the billable time)",
)


def pricing_inputs(payload: dict[str, Any], region: str | None) -> PricingInputs:
    """What a cost estimate needs from a CreateTrainingJob body (see ``airflow_wandb_launch.cost.estimate``). Pure.

    :param payload: the built CreateTrainingJob body.
    :param region: the AWS region the job runs in.
    """
    resources = payload.get("ResourceConfig") or {}
    groups = resources.get("InstanceGroups") or [resources]
    machines = tuple(Machine(g.get("InstanceType"), int(g.get("InstanceCount") or 1)) for g in groups)
    spot = bool(payload.get("EnableManagedSpotTraining"))
    return PricingInputs(RESOURCE, region, spot, machines)
