"""DNS failover (seed 001): PRIMARY = the ALB with a health check, SECONDARY = the sorry page
on CloudFront (OAC, us-east-1 certificate) in a separate us-east-1 stack."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match
from support.aws_helpers import BLOCK_ALL_PUBLIC_ACCESS, default_data, make_spec

from threetier.aws.app import build_app
from threetier.aws.stacks.edge import EdgeStack
from threetier.errors import ThreetierError
from threetier.paths import SORRY_PAGE
from threetier.spec import parse_spec

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


def test_sorry_page_answers_503_on_every_path(synthesized):
    """/ too: no default root object (it answered 200); every URI asks for the page, and
    every response, from S3 or the edge cache, says 503 (CloudFront Functions)."""
    raw = synthesized("domain").raw("edge")
    (distribution,) = [
        r for r in raw["Resources"].values() if r["Type"] == "AWS::CloudFront::Distribution"
    ]
    config = distribution["Properties"]["DistributionConfig"]
    assert "DefaultRootObject" not in config
    functions = {
        lid: r["Properties"]
        for lid, r in raw["Resources"].items()
        if r["Type"] == "AWS::CloudFront::Function"
    }
    by_event = {
        a["EventType"]: functions[a["FunctionARN"]["Fn::GetAtt"][0]]
        for a in config["DefaultCacheBehavior"]["FunctionAssociations"]
    }
    assert set(by_event) == {"viewer-request", "viewer-response"}
    assert all(f["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0" for f in by_event.values())
    assert "request.uri = '/sorry.html'" in by_event["viewer-request"]["FunctionCode"]
    assert "response.statusCode = 503" in by_event["viewer-response"]["FunctionCode"]
    # Should S3 answer an error itself, the page still comes back with 503.
    assert {(e["ErrorCode"], e["ResponseCode"], e["ResponsePagePath"]) for e in config["CustomErrorResponses"]} == {
        (403, 503, "/sorry.html"),
        (404, 503, "/sorry.html"),
    }


def test_a_domain_without_a_zone_id_is_refused_with_how_to_delegate():
    """No stack creates a zone: it would be undelegated, and ACM's validation would hang."""
    data = default_data()
    data["dns"] = {"domain": "www.example.com", "failover": True}
    spec = parse_spec(data, env_name="no-zone")
    with pytest.raises(ThreetierError, match="hosted zone") as raised:
        build_app(spec)
    assert "registrar" in (raised.value.fix or "") and "dns.hosted_zone_id" in (raised.value.fix or "")


def test_the_zone_is_imported_in_both_stacks_without_cross_region_references(synthesized):
    built = synthesized("domain")
    for stack in ("system", "edge"):
        template = built.template(stack)
        template.resource_count_is("AWS::Route53::HostedZone", 0)
        kinds = {r["Type"] for r in built.raw(stack)["Resources"].values()}
        assert not {k for k in kinds if "CrossRegion" in k}, stack
