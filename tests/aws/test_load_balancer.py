"""The ALB: target group health check from the parameters, HTTPS when there is a domain."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

pytestmark = pytest.mark.synth


def test_target_group_health_check_comes_from_the_parameters(synthesized):
    built = synthesized("domain")
    health = built.spec.load_balancer.health_check
    built.template().has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "HealthCheckPath": health.path,
            "HealthCheckIntervalSeconds": 15,
            "HealthCheckTimeoutSeconds": 6,
            "HealthyThresholdCount": 3,
            "UnhealthyThresholdCount": 4,
            "Matcher": {"HttpCode": "200"},
            "Port": built.spec.web.app_port,
            "TargetGroupAttributes": Match.array_with(
                [{"Key": "deregistration_delay.timeout_seconds", "Value": "20"}]
            ),
        },
    )


def test_alb_is_internet_facing_in_the_public_subnets(synthesized):
    synthesized("default").template().has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {"Scheme": "internet-facing", "Type": "application"},
    )


def test_without_a_domain_there_is_one_plain_http_listener(synthesized):
    template = synthesized("default").template()
    template.resource_count_is("AWS::ElasticLoadBalancingV2::Listener", 1)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "Protocol": "HTTP",
            "DefaultActions": [Match.object_like({"Type": "forward"})],
        },
    )


def test_with_a_domain_https_forwards_and_http_redirects(synthesized):
    template = synthesized("domain").template()
    template.resource_count_is("AWS::ElasticLoadBalancingV2::Listener", 2)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 443,
            "Protocol": "HTTPS",
            "SslPolicy": Match.string_like_regexp("TLS13-1-2"),
            "Certificates": [{"CertificateArn": Match.any_value()}],
            # An unknown Host: the listener's own 404 (tests/aws/test_cdn.py: the host rule forwards).
            "DefaultActions": [Match.object_like({"Type": "fixed-response"})],
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "DefaultActions": [
                {
                    "Type": "redirect",
                    "RedirectConfig": Match.object_like(
                        {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
                    ),
                }
            ],
        },
    )


def test_regional_certificate_is_validated_through_the_zone(synthesized):
    synthesized("domain").template().has_resource_properties(
        "AWS::CertificateManager::Certificate",
        {
            "DomainName": "www.example.com",
            "ValidationMethod": "DNS",
            "DomainValidationOptions": [
                Match.object_like({"HostedZoneId": "Z0THREETIERTEST0ZONE"})
            ],
        },
    )


def test_access_logs_only_where_the_parameters_ask(synthesized):
    synthesized("prod").template().has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "LoadBalancerAttributes": Match.array_with(
                [{"Key": "access_logs.s3.enabled", "Value": "true"}]
            )
        },
    )
    assert not synthesized("default").template().find_resources(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "Properties": {
                "LoadBalancerAttributes": Match.array_with(
                    [{"Key": "access_logs.s3.enabled", "Value": "true"}]
                )
            }
        },
    )


def test_an_imported_certificate_is_used_as_is(synthesized):
    from support.aws_helpers import IMPORTED_CERTIFICATE

    template = synthesized("imported-certificate").template()
    template.resource_count_is("AWS::CertificateManager::Certificate", 0)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"Port": 443, "Certificates": [{"CertificateArn": IMPORTED_CERTIFICATE}]},
    )
