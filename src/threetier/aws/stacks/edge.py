"""The us-east-1 stack: the hosted zone and the sorry page (S3 + CloudFront) as the
domain's failover SECONDARY, and the billing alarm (AWS/Billing is a us-east-1 metric).
It exists only when spec.dns.domain is set with failover.

The zone is imported by its id (`dns.hosted_zone_id`, never created: see
`threetier.aws.delegation`), here and in the regional stack alike, so no value crosses
regions at deploy time (no cross-region references, no custom-resource Lambda). The
regional stack still deploys after this one, so the sorry page stands before the
PRIMARY record can fail over to it.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from threetier.aws.constructs.cdn import AppDistribution
from threetier.aws.constructs.dns import hosted_zone
from threetier.aws.constructs.sorry_site import SorrySite
from threetier.aws.stacks.billing import billing_alarm
from threetier.errors import ThreetierError
from threetier.paths import SORRY_PAGE
from threetier.spec import Spec


class EdgeStack(Stack):
    """`zone`, `sorry` (the `SorrySite`), `app` (the `AppDistribution` with dns.cloudfront, else
    None) and `billing` (the billing alarm lives here, in us-east-1)."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: Spec, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if not spec.dns.domain:
            raise ThreetierError(
                f"the edge stack of {spec.env_name!r} needs a domain: it holds the hosted "
                "zone and the sorry page for dns.domain",
                fix="set dns.domain in the parameters file, or build the stacks with "
                "`threetier.aws.app.build_stacks`, which adds the edge stack only with a domain",
            )
        self.zone = hosted_zone(self, spec.dns)
        self.sorry = SorrySite(
            self,
            "Sorry",
            zone=self.zone,
            domain=spec.dns.domain,
            page=SORRY_PAGE,
            retain_data=spec.environment.retain_data,
            serve_domain=not spec.dns.cloudfront,
        )
        self.app: AppDistribution | None = None
        if spec.dns.cloudfront:
            self.app = AppDistribution(
                self, "App", zone=self.zone, domain=spec.dns.domain,
                sorry_domain_name=self.sorry.distribution.distribution_domain_name,
            )
            CfnOutput(self, "AppDistributionDomain", value=self.app.distribution.distribution_domain_name)
        self.billing = billing_alarm(self, spec)
        CfnOutput(
            self, "SorryDistributionDomain", value=self.sorry.distribution.distribution_domain_name
        )
        CfnOutput(self, "HostedZoneId", value=self.zone.hosted_zone_id)
