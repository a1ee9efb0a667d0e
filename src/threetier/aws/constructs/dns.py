"""DNS for a domain (seeds 001, 004): the hosted zone, the ALB's certificate, and the
record that points the domain at the ALB — PRIMARY of a failover pair when the sorry
page is the SECONDARY (see `sorry_site.SorrySite`), a plain alias otherwise.
"""

from __future__ import annotations

from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

from threetier import spec as model
from threetier.aws.delegation import missing_zone_message
from threetier.errors import ThreetierError

# Route 53 health checkers poll every 10 or 30 seconds; nothing else is accepted.
ROUTE53_INTERVALS = (10, 30)


def hosted_zone(scope: Construct, dns: model.Dns) -> route53.IHostedZone:
    """Import the zone spec.dns.hosted_zone_id (named spec.dns.zone).

    Never created here: a zone the stack creates is undelegated on its first deploy and
    gets new name servers on every re-create, so ACM's DNS validation would hang
    (`threetier.aws.delegation`). A domain without a zone id is refused with how to make one.
    """
    if not dns.hosted_zone_id:
        message, fix = missing_zone_message(dns)
        raise ThreetierError(message, fix=fix)
    return route53.HostedZone.from_hosted_zone_attributes(
        scope, "Zone", hosted_zone_id=dns.hosted_zone_id, zone_name=dns.zone
    )


def regional_certificate(
    scope: Construct, dns: model.Dns, zone: route53.IHostedZone, *, also: list[str] | None = None
) -> acm.ICertificate:
    """The ALB's certificate: spec.dns.certificate_arn, or a new one validated through the zone
    (for the domain and `also`: with CloudFront, the origin name it reaches the ALB by)."""
    if dns.certificate_arn:
        return acm.Certificate.from_certificate_arn(scope, "Certificate", dns.certificate_arn)
    return acm.Certificate(
        scope,
        "Certificate",
        domain_name=dns.domain,
        subject_alternative_names=also or None,
        validation=acm.CertificateValidation.from_dns(zone),
    )


def failover_record(
    scope: Construct,
    construct_id: str,
    *,
    zone: route53.IHostedZone,
    domain: str,
    failover: str,
    target: str,
    target_dns_name: str,
    target_zone_id: str,
    evaluate_target_health: bool,
    health_check_id: str | None = None,
) -> route53.CfnRecordSet:
    """One half of the domain's failover pair: an alias A record to `target` (a short name:
    its set identifier is "<failover>-<target>"), `failover` "PRIMARY" (the ALB,
    `LoadBalancerRecord`) or "SECONDARY" (the sorry page, `SorrySite`).

    Route 53 answers with the PRIMARY while it is healthy (its health check, and its
    target's health when `evaluate_target_health`), else with the SECONDARY.
    """
    return route53.CfnRecordSet(
        scope,
        construct_id,
        hosted_zone_id=zone.hosted_zone_id,
        name=f"{domain}.",
        type="A",
        set_identifier=f"{failover.lower()}-{target}",
        failover=failover,
        health_check_id=health_check_id,
        alias_target=route53.CfnRecordSet.AliasTargetProperty(
            dns_name=target_dns_name,
            hosted_zone_id=target_zone_id,
            evaluate_target_health=evaluate_target_health,
        ),
    )


class LoadBalancerRecord(Construct):
    """The domain → the ALB. With failover: PRIMARY, evaluating target health plus a
    Route 53 health check on the health path, so all targets down flips to SECONDARY.

    `health_check` and `record` are the resources (health_check is None without failover).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        zone: route53.IHostedZone,
        domain: str,
        alb: elbv2.IApplicationLoadBalancer,
        health: model.HealthCheck,
        https: bool,
        failover: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.health_check: route53.CfnHealthCheck | None = None
        if not failover:
            self.record = route53.ARecord(
                self,
                "Alias",
                zone=zone,
                record_name=domain,
                target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(alb)),
            )
            return
        interval = 10 if health.interval_seconds <= 10 else 30
        self.health_check = route53.CfnHealthCheck(
            self,
            "HealthCheck",
            health_check_config=route53.CfnHealthCheck.HealthCheckConfigProperty(
                type="HTTPS" if https else "HTTP",
                fully_qualified_domain_name=alb.load_balancer_dns_name,
                port=443 if https else 80,
                resource_path=health.path,
                request_interval=interval,
                failure_threshold=health.unhealthy_threshold,
                enable_sni=https,
            ),
            health_check_tags=[
                route53.CfnHealthCheck.HealthCheckTagProperty(key="Name", value=f"{domain} ALB")
            ],
        )
        self.record = failover_record(
            self,
            "Primary",
            zone=zone,
            domain=domain,
            failover="PRIMARY",
            target="alb",
            target_dns_name=alb.load_balancer_dns_name,
            target_zone_id=alb.load_balancer_canonical_hosted_zone_id,
            evaluate_target_health=True,
            health_check_id=self.health_check.attr_health_check_id,
        )
