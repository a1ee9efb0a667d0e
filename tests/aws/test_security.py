"""The security-group chain: internet → ALB (80/443) → web (app port) → DB (5432), nothing else."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from threetier.checks.architecture import check_template, ingress_rules
from support.aws_helpers import logical_ids

pytestmark = pytest.mark.synth


def groups(template):
    found = {}
    for role, text in (("alb", "ALB"), ("web", "Web servers"), ("db", "Database")):
        ids = logical_ids(
            template,
            "AWS::EC2::SecurityGroup",
            {"GroupDescription": Match.string_like_regexp(f"^{text}")},
        )
        assert len(ids) == 1, (role, ids)
        found[role] = ids[0]
    return found


def rules_of(raw, group):
    return [rule for _, owner, rule in ingress_rules(raw["Resources"]) if owner == group]


@pytest.mark.parametrize("env", ["default", "prod", "domain"])
def test_db_accepts_only_5432_from_the_web_sg(synthesized, env):
    built = synthesized(env)
    sg = groups(built.template())
    rules = rules_of(built.raw(), sg["db"])
    assert rules == [
        {
            "Description": "PostgreSQL from the web servers",
            "FromPort": 5432,
            "ToPort": 5432,
            "IpProtocol": "tcp",
            "GroupId": {"Fn::GetAtt": [sg["db"], "GroupId"]},
            "SourceSecurityGroupId": {"Fn::GetAtt": [sg["web"], "GroupId"]},
        }
    ]


# fargate: attaching the ECS service re-adds the ALB → web rule; CDK must merge it, not duplicate it.
@pytest.mark.parametrize("env", ["default", "domain", "fargate"])
def test_web_accepts_only_the_app_port_from_the_alb_sg(synthesized, env):
    built = synthesized(env)
    sg = groups(built.template())
    rules = rules_of(built.raw(), sg["web"])
    assert len(rules) == 1
    assert rules[0]["SourceSecurityGroupId"] == {"Fn::GetAtt": [sg["alb"], "GroupId"]}
    assert rules[0]["FromPort"] == rules[0]["ToPort"] == built.spec.web.app_port


@pytest.mark.parametrize(("env", "ports"), [("default", {80}), ("domain", {80, 443})])
def test_only_the_alb_takes_traffic_from_anywhere_on_80_443(synthesized, env, ports):
    built = synthesized(env)
    sg = groups(built.template())
    world = [
        (owner, rule["FromPort"], rule["ToPort"])
        for _, owner, rule in ingress_rules(built.raw()["Resources"])
        if rule.get("CidrIp") == "0.0.0.0/0" or rule.get("CidrIpv6") == "::/0"
    ]
    assert sorted(world) == sorted((sg["alb"], p, p) for p in ports)


@pytest.mark.parametrize("env", ["default", "prod", "domain", "public-web"])
def test_no_ssh_and_no_architecture_violation(synthesized, env):
    built = synthesized(env)
    for name, raw in built.templates.items():
        assert check_template(name, raw) == []
        for _, _, rule in ingress_rules(raw["Resources"]):
            assert not (rule.get("FromPort", 0) <= 22 <= rule.get("ToPort", 65535)), rule


def test_alb_egress_goes_only_to_the_web_sg(synthesized):
    template = synthesized("default").template()
    sg = groups(template)
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupEgress",
        {
            "GroupId": {"Fn::GetAtt": [sg["alb"], "GroupId"]},
            "DestinationSecurityGroupId": {"Fn::GetAtt": [sg["web"], "GroupId"]},
            "FromPort": 8000,
        },
    )
