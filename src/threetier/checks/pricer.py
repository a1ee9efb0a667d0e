"""What the synthesized system costs per month while it runs: templates → cost lines.

Seed 004 ends with a surprise bill from a NAT gateway and an Elastic IP left running. The
pricer reads the CloudFormation templates (what will really be created) and prices each
driver from the dated list-price table (`threetier.checks.prices`):

>>> report = cost_drivers({"threetier-prod": template}, load_spec("prod"))
>>> report.total_usd

Usage-based drivers (EFS storage, CloudFront traffic, CloudTrail data events, NAT data)
are listed with their unit price but left out of the total: they depend on traffic.
`threetier check` shows the lines (`threetier.cli.check`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from threetier.aws.naming import EDGE_REGION
from threetier.checks.prices import Prices, load_prices
from threetier.spec import Spec


@dataclass(frozen=True)
class CostRow:
    """One cost driver. `monthly_usd` is None for usage-based drivers (not in the total)."""

    driver: str
    count: float
    unit: str
    unit_price_usd: float | None
    monthly_usd: float | None
    note: str = ""


@dataclass(frozen=True)
class CostReport:
    rows: list[CostRow]
    price_date: str

    @property
    def total_usd(self) -> float:
        return total_usd(self.rows)

    @property
    def unpriced(self) -> list[CostRow]:
        """Fixed drivers the table has no price for (an instance type missing from prices.toml)."""
        return [r for r in self.rows if r.unit_price_usd is None]


def usd(value: float | None) -> str:
    """A unit price for a note; a region missing from prices.toml says so instead of "None"."""
    return f"{value:g} USD" if value is not None else "? USD (no price for this region in prices.toml)"


def total_usd(rows: Sequence[CostRow]) -> float:
    return round(sum(r.monthly_usd for r in rows if r.monthly_usd is not None), 2)


def cost_drivers(
    templates: Mapping[str, dict],
    spec: Spec,
    *,
    regions: Mapping[str, str] | None = None,
    prices: Prices | None = None,
) -> CostReport:
    """Monthly cost drivers of synthesized templates ({stack name: template}).

    Each stack is priced in its region: `regions[name]`, else us-east-1 for the edge stack
    (name ending in "-edge") and spec.project.region for the others.
    """
    prices = prices or load_prices()
    rows: list[CostRow] = []
    for name, template in templates.items():
        region = (regions or {}).get(name) or (
            EDGE_REGION if name.endswith("-edge") else spec.project.region
        )
        label = "" if region == spec.project.region else f" ({region})"
        rows += _Pricer(template.get("Resources", {}), region, prices, label).rows()
    return CostReport(rows=_merge(rows), price_date=prices.date)


class _Pricer:
    """The rows of one template."""

    def __init__(
        self, resources_: Mapping[str, dict], region: str, prices: Prices, label: str
    ) -> None:
        self.resources = resources_
        self.region = region
        self.prices = prices
        self.label = label
        self.hours = prices.hours_per_month

    def of_type(self, type_name: str) -> Iterator[tuple[str, dict]]:
        for logical_id, resource in self.resources.items():
            if resource.get("Type") == type_name:
                yield logical_id, resource.get("Properties", {})

    def ref(self, value: Any) -> dict:
        """The properties of the resource a {"Ref": id} points to, or {}."""
        if isinstance(value, dict) and "Ref" in value:
            return self.resources.get(value["Ref"], {}).get("Properties", {})
        return {}

    def hourly_row(self, driver: str, count: float, price: float | None, note: str = "") -> CostRow:
        monthly = None if price is None else round(count * price * self.hours, 2)
        if price is None:
            note = (note + "; " if note else "") + f"no price for {self.region} in prices.toml"
        return CostRow(driver + self.label, count, "hour", price, monthly, note)

    def monthly_row(
        self, driver: str, count: float, price: float | None, note: str = ""
    ) -> CostRow:
        monthly = None if price is None else round(count * price, 2)
        return CostRow(driver + self.label, count, "month", price, monthly, note)

    def usage_row(
        self, driver: str, count: float, unit: str, price: float | None, note: str
    ) -> CostRow:
        return CostRow(driver + self.label, count, unit, price, None, note)

    def rows(self) -> list[CostRow]:
        rows: list[CostRow] = []
        price = self.prices.price
        region = self.region

        nats = len(list(self.of_type("AWS::EC2::NatGateway")))
        if nats:
            rows.append(
                self.hourly_row(
                    "NAT gateway",
                    nats,
                    price(region, "nat_gateway_hour"),
                    f"plus {usd(price(region, 'nat_gateway_gb'))} per GB processed",
                )
            )

        ipv4 = self.public_ipv4()
        if sum(ipv4.values()):
            parts = ", ".join(f"{n} {what}" for what, n in ipv4.items() if n)
            rows.append(
                self.hourly_row(
                    "Public IPv4 address",
                    sum(ipv4.values()),
                    price(region, "public_ipv4_hour"),
                    parts,
                )
            )

        albs = [
            p
            for _, p in self.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")
            if p.get("Type", "application") == "application"
        ]
        if albs:
            rows.append(
                self.hourly_row(
                    "Application Load Balancer",
                    len(albs),
                    price(region, "alb_hour"),
                    f"plus {usd(price(region, 'alb_lcu_hour'))} per LCU-hour (traffic)",
                )
            )

        rows += self.ec2_rows()
        rows += self.database_rows()
        rows += self.fargate_rows()

        efs = len(list(self.of_type("AWS::EFS::FileSystem")))
        if efs:
            rows.append(
                self.usage_row(
                    "EFS file system",
                    efs,
                    "GB-month",
                    price(region, "efs_standard_gb_month"),
                    "per GB stored (Standard)",
                )
            )
        distributions = len(list(self.of_type("AWS::CloudFront::Distribution")))
        if distributions:
            rows.append(
                self.usage_row(
                    "CloudFront distribution",
                    distributions,
                    "GB out",
                    price(region, "cloudfront_gb_out"),
                    "per GB served; no fixed fee",
                )
            )
        for driver, type_name, key in (
            ("KMS customer managed key", "AWS::KMS::Key", "kms_key_month"),
            ("Secrets Manager secret", "AWS::SecretsManager::Secret", "secret_month"),
            ("Route 53 hosted zone", "AWS::Route53::HostedZone", "route53_hosted_zone_month"),
            ("CloudWatch alarm", "AWS::CloudWatch::Alarm", "cloudwatch_alarm_month"),
            ("CloudWatch dashboard", "AWS::CloudWatch::Dashboard", "cloudwatch_dashboard_month"),
        ):
            count = len(list(self.of_type(type_name)))
            if count:
                note = {
                    "CloudWatch alarm": "first 10 per account free",
                    "CloudWatch dashboard": "first 3 per account free",
                }.get(driver, "")
                rows.append(self.monthly_row(driver, count, price(region, key), note))
        rows += self.health_check_rows()
        rows += self.trail_rows()
        return rows

    def public_ipv4(self) -> dict[str, int]:
        counts = {
            "NAT Elastic IP": len(list(self.of_type("AWS::EC2::EIP"))),
            "ALB (one per AZ)": 0,
            "EC2": 0,
            "Fargate task": 0,
        }
        for _, alb in self.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            if (
                alb.get("Scheme") == "internet-facing"
                and alb.get("Type", "application") == "application"
            ):
                counts["ALB (one per AZ)"] += len(
                    alb.get("Subnets") or alb.get("SubnetMappings") or [None, None]
                )
        for _, group in self.of_type("AWS::AutoScaling::AutoScalingGroup"):
            if self.group_has_public_ips(group):
                counts["EC2"] += _number(group.get("MinSize"), 1)
        for _, service in self.of_type("AWS::ECS::Service"):
            vpc = service.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
            if vpc.get("AssignPublicIp") == "ENABLED":
                counts["Fargate task"] += _number(service.get("DesiredCount"), 1)
        return counts

    def group_has_public_ips(self, group: dict) -> bool:
        template = self.launch_template_data(group)
        for interface in template.get("NetworkInterfaces", []):
            if interface.get("AssociatePublicIpAddress") in (True, "true"):
                return True
        subnets = [self.ref(s) for s in group.get("VPCZoneIdentifier", [])]
        return any(s.get("MapPublicIpOnLaunch") in (True, "true") for s in subnets)

    def launch_template_data(self, group: dict) -> dict:
        spec = group.get("LaunchTemplate") or group.get("MixedInstancesPolicy", {}).get(
            "LaunchTemplate", {}
        ).get("LaunchTemplateSpecification", {})
        return self.ref(spec.get("LaunchTemplateId", {})).get("LaunchTemplateData", {})

    def ec2_rows(self) -> list[CostRow]:
        rows = []
        for _, group in self.of_type("AWS::AutoScaling::AutoScalingGroup"):
            data = self.launch_template_data(group)
            instance_type = (
                data.get("InstanceType")
                if isinstance(data.get("InstanceType"), str)
                else "unknown type"
            )
            count = _number(group.get("MinSize"), 1)
            rows.append(
                self.hourly_row(
                    f"EC2 {instance_type} (Auto Scaling minimum)",
                    count,
                    self.prices.hourly(self.region, "ec2_instance_hour", instance_type),
                    f"up to {_number(group.get('MaxSize'), count):g} when scaled out; EBS volumes extra",
                )
            )
            if data.get("Monitoring", {}).get("Enabled") in (True, "true"):
                rows.append(
                    self.monthly_row(
                        "EC2 detailed monitoring (1-minute metrics)",
                        count,
                        self.prices.price(self.region, "ec2_detailed_monitoring_instance_month"),
                    )
                )
        return rows

    def database_rows(self) -> list[CostRow]:
        rows = []
        for _, db in self.of_type("AWS::RDS::DBInstance"):
            instance_class = db.get("DBInstanceClass", "unknown class")
            multi_az = db.get("MultiAZ") in (True, "true")
            copies = 2 if multi_az else 1
            layout = "Multi-AZ: primary + standby" if multi_az else "Single-AZ"
            rows.append(
                self.hourly_row(
                    f"RDS PostgreSQL {instance_class} ({layout})",
                    copies,
                    self.prices.hourly(self.region, "rds_instance_hour", instance_class),
                )
            )
            storage_gb = _number(db.get("AllocatedStorage"), 20)
            rows.append(
                self.monthly_row(
                    f"RDS gp3 storage ({layout})",
                    storage_gb * copies,
                    self.prices.price(self.region, "rds_gp3_gb_month"),
                    "GB-months; backups beyond the DB size extra",
                )
            )
        return rows

    def fargate_rows(self) -> list[CostRow]:
        rows = []
        for _, service in self.of_type("AWS::ECS::Service"):
            if service.get("LaunchType") != "FARGATE":
                continue
            task = self.ref(service.get("TaskDefinition"))
            vcpu = _number(task.get("Cpu"), 256) / 1024
            memory_gb = _number(task.get("Memory"), 512) / 1024
            vcpu_price = self.prices.price(self.region, "fargate_vcpu_hour")
            gb_price = self.prices.price(self.region, "fargate_gb_hour")
            per_task = (
                None
                if vcpu_price is None or gb_price is None
                else vcpu * vcpu_price + memory_gb * gb_price
            )
            count = _number(service.get("DesiredCount"), 1)
            rows.append(
                self.hourly_row(
                    f"Fargate task ({vcpu:g} vCPU, {memory_gb:g} GB)",
                    count,
                    None if per_task is None else round(per_task, 6),
                    "minimum task count; autoscaling adds more under load",
                )
            )
        return rows

    def health_check_rows(self) -> list[CostRow]:
        rows = []
        base = self.prices.price(self.region, "route53_health_check_month")
        feature = self.prices.price(self.region, "route53_health_check_feature_month")
        for _, check in self.of_type("AWS::Route53::HealthCheck"):
            config = check.get("HealthCheckConfig", {})
            features = [
                name
                for name, on in (
                    ("HTTPS", str(config.get("Type", "")).startswith("HTTPS")),
                    ("10-second interval", config.get("RequestInterval") == 10),
                    ("string matching", "STR_MATCH" in str(config.get("Type", ""))),
                )
                if on
            ]
            unit = None if base is None or feature is None else base + feature * len(features)
            rows.append(
                self.monthly_row(
                    "Route 53 health check",
                    1,
                    unit,
                    "with " + ", ".join(features) if features else "",
                )
            )
        return rows

    def trail_rows(self) -> list[CostRow]:
        rows = []
        for _, trail in self.of_type("AWS::CloudTrail::Trail"):
            selectors = trail.get("EventSelectors", []) + trail.get("AdvancedEventSelectors", [])
            if any(s.get("DataResources") or s.get("FieldSelectors") for s in selectors):
                rows.append(
                    self.usage_row(
                        "CloudTrail S3 data events",
                        1,
                        "100k events",
                        self.prices.price(self.region, "cloudtrail_data_events_per_100k"),
                        "every object read/write of the logged buckets; management events: first trail free",
                    )
                )
        return rows


def _number(value: Any, default: float) -> float:
    """A template number (CloudFormation often writes them as strings); `default` for tokens."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float(default)


def _merge(rows: list[CostRow]) -> list[CostRow]:
    """One row per driver and unit price (e.g. alarms in two stacks of the same region)."""
    merged: dict[tuple, CostRow] = {}
    for row in rows:
        key = (row.driver, row.unit, row.unit_price_usd, row.note)
        if key in merged:
            old = merged[key]
            monthly = (
                None
                if old.monthly_usd is None
                else round(old.monthly_usd + (row.monthly_usd or 0), 2)
            )
            merged[key] = CostRow(
                row.driver, old.count + row.count, row.unit, row.unit_price_usd, monthly, row.note
            )
        else:
            merged[key] = row
    return list(merged.values())
