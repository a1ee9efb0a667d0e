"""DNS failover (seed 001): PRIMARY = the ALB with a health check, SECONDARY = the sorry page
on CloudFront (OAC, us-east-1 certificate) in a separate us-east-1 stack."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match
from support.aws_helpers import BLOCK_ALL_PUBLIC_ACCESS, make_spec

from threetier.aws.stacks.edge import EdgeStack
from threetier.errors import ThreetierError
from threetier.paths import SORRY_PAGE

pytestmark = pytest.mark.synth


def test_no_domain_means_no_edge_stack_and_no_dns(synthesized):
    built = synthesized("default")
    assert not built.has("edge")
    built.template().resource_count_is("AWS::Route53::RecordSet", 0)


def test_an_edge_stack_without_a_domain_is_refused_with_its_fix():
    spec = make_spec("default")
    with pytest.raises(ThreetierError, match="needs a domain") as raised:
        EdgeStack(cdk.App(), "threetier-default-edge", spec=spec)
    assert "dns.domain" in (raised.value.fix or "")


def test_edge_stack_is_in_us_east_1(synthesized):
    regions = {s.name: s.region for s in synthesized("domain").result.stacks}
    assert regions == {"threetier-domain-edge": "us-east-1", "threetier-domain": "ap-northeast-1"}


def test_primary_record_aliases_the_alb_with_a_health_check(synthesized):
    template = synthesized("domain").template()
    template.has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            "Name": "www.example.com.",
            "Type": "A",
            "Failover": "PRIMARY",
            "HostedZoneId": "Z0THREETIERTEST0ZONE",
            "HealthCheckId": Match.any_value(),
            "AliasTarget": Match.object_like({"EvaluateTargetHealth": True}),
        },
    )


def test_route53_health_check_probes_the_health_path(synthesized):
    synthesized("domain").template().has_resource_properties(
        "AWS::Route53::HealthCheck",
        {
            "HealthCheckConfig": Match.object_like(
                {
                    "Type": "HTTPS",
                    "ResourcePath": "/healthz",
                    "Port": 443,
                    "RequestInterval": 30,
                    "FailureThreshold": 4,
                }
            )
        },
    )


def test_secondary_record_aliases_cloudfront(synthesized):
    synthesized("domain").template("edge").has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            "Name": "www.example.com.",
            "Failover": "SECONDARY",
            "AliasTarget": Match.object_like(
                {"HostedZoneId": Match.any_value(), "DNSName": Match.any_value()}
            ),
        },
    )


def test_cloudfront_reads_the_private_bucket_through_oac(synthesized):
    edge = synthesized("domain").template("edge")
    edge.resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
    edge.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "Aliases": ["www.example.com"],
                    "DefaultRootObject": "sorry.html",
                    "Origins": [Match.object_like({"OriginAccessControlId": Match.any_value()})],
                    "ViewerCertificate": Match.object_like(
                        {"MinimumProtocolVersion": "TLSv1.2_2021"}
                    ),
                }
            )
        },
    )
    edge.has_resource_properties(
        "AWS::S3::Bucket",
        {"PublicAccessBlockConfiguration": BLOCK_ALL_PUBLIC_ACCESS},
    )


def test_cloudfront_certificate_is_issued_in_us_east_1(synthesized):
    synthesized("domain").template("edge").has_resource_properties(
        "AWS::CertificateManager::Certificate",
        {"DomainName": "www.example.com", "ValidationMethod": "DNS"},
    )


def test_sorry_page_is_the_twins_file(synthesized):
    built = synthesized("domain")
    deployments = built.template("edge").find_resources("Custom::CDKBucketDeployment")
    assert len(deployments) == 1
    staged = list(built.result.outdir.glob("asset.*/sorry.html"))
    assert [p.read_text() for p in staged] == [SORRY_PAGE.read_text()]


def test_created_zone_lives_in_the_edge_stack_and_crosses_regions(synthesized):
    built = synthesized("created-zone")
    built.template("edge").has_resource_properties(
        "AWS::Route53::HostedZone", {"Name": "example.com."}
    )
    built.template().resource_count_is("AWS::Route53::HostedZone", 0)
    # CDK carries the zone id to ap-northeast-1 through SSM (cross_region_references).
    built.template().resource_count_is("Custom::CrossRegionExportReader", 1)
