"""IAM as wired (seed 004): people in groups, the app's roles scoped to the app's own resources."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match
from support.aws_helpers import as_list, logical_ids, role_statements

pytestmark = pytest.mark.synth

# Actions whose resource cannot be named in IAM (AWS documents no resource-level permission).
UNNAMEABLE = {
    "ecr:GetAuthorizationToken",
    "logs:DescribeLogGroups",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def master_secret(template) -> str:
    """The RDS master secret, as policies name it (its target attachment)."""
    (attachment,) = logical_ids(template, "AWS::SecretsManager::SecretTargetAttachment")
    return attachment


def app_user_secret(template) -> str:
    (secret,) = logical_ids(
        template,
        "AWS::SecretsManager::Secret",
        {"Description": Match.string_like_regexp("app role uda_app")},
    )
    return secret


def test_developers_and_directors_groups_with_customer_managed_policies(synthesized):
    template = synthesized("prod").template()
    template.resource_count_is("AWS::IAM::ManagedPolicy", 2)
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
    developer_actions = {a for s in developer for a in as_list(s["Action"])}
    assert {
        "ec2:StartInstances",
        "ec2:StopInstances",
        "rds:RebootDBInstance",
        "ec2:Describe*",
        "rds:Describe*",
    } <= developer_actions
    assert not {"ec2:*", "rds:*", "*"} & developer_actions  # never service-wide
    operating = [
        s
        for s in developer
        if any(
            a.startswith(("ec2:St", "ec2:Reboot", "rds:Reboot", "rds:St"))
            for a in as_list(s["Action"])
        )
    ]
    assert operating and all(
        s["Condition"] == {"StringEquals": {"aws:ResourceTag/threetier:env": "prod"}}
        for s in operating
    )
    director_actions = {
        a for s in policies["threetier-prod-DirectorPolicy"] for a in as_list(s["Action"])
    }
    assert "ec2:Describe*" in director_actions
    assert all(a.split(":")[1].startswith(("Describe", "Get", "List")) for a in director_actions)


def test_instance_role_is_scoped_to_the_apps_resources(synthesized):
    built = synthesized("default")
    template = built.template()
    (role,) = logical_ids(
        template,
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "ec2.amazonaws.com"}})]}
            ),
            # the web servers' (the one-off migrator has a role of its own: test_web_tier)
            "Description": Match.string_like_regexp("^threetier web servers"),
        },
    )
    statements = role_statements(built.raw(), role)
    assert [s for s in statements if "*" in as_list(s["Resource"])] == []
    by_sid = {s.get("Sid"): s for s in statements}
    secrets = {json.dumps(r) for r in by_sid["ReadSecrets"]["Resource"]}
    # Never the master secret: the one-off migrator alone reads it (test_web_tier).
    assert json.dumps({"Ref": master_secret(template)}) not in json.dumps(statements)
    assert secrets == {
        json.dumps({"Ref": app_user_secret(template)}),
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
    (file_system,) = logical_ids(template, "AWS::EFS::FileSystem")
    assert by_sid["MountMedia"]["Resource"] == {"Fn::GetAtt": [file_system, "Arn"]}
    assert by_sid["ShipLogs"]["Resource"]["Fn::GetAtt"][1] == "Arn"
    # Session Manager instead of SSH: test_web_tier.test_no_key_pair_and_session_manager_role.


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
    granted = {
        action
        for role in roles
        for s in role_statements(raw, role)
        for action in as_list(s["Action"])
    }
    # The app's own media bucket, file system and secrets are reachable (each by name: below).
    assert {
        "s3:GetObject",
        "s3:PutObject",
        "secretsmanager:GetSecretValue",
        "elasticfilesystem:ClientMount",
    } <= granted
    wildcards = {
        action
        for role in roles
        for s in role_statements(raw, role)
        if "*" in as_list(s["Resource"])
        for action in as_list(s["Action"])
    }
    assert wildcards <= UNNAMEABLE, wildcards - UNNAMEABLE


def ecs_roles(raw: dict) -> dict[str, list[dict]]:
    """{role logical id: its statements} for every role ECS tasks assume."""
    return {
        lid: role_statements(raw, lid)
        for lid, r in raw["Resources"].items()
        if r["Type"] == "AWS::IAM::Role"
        and "ecs-tasks.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    }


def task_definition_roles(raw: dict, container: str) -> set[str]:
    """The task and execution roles of the task definition holding `container`."""
    (definition,) = [
        r["Properties"]
        for r in raw["Resources"].values()
        if r["Type"] == "AWS::ECS::TaskDefinition"
        and any(c["Name"] == container for c in r["Properties"]["ContainerDefinitions"])
    ]
    return {definition[key]["Fn::GetAtt"][0] for key in ("TaskRoleArn", "ExecutionRoleArn")}


def readable_secrets(statements: list[dict]) -> set[str]:
    return {
        json.dumps(resource)
        for s in statements
        if any(a.startswith("secretsmanager:Get") for a in as_list(s["Action"]))
        for resource in as_list(s["Resource"])
    }


def test_no_web_task_role_can_read_the_master_secret_only_the_migration_task(synthesized):
    built = synthesized("fargate")
    raw, template = built.raw(), built.template()
    roles = ecs_roles(raw)
    master = json.dumps({"Ref": master_secret(template)})
    app_user = json.dumps({"Ref": app_user_secret(template)})
    web_roles = task_definition_roles(raw, "web")
    migrate_roles = task_definition_roles(raw, "migrate")
    assert web_roles.isdisjoint(migrate_roles) and web_roles | migrate_roles == set(roles)
    for role in web_roles:
        assert master not in readable_secrets(roles[role]), role
        assert master_secret(template) not in json.dumps(roles[role]), role
    assert any(app_user in readable_secrets(roles[role]) for role in web_roles)
    assert any(master in readable_secrets(roles[role]) for role in migrate_roles)
