"""CloudFront in front of the ALB (spec.dns.cloudfront, with a domain): the faster sorry page.

An origin group: primary the ALB (by `origin.<domain>`, a record the regional stack points
at the ALB, so no value crosses regions), secondary the sorry site (its CloudFront
distribution, which answers the page with 503 on every path). CloudFront sends a request
to the secondary when the primary answers 500, 502, 503 or 504, or does not answer
(connection failure or timeout) — per request, and only for GET, HEAD and OPTIONS
(CloudFront developer guide, "Optimize high availability with CloudFront origin
failover"). So in a full outage a reader gets the sorry page on the first request the
ALB fails (its fail-open 502), not after Route 53's health check and the DNS TTL; a POST
still gets the ALB's 502/503 (docs/aws.md says what a form sees).

No Route 53 failover pair with CloudFront: the domain is a plain alias to this
distribution. A region that is unreachable is a connection failure to the origin, which
the origin group already fails over per request (after CloudFront's connection attempts);
and an alternate domain name belongs to one distribution only, so the sorry distribution
cannot be a SECONDARY for the same name.

The ALB then takes HTTPS from CloudFront's origin-facing addresses only (the managed prefix
list, looked up at deploy time) and keeps CloudFront's X-Forwarded-For as it is
(`preserve`), so the app's proxy count stays that of the runtime (threetier.runtime.contract).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import custom_resources as cr
from constructs import Construct

from threetier.aws.nag import suppress

# The origin group's failover rule (the twin's CloudFront stage, local/caddy.py, mirrors it:
# checks/parity.py compares the two).
ORIGIN_FAILOVER_STATUSES = (500, 502, 503, 504)
ORIGIN_FAILOVER_METHODS = ("GET", "HEAD", "OPTIONS")
ORIGIN_FACING_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"
# CloudFront's defaults for a custom origin, written down: 3 attempts × 10 s to connect,
# 30 s for the first byte.
CONNECTION_ATTEMPTS = 3
CONNECTION_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 30


def origin_name(domain: str) -> str:
    """The ALB's name for CloudFront: a record in the domain's zone, covered by the ALB's certificate."""
    return f"origin.{domain}"


def origin_facing_prefix_list(scope: Construct, construct_id: str) -> str:
    """The id of CloudFront's origin-facing managed prefix list in this stack's region
    (different in every region), read at deploy time with DescribeManagedPrefixLists."""
    lookup = cr.AwsCustomResource(
        scope,
        construct_id,
        on_update=cr.AwsSdkCall(
            service="EC2",
            action="describeManagedPrefixLists",
            parameters={"Filters": [{"Name": "prefix-list-name", "Values": [ORIGIN_FACING_PREFIX_LIST]}]},
            physical_resource_id=cr.PhysicalResourceId.of(ORIGIN_FACING_PREFIX_LIST),
            output_paths=["PrefixLists.0.PrefixListId"],
        ),
        policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE),
        install_latest_aws_sdk=False,
    )
    suppress(
        lookup,
        "AwsSolutions-IAM5",
        "ec2:DescribeManagedPrefixLists takes no resource ARN (IAM: Resource \"*\"); read-only.",
        applies_to=["Resource::*"],
    )
    return lookup.get_response_field("PrefixLists.0.PrefixListId")


class AppDistribution(Construct):
    """`distribution`, `certificate` (us-east-1) and the domain's `record` (a plain alias).

    Lives in the us-east-1 stack beside the sorry site.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        zone: route53.IHostedZone,
        domain: str,
        sorry_domain_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.certificate = acm.Certificate(
            self, "Certificate", domain_name=domain, validation=acm.CertificateValidation.from_dns(zone)
        )
        primary = origins.HttpOrigin(
            origin_name(domain),
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            connection_attempts=CONNECTION_ATTEMPTS,
            connection_timeout=Duration.seconds(CONNECTION_TIMEOUT_SECONDS),
            read_timeout=Duration.seconds(READ_TIMEOUT_SECONDS),
        )
        secondary = origins.HttpOrigin(
            sorry_domain_name,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        self.origin_group = origins.OriginGroup(
            primary_origin=primary,
            fallback_origin=secondary,
            fallback_status_codes=list(ORIGIN_FAILOVER_STATUSES),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"{domain}: the ALB, failing over to the sorry page",
            default_behavior=cloudfront.BehaviorOptions(
                origin=self.origin_group,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                # Every method reaches the app (forms, the API); only GET/HEAD/OPTIONS fail over.
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD_OPTIONS,
                # A dynamic app: nothing cached; everything but Host forwarded (the ALB and the
                # sorry distribution each get their own name as Host).
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            ),
            domain_names=[domain],
            certificate=self.certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        self.record = route53.ARecord(
            self,
            "Alias",
            zone=zone,
            record_name=domain,
            target=route53.RecordTarget.from_alias(targets.CloudFrontTarget(self.distribution)),
        )
        suppress(self.distribution, "AwsSolutions-CFR1", "The app serves every visitor: no geo restriction.")
        suppress(
            self.distribution,
            "AwsSolutions-CFR2",
            "No WAF in this design (cost); the app throttles sign-ups, sign-ins and API writes itself.",
        )
        suppress(
            self.distribution,
            "AwsSolutions-CFR3",
            "CloudFront access logs would need another bucket; the ALB's and the app's logs record the requests.",
        )
        suppress(
            self.distribution,
            "AwsSolutions-CFR5",
            "TLS 1.2 to the origin (the ALB's RECOMMENDED_TLS policy); SSLv3/TLS 1.0 are not enabled.",
        )
