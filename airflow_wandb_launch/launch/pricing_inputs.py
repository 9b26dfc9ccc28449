"""What a cost estimate needs from a job, recorded by its backend at submit (typed: it crosses the deferral)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Machine:
    """Machines of one type in a job.

    :param instance_type: the priced name (``ml.g4dn.xlarge``, ``n1-standard-8+1xNVIDIA_TESLA_T4``,
        ``Standard_NC4as_T4_v3``); None when the job does not say (an Azure compute cluster's VM size).
    :param count: instances, replicas or nodes.
    :param compute: the Azure ML compute cluster, when the machine is the cluster's.
    """

    instance_type: str | None
    count: int = 1
    compute: str | None = None


@dataclass(frozen=True)
class PricingInputs:
    """The cloud, region, spot flag and machines of one job.

    :param cloud: the resource (``sagemaker``, ``vertex``, ``azure-ml``).
    :param region: where it runs; None if unknown (no estimate then).
    :param spot: managed spot / SPOT scheduling / the Spot tier.
    :param machines: one entry per machine type.
    """

    cloud: str
    region: str | None
    spot: bool
    machines: tuple[Machine, ...]

    @property
    def machine_count(self) -> int:
        return sum(m.count for m in self.machines)

    def to_dict(self) -> dict[str, Any]:
        machines = [{k: v for k, v in vars(m).items() if v is not None} for m in self.machines]
        return {"cloud": self.cloud, "region": self.region, "spot": self.spot, "machines": machines}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PricingInputs:
        machines = tuple(
            Machine(m.get("instance_type"), int(m.get("count") or 1), m.get("compute"))
            for m in data.get("machines") or ()
        )
        return cls(str(data["cloud"]), data.get("region"), bool(data.get("spot")), machines)
