"""Which instance and AZ served a request (seed 001: reloading through the load balancer
alternates). Read from settings on every call, so tests can switch instances."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class Instance:
    """This process's identity: the instance name and its availability zone."""

    name: str
    az: str

    def as_dict(self) -> dict[str, str]:
        return {"instance": self.name, "az": self.az}


def current_instance() -> Instance:
    """The instance this process runs as (THREETIER_INSTANCE_NAME / THREETIER_AZ)."""
    return Instance(name=settings.THREETIER_INSTANCE_NAME, az=settings.THREETIER_AZ)


def served_by(request: HttpRequest) -> dict[str, Instance]:
    """Template context processor: `{{ served_by.name }}` / `{{ served_by.az }}`."""
    return {"served_by": current_instance()}
