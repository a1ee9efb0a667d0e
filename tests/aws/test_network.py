"""The VPC is exactly the parameters' drawing: CIDRs, AZs, NAT count, flow logs."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from support.aws_helpers import logical_ids, tagged

pytestmark = pytest.mark.synth


@pytest.mark.parametrize("env", ["default", "prod"])
def test_every_subnet_has_the_parameters_cidr_and_az(synthesized, env):
    built = synthesized(env)
    template = built.template()
    template.resource_count_is("AWS::EC2::Subnet", len(built.spec.network.subnets))
    for subnet in built.spec.network.subnets:
        template.has_resource_properties(
            "AWS::EC2::Subnet",
            {
                "CidrBlock": str(subnet.cidr),
                "AvailabilityZone": subnet.az,
                "Tags": Match.array_with([{"Key": "Name", "Value": subnet.name}]),
            },
        )


def test_subnets_span_two_azs_per_tier(synthesized):
    spec = synthesized("default").spec
    for tier in ("public", "private", "isolated"):
        assert len(spec.network.azs_of(tier)) >= 2, tier


def test_vpc_cidr_and_dns_hostnames(synthesized):
    synthesized("default").template().has_resource_properties(
        "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16", "EnableDnsHostnames": True}
    )


def test_public_subnets_route_to_the_internet_gateway(synthesized):
    template = synthesized("default").template()
    template.resource_count_is("AWS::EC2::InternetGateway", 1)
    routes = template.find_resources(
        "AWS::EC2::Route",
        {"Properties": {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": Match.any_value()}},
    )
    assert len(routes) == 2


@pytest.mark.parametrize(("env", "nats"), [("default", 1), ("prod", 2), ("public-web", 0)])
def test_nat_gateway_count_comes_from_the_parameters(synthesized, env, nats):
    template = synthesized(env).template()
    template.resource_count_is("AWS::EC2::NatGateway", nats)
    template.resource_count_is("AWS::EC2::EIP", nats)


def test_isolated_subnets_have_no_default_route(synthesized):
    template = synthesized("prod").template()
    isolated = [tagged(template, "AWS::EC2::Subnet", n) for n in ("isolated-1a", "isolated-1c")]
    tables = template.find_resources("AWS::EC2::SubnetRouteTableAssociation")
    isolated_tables = {
        t["Properties"]["RouteTableId"]["Ref"]
        for t in tables.values()
        if t["Properties"]["SubnetId"]["Ref"] in isolated
    }
    routes = template.find_resources("AWS::EC2::Route")
    assert isolated_tables
    assert not [
        r for r in routes.values() if r["Properties"]["RouteTableId"]["Ref"] in isolated_tables
    ]


def test_private_subnets_use_the_nat_in_their_own_az_in_prod(synthesized):
    template = synthesized("prod").template()
    routes = template.find_resources(
        "AWS::EC2::Route", {"Properties": {"NatGatewayId": Match.any_value()}}
    )
    assert len({r["Properties"]["NatGatewayId"]["Ref"] for r in routes.values()}) == 2


def test_public_web_servers_get_public_ips_only_in_the_seed_000_layout(synthesized):
    synthesized("public-web").template().has_resource_properties(
        "AWS::EC2::Subnet", {"MapPublicIpOnLaunch": True}
    )
    assert not logical_ids(
        synthesized("default").template(), "AWS::EC2::Subnet", {"MapPublicIpOnLaunch": True}
    )


def test_flow_logs_only_where_the_parameters_ask(synthesized):
    synthesized("prod").template().resource_count_is("AWS::EC2::FlowLog", 1)
    synthesized("default").template().resource_count_is("AWS::EC2::FlowLog", 0)
