"""IAM (seed 004): Developers and Directors groups with customer-managed policies, and the
app role scoped to the app's own bucket, secrets and file system."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match
from part2_helpers import as_list, part2_spec, statements

from threetier.aws.constructs.iam import AccessControl, AppAccessPolicy
from threetier.aws.constructs.storage import SharedStorage

SCOPED_SERVICES = ("s3:", "secretsmanager:", "elasticfilesystem:")


@pytest.fixture(scope="module")
def built(build):
    spec = part2_spec("default", storage={"media_backend": "s3"})

    def populate(app, stack, scaffold):
        AccessControl(stack, "Access", name_prefix="threetier-test", env_name="test")
        storage = SharedStorage(
            stack,
            "Storage",
            storage=spec.storage,
            vpc=scaffold.vpc,
            subnets=scaffold.web_subnets,
            web_security_group=scaffold.web_sg,
            retain_data=False,
        )
        role = iam.Role(stack, "WebRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
        AppAccessPolicy(
            stack,
            "WebAccess",
            role=role,
            storage=storage,
            secrets=[scaffold.db_secret, scaffold.app_secret],
            session_manager=True,
        )

    return build(populate)


def _managed_policy(built, name: str) -> list[dict]:
    found = built.template().find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"ManagedPolicyName": name}}
    )
    assert len(found) == 1, found
    return next(iter(found.values()))["Properties"]["PolicyDocument"]["Statement"]


def _actions(statement_list: list[dict]) -> set[str]:
    return {action for s in statement_list for action in as_list(s["Action"])}


def test_groups_use_customer_managed_policies(built):
    template = built.template()
    template.resource_count_is("AWS::IAM::ManagedPolicy", 2)
    for group, policy in (("Developers", "DeveloperPolicy"), ("Directors", "DirectorPolicy")):
        found = template.find_resources(
            "AWS::IAM::Group", {"Properties": {"GroupName": f"threetier-test-{group}"}}
        )
        (props,) = [r["Properties"] for r in found.values()]
        (ref,) = props["ManagedPolicyArns"]
        assert ref["Ref"].startswith(f"Access{policy}"), ref


def test_developers_operate_ec2_and_rds_of_this_environment_only(built):
    policy = _managed_policy(built, "threetier-test-DeveloperPolicy")
    assert {
        "ec2:StartInstances",
        "ec2:StopInstances",
        "rds:RebootDBInstance",
        "ec2:Describe*",
        "rds:Describe*",
    } <= _actions(policy)
    for statement in policy:
        if any(
            action.startswith(("ec2:St", "ec2:Reboot", "rds:Reboot", "rds:St"))
            for action in as_list(statement["Action"])
        ):
            assert statement["Condition"] == {
                "StringEquals": {"aws:ResourceTag/threetier:env": "test"}
            }


def test_developers_never_get_service_wide_wildcards(built):
    policy = _managed_policy(built, "threetier-test-DeveloperPolicy")
    assert not {"ec2:*", "rds:*", "*"} & _actions(policy)


def test_directors_only_read(built):
    actions = _actions(_managed_policy(built, "threetier-test-DirectorPolicy"))
    assert "ec2:Describe*" in actions
    assert all(a.split(":")[1].startswith(("Describe", "Get", "List")) for a in actions), actions


def test_app_role_names_every_s3_secret_and_efs_resource(built):
    scoped = [
        s
        for s in statements(built.raw())
        if any(a.startswith(SCOPED_SERVICES) for a in as_list(s["Action"]))
    ]
    assert {
        "s3:GetObject",
        "s3:PutObject",
        "secretsmanager:GetSecretValue",
        "elasticfilesystem:ClientMount",
    } <= _actions(scoped)
    for statement in scoped:
        assert "*" not in as_list(statement["Resource"]), statement


def test_app_role_reads_exactly_the_two_secrets(built):
    (secrets,) = [
        s
        for s in statements(built.raw())
        if "secretsmanager:GetSecretValue" in as_list(s["Action"])
    ]
    refs = sorted(json.dumps(r) for r in secrets["Resource"])
    assert (
        len(refs) == 2
        and any("DatabaseSecret" in r for r in refs)
        and any("DjangoSecretKey" in r for r in refs)
    ), refs


def test_efs_mount_only_through_the_media_access_point(built):
    (mount,) = [
        s
        for s in statements(built.raw())
        if "elasticfilesystem:ClientMount" in as_list(s["Action"])
    ]
    file_system, attribute = mount["Resource"]["Fn::GetAtt"]
    assert file_system.startswith("StorageFileSystem") and attribute == "Arn"
    condition = json.dumps(mount["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"])
    assert "StorageFileSystemMediaAccessPoint" in condition


def test_session_manager_instead_of_ssh(built):
    built.template().has_resource_properties(
        "AWS::IAM::Role",
        {
            "ManagedPolicyArns": [
                {
                    "Fn::Join": [
                        "",
                        Match.array_with(
                            [Match.string_like_regexp("AmazonSSMManagedInstanceCore")]
                        ),
                    ]
                }
            ]
        },
    )


def test_no_unacknowledged_nag_findings(built):
    assert (
        built.findings_under("Test/Access", "Test/WebAccess", "Test/WebRole", "Test/Storage") == []
    )
