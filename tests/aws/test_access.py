"""IAM as wired (seed 004): people in groups, the app's roles scoped to the app's own resources."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match
from aws_helpers import logical_ids

# Actions whose resource cannot be named in IAM (AWS documents no resource-level permission).
UNNAMEABLE = {
    "ecr:GetAuthorizationToken",
    "logs:DescribeLogGroups",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def role_statements(raw: dict, role: str) -> list[dict]:
    """Every statement of every inline policy attached to the role `role` (logical id)."""
    return [
        statement
        for resource in raw["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        and {"Ref": role} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_developers_and_directors_groups_with_customer_managed_policies(synthesized):
    template = synthesized("prod").template()
    for group, policy in (("Developers", "DeveloperPolicy"), ("Directors", "DirectorPolicy")):
        (managed,) = logical_ids(
            template, "AWS::IAM::ManagedPolicy", {"ManagedPolicyName": f"threetier-prod-{policy}"}
        )
        template.has_resource_properties(
            "AWS::IAM::Group",
            {"GroupName": f"threetier-prod-{group}", "ManagedPolicyArns": [{"Ref": managed}]},
        )


def test_developers_operate_this_environment_only_directors_only_read(synthesized):
    template = synthesized("prod").template()
    policies = {
        p["Properties"]["ManagedPolicyName"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in template.find_resources("AWS::IAM::ManagedPolicy").values()
    }
    developer = policies["threetier-prod-DeveloperPolicy"]
    (reboot,) = [s for s in developer if "rds:RebootDBInstance" in as_list(s["Action"])]
    assert reboot["Condition"] == {"StringEquals": {"aws:ResourceTag/threetier:env": "prod"}}
    director_actions = {
        a for s in policies["threetier-prod-DirectorPolicy"] for a in as_list(s["Action"])
    }
    assert director_actions and all(
        a.split(":")[1].startswith(("Describe", "Get", "List")) for a in director_actions
    )


def test_instance_role_is_scoped_to_the_apps_resources(synthesized):
    built = synthesized("default")
    template = built.template()
    (role,) = logical_ids(
        template,
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "ec2.amazonaws.com"}})]}
            )
        },
    )
    statements = role_statements(built.raw(), role)
    assert [s for s in statements if "*" in as_list(s["Resource"])] == []
    by_sid = {s.get("Sid"): s for s in statements}
    secrets = {json.dumps(r) for r in by_sid["ReadSecrets"]["Resource"]}
    assert secrets == {
        json.dumps(
            {"Ref": logical_ids(template, "AWS::SecretsManager::SecretTargetAttachment")[0]}
        ),
        json.dumps(
            {
                "Ref": logical_ids(
                    template,
                    "AWS::SecretsManager::Secret",
                    {"Description": "Django SECRET_KEY for the web servers"},
                )[0]
            }
        ),
    }
    (access_point,) = logical_ids(template, "AWS::EFS::AccessPoint")
    condition = by_sid["MountMedia"]["Condition"]["StringEquals"]
    assert {"Ref": access_point} in condition["elasticfilesystem:AccessPointArn"]["Fn::Join"][1]
    assert by_sid["ShipLogs"]["Resource"]["Fn::GetAtt"][1] == "Arn"
    # Session Manager instead of SSH.
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "ManagedPolicyArns": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Fn::Join": Match.array_with(
                                [
                                    Match.array_with(
                                        [":iam::aws:policy/AmazonSSMManagedInstanceCore"]
                                    )
                                ]
                            )
                        }
                    )
                ]
            )
        },
    )


@pytest.mark.parametrize("env", ["fargate"])
def test_task_roles_name_every_resource_that_can_be_named(synthesized, env):
    built = synthesized(env)
    raw = built.raw()
    roles = [
        lid
        for lid, r in raw["Resources"].items()
        if r["Type"] == "AWS::IAM::Role"
        and "ecs-tasks.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert len(roles) == 4  # task + execution role, for the service and the migration task
    wildcards = {
        action
        for role in roles
        for s in role_statements(raw, role)
        if "*" in as_list(s["Resource"])
        for action in as_list(s["Action"])
    }
    assert wildcards <= UNNAMEABLE, wildcards - UNNAMEABLE
