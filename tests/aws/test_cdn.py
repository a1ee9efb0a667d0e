"""The ALB's listener with a domain (host rule, fixed 404 for any other Host, HSTS, no
Server header) and CloudFront in front of it (dns.cloudfront): the origin group, the
security group locked to CloudFront's origin-facing prefix list, X-Forwarded-For kept."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match
from support.aws_helpers import DOMAIN

from threetier.aws.constructs.cdn import ORIGIN_FACING_PREFIX_LIST, ORIGIN_FAILOVER_STATUSES
from threetier.checks.parity import parity_findings, twin_view
from threetier.local.caddy import ORIGIN_FAILOVER_METHODS as TWIN_METHODS
from threetier.local.caddy import ORIGIN_FAILOVER_STATUSES as TWIN_STATUSES

pytestmark = pytest.mark.synth

ORIGIN = f"origin.{DOMAIN}"


def one(template, kind: str, where: dict | None = None) -> dict:
    found = template.find_resources(kind, {"Properties": where} if where else None)
    assert len(found) == 1, (kind, list(found))
    return next(iter(found.values()))["Properties"]


def alb_name_ref(value) -> bool:
    return isinstance(value, dict) and value.get("Fn::GetAtt", [None, ""])[1] == "DNSName"


@pytest.mark.parametrize("env, names", [("domain", [DOMAIN]), ("cloudfront", [DOMAIN, ORIGIN])])
def test_with_a_domain_only_the_systems_own_names_reach_the_targets(synthesized, env, names):
    template = synthesized(env).template()
    listener = one(template, "AWS::ElasticLoadBalancingV2::Listener", {"Port": 443})
    assert listener["DefaultActions"] == [{
        "Type": "fixed-response",
        "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "unknown host"},
    }]
    rule = one(template, "AWS::ElasticLoadBalancingV2::ListenerRule")
    (condition,) = rule["Conditions"]
    assert condition["Field"] == "host-header"
    values = condition["HostHeaderConfig"]["Values"]
    # The ALB's own DNS name too: Route 53's health check sends it as Host.
    assert values[:-1] == names and alb_name_ref(values[-1]), values
    assert rule["Actions"][0]["Type"] == "forward"


@pytest.mark.parametrize("env", ["domain", "cloudfront"])
def test_https_answers_carry_hsts_and_no_server_header(synthesized, env):
    listener = one(synthesized(env).template(), "AWS::ElasticLoadBalancingV2::Listener", {"Port": 443})
    attributes = {a["Key"]: a["Value"] for a in listener["ListenerAttributes"]}
    assert attributes == {
        "routing.http.response.strict_transport_security.header_value": "max-age=31536000",
        "routing.http.response.server.enabled": "false",
    }


def test_without_a_domain_every_host_is_forwarded_as_before(synthesized):
    template = synthesized("default").template()
    template.resource_count_is("AWS::ElasticLoadBalancingV2::ListenerRule", 0)


def test_cloudfront_fronts_the_alb_with_an_origin_group_failing_over_to_the_sorry_site(synthesized):
    edge = synthesized("cloudfront").template("edge")
    distributions = edge.find_resources("AWS::CloudFront::Distribution")
    app = next(d["Properties"]["DistributionConfig"] for d in distributions.values()
               if d["Properties"]["DistributionConfig"].get("OriginGroups"))
    (group,) = app["OriginGroups"]["Items"]
    assert sorted(group["FailoverCriteria"]["StatusCodes"]["Items"]) == list(ORIGIN_FAILOVER_STATUSES)
    members = [m["OriginId"] for m in group["Members"]["Items"]]
    origins = {o["Id"]: o for o in app["Origins"]}
    primary, secondary = origins[members[0]], origins[members[1]]
    assert primary["DomainName"] == ORIGIN
    assert primary["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    # The secondary is the sorry site's own distribution (its cloudfront.net name).
    assert secondary["DomainName"]["Fn::GetAtt"][1] == "DomainName"
    sorry_id = secondary["DomainName"]["Fn::GetAtt"][0]
    assert "Aliases" not in distributions[sorry_id]["Properties"]["DistributionConfig"]
    assert app["Aliases"] == [DOMAIN]
    behavior = app["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == group["Id"]
    assert len(behavior["AllowedMethods"]) == 7  # forms and the API pass; only GET/HEAD/OPTIONS fail over
    # The domain aliases the distribution; no failover pair and no Route 53 health check.
    record = one(edge, "AWS::Route53::RecordSet")
    assert record["Name"] == f"{DOMAIN}." and record["Type"] == "A"
    assert record["AliasTarget"]["DNSName"]["Fn::GetAtt"][0] in distributions
    assert "Failover" not in record
    for stack in ("edge", "system"):
        template = synthesized("cloudfront").template(stack)
        assert not template.find_resources("AWS::Route53::RecordSet", {"Properties": {"Failover": Match.any_value()}})
        template.resource_count_is("AWS::Route53::HealthCheck", 0)
    # CloudFront reaches the ALB as origin.<domain>: a record to the ALB, in its certificate.
    system = synthesized("cloudfront").template()
    system.has_resource_properties("AWS::Route53::RecordSet", {"Name": f"{ORIGIN}.", "Type": "A"})
    system.has_resource_properties("AWS::CertificateManager::Certificate",
                                   {"DomainName": DOMAIN, "SubjectAlternativeNames": [ORIGIN]})


def test_with_cloudfront_the_alb_takes_https_from_cloudfronts_prefix_list_only(synthesized):
    system = synthesized("cloudfront").template()
    lookups = system.find_resources("Custom::AWS")
    (lookup,) = lookups.values()
    create = str(lookup["Properties"]["Create"])
    assert "describeManagedPrefixLists" in create and ORIGIN_FACING_PREFIX_LIST in create
    groups = system.find_resources("AWS::EC2::SecurityGroup")
    alb_sg = next(name for name, g in groups.items() if g["Properties"]["GroupDescription"].startswith("ALB"))
    assert not groups[alb_sg]["Properties"].get("SecurityGroupIngress")  # no CIDR rule at all
    rules = [r["Properties"] for r in system.find_resources("AWS::EC2::SecurityGroupIngress").values()
             if r["Properties"]["GroupId"] == {"Fn::GetAtt": [alb_sg, "GroupId"]}]
    (rule,) = rules
    assert rule["FromPort"] == rule["ToPort"] == 443 and "CidrIp" not in rule
    assert rule["SourcePrefixListId"] == {"Fn::GetAtt": [next(iter(lookups)), "PrefixLists.0.PrefixListId"]}
    system.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {
        "LoadBalancerAttributes": Match.array_with([{"Key": "routing.http.xff_header_processing.mode",
                                                     "Value": "preserve"}]),
    })


def test_the_dns_only_design_keeps_its_cidr_rules_and_appends_to_x_forwarded_for(synthesized):
    system = synthesized("domain").template()
    system.resource_count_is("Custom::AWS", 0)
    assert not system.find_resources("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Properties": {
        "LoadBalancerAttributes": Match.array_with([{"Key": "routing.http.xff_header_processing.mode",
                                                     "Value": "preserve"}])}})


def test_the_twins_cloudfront_stage_and_the_origin_group_agree_and_drift_is_named(synthesized):
    built = synthesized("cloudfront")
    assert TWIN_STATUSES == ORIGIN_FAILOVER_STATUSES and TWIN_METHODS == ("GET", "HEAD", "OPTIONS")
    twin = twin_view(built.spec)
    assert parity_findings(twin, built.templates) == []
    changed = json.loads(json.dumps(built.templates))
    for template in changed.values():
        for resource in template["Resources"].values():
            groups = resource.get("Properties", {}).get("DistributionConfig", {}).get("OriginGroups")
            if groups:
                groups["Items"][0]["FailoverCriteria"]["StatusCodes"] = {"Quantity": 2, "Items": [502, 503]}
    (finding,) = parity_findings(twin, changed)
    assert "origin failover status codes" in finding.message and "[502, 503]" in finding.message
    assert "[500, 502, 503, 504]" in finding.message
