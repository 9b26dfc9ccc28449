"""Echo Cloud's price list. Pure data: no Airflow."""

from __future__ import annotations

from airflow_wandb_launch.cost.pricing import PriceList

PRICE_LIST = PriceList(
    source="Echo Cloud test price list",
    us_region="moon-1",
    us={"echo.small": 1.00},
    eu_region="moon-2",
    eu_factor=1.0,
    not_in_eu=("echo.small",),
)
