"""RDS PostgreSQL: private, encrypted, in the isolated subnets, per-environment durability."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match
from support.aws_helpers import tagged

from threetier.checks.architecture import plain_text_passwords

pytestmark = pytest.mark.synth


def test_prod_database_is_multi_az_encrypted_private_and_protected(synthesized):
    synthesized("prod").template().has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": "16",
            "MultiAZ": True,
            "StorageEncrypted": True,
            "PubliclyAccessible": False,
            "DeletionProtection": True,
            "BackupRetentionPeriod": 30,
            "PreferredBackupWindow": "18:00-18:30",
            "PreferredMaintenanceWindow": "sun:19:00-sun:19:30",
            "DBName": "uda_psql_db",
            "Port": "5432",
        },
    )


def test_default_database_is_single_az_and_destroyable(synthesized):
    template = synthesized("default").template()
    template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {"MultiAZ": False, "DeletionProtection": False, "StorageEncrypted": True},
    )
    template.has_resource("AWS::RDS::DBInstance", {"DeletionPolicy": "Delete"})


def test_prod_keeps_a_final_snapshot(synthesized):
    synthesized("prod").template().has_resource(
        "AWS::RDS::DBInstance", {"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot"}
    )


STACK_ID_SUFFIX = {
    "Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]
}


@pytest.mark.parametrize("env", ["default", "prod"])
def test_database_and_its_log_group_are_named_per_stack_creation(synthesized, env):
    """A log group kept by destroy (prod) or left by RDS never blocks the next deploy."""
    raw = synthesized(env).raw()
    (instance,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::RDS::DBInstance"]
    identifier = {"Fn::Join": ["", [f"threetier-{env}-db-", STACK_ID_SUFFIX]]}
    assert instance["Properties"]["DBInstanceIdentifier"] == identifier
    groups = [
        r["Properties"]["LogGroupName"]
        for r in raw["Resources"].values()
        if r["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" in r["Properties"]
    ]
    assert groups == [
        {"Fn::Join": ["", ["/aws/rds/instance/threetier-" + env + "-db-", STACK_ID_SUFFIX, "/postgresql"]]}
    ]


def test_prod_keeps_the_master_secret_with_the_final_snapshot(synthesized):
    """A restored snapshot needs the master password it was taken with."""
    template = synthesized("prod").template()
    template.has_resource(
        "AWS::SecretsManager::Secret",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {"GenerateSecretString": Match.object_like({"SecretStringTemplate": '{"username":"uda_admin"}'})}
            ),
        },
    )
    synthesized("default").template().has_resource(
        "AWS::SecretsManager::Secret",
        {
            "DeletionPolicy": "Delete",
            "Properties": Match.object_like(
                {"GenerateSecretString": Match.object_like({"SecretStringTemplate": '{"username":"uda_admin"}'})}
            ),
        },
    )


@pytest.mark.parametrize("env", ["default", "prod"])
def test_subnet_group_is_the_isolated_subnets_in_two_azs(synthesized, env):
    template = synthesized(env).template()
    isolated = [tagged(template, "AWS::EC2::Subnet", n) for n in ("isolated-1a", "isolated-1c")]
    template.has_resource_properties(
        "AWS::RDS::DBSubnetGroup", {"SubnetIds": [{"Ref": isolated[0]}, {"Ref": isolated[1]}]}
    )


def test_parameter_group_per_environment_forces_tls(synthesized):
    synthesized("prod").template().has_resource_properties(
        "AWS::RDS::DBParameterGroup",
        {
            "Family": "postgres16",
            "Description": Match.string_like_regexp("prod"),
            "Parameters": {"rds.force_ssl": "1"},
        },
    )


@pytest.mark.parametrize("env", ["default", "prod", "fargate", "domain", "imported-certificate"])
def test_no_plain_text_password_in_any_template(synthesized, env):
    for name, raw in synthesized(env).templates.items():
        assert list(plain_text_passwords(raw)) == [], name


def test_master_password_is_generated_by_secrets_manager(synthesized):
    template = synthesized("default").template()
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "GenerateSecretString": Match.object_like(
                {
                    "GenerateStringKey": "password",
                    "SecretStringTemplate": '{"username":"uda_admin"}',
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {"MasterUserPassword": {"Fn::Join": ["", Match.array_with(["{{resolve:secretsmanager:"])]}},
    )
    assert not template.find_resources(
        "AWS::SecretsManager::Secret", {"Properties": {"SecretString": Match.any_value()}}
    )


@pytest.mark.parametrize("env", ["default", "prod", "fargate"])
def test_app_role_has_its_own_generated_secret(synthesized, env):
    built = synthesized(env)
    template = built.template()
    app_user = built.spec.database.app_username
    assert app_user != built.spec.database.master_username
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "Description": Match.string_like_regexp(f"app role {app_user}"),
            "GenerateSecretString": {
                "GenerateStringKey": "password",
                "SecretStringTemplate": f'{{"username":"{app_user}"}}',
                "ExcludePunctuation": True,
                "PasswordLength": 40,
            },
        },
    )
    # Only the master's secret is attached to the instance: RDS never sees the app role.
    template.resource_count_is("AWS::SecretsManager::SecretTargetAttachment", 1)
