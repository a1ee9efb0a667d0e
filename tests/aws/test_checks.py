"""`threetier check`: passes on both environments, and fails on what it exists to catch."""

from __future__ import annotations

import copy

import pytest

from threetier.checks.architecture import check_template
from threetier.checks.nag import read_report
from threetier.checks.traps import spec_traps
from threetier.cli.main import main

pytestmark = pytest.mark.synth  # `threetier check` synthesizes too


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("THREETIER_ENV", raising=False)


@pytest.mark.parametrize("env", ["default", "prod", "fargate"])
def test_check_passes_and_prints_the_cost_drivers(capsys, env):
    code = main(["--env", env, "check"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "check passed: 0 error(s)" in err
    assert f"threetier-{env} (" in err and f"threetier-{env}-billing (" in err
    # No file sets a domain: plain HTTP is allowed, but never silently.
    assert "http-only" in out and "warning" in out
    # The deploy preflight's account-free rules run too: alarms reach no one without an
    # e-mail, and prod's plain HTTP is acknowledged (dns.plain_http_reason), so a warning.
    assert "no-alarm-email" in out
    assert ("prod-plain-http" in out) == (env == "prod")
    assert "billing-below-estimate" not in out
    assert "monthly cost while running" in out and "Total (fixed drivers)" in out
    assert "NAT gateway" in out and "Application Load Balancer" in out
    assert ("Fargate task" in out) == (env == "fargate")
    # Only prod keeps data (and its bill) after destroy.
    assert ("still billing after `threetier destroy`" in out) == (env == "prod")


def test_nag_reports_an_unacknowledged_finding(tmp_path):
    """A construct nobody excused (a VPC without flow logs) must come back as an error."""
    import threetier.aws  # noqa: F401
    from aws_cdk import App, Stack, Validations
    from aws_cdk import aws_ec2 as ec2
    from cdk_nag import AwsSolutionsChecks

    app = App(outdir=str(tmp_path))
    ec2.CfnVPC(Stack(app, "Bare"), "Vpc", cidr_block="10.9.0.0/16")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    findings = read_report(tmp_path / "validation-report.json")
    assert [(f.severity, f.rule) for f in findings] == [("error", "AwsSolutions-VPC7")]


@pytest.mark.parametrize("env", ["domain", "prod"])
def test_every_acknowledgment_carries_a_reason(synthesized, env):
    from aws_cdk import Validations

    from threetier.aws.app import build_app

    stacks = build_app(synthesized(env).spec)
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    acknowledged = [
        (construct.node.path, rule, reason)
        for construct in stacks.app.node.find_all()
        for entry in construct.node.metadata
        if entry.type == key
        for rule, reason in entry.data.items()
    ]
    assert acknowledged
    assert all(
        rule.startswith(("AwsSolutions::", "CloudFormation-Validate::"))
        for _, rule, _ in acknowledged
    )
    assert [a for a in acknowledged if len(a[2]) < 30] == []


def bad_template(**changes):
    template = {
        "Resources": {
            "Alb": {
                "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "Properties": {"SecurityGroups": [{"Fn::GetAtt": ["AlbSg", "GroupId"]}]},
            },
            "AlbSg": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "SecurityGroupIngress": [
                        {"CidrIp": "0.0.0.0/0", "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"}
                    ]
                },
            },
            "WebSg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {}},
            "Db": {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {
                    "PubliclyAccessible": False,
                    "StorageEncrypted": True,
                    "MasterUserPassword": {
                        "Fn::Join": [
                            "",
                            [
                                "{{resolve:secretsmanager:",
                                {"Ref": "S"},
                                ":SecretString:password::}}",
                            ],
                        ]
                    },
                },
            },
        }
    }
    for path, value in changes.items():
        resource, key = path.split(".", 1)
        template["Resources"][resource]["Properties"][key] = value
    return template


def rules(template):
    return sorted({f.rule for f in check_template("t.json", template)})


def test_architecture_accepts_the_good_shape():
    assert rules(bad_template()) == []


def test_architecture_catches_ssh_world_ingress_public_db_and_passwords():
    assert rules(
        bad_template(
            **{
                "WebSg.SecurityGroupIngress": [
                    {"CidrIp": "0.0.0.0/0", "FromPort": 22, "ToPort": 22, "IpProtocol": "tcp"}
                ]
            }
        )
    ) == ["no-ssh", "world-ingress"]
    assert rules(bad_template(**{"Db.PubliclyAccessible": True})) == ["db-private"]
    assert rules(bad_template(**{"Db.StorageEncrypted": False})) == ["db-encrypted"]
    assert rules(bad_template(**{"Db.MasterUserPassword": "password"})) == [
        "db-password",
        "plain-text-password",
    ]


def test_traps_name_their_keys(synthesized):
    data = copy.deepcopy(synthesized("default").spec.model_dump(mode="json"))
    data["load_balancer"]["health_check"]["path"] = "/login"
    data["environment"]["retain_data"] = True
    from threetier.spec import parse_spec

    found = {(f.where, f.rule) for f in spec_traps(parse_spec(data))}
    assert ("load_balancer.health_check.path", "health-path-login") in found
    assert ("database.deletion_protection", "retain-without-protection") in found
    assert ("network.nat_gateways", "single-nat") in found
    assert ("dns.domain", "http-only") in found
    prod = {f.rule for f in spec_traps(synthesized("prod").spec)}
    assert "single-nat" not in prod and "retain-without-protection" not in prod


def test_check_fails_with_exit_1_when_findings_are_not_acknowledged(capsys, monkeypatch):
    """Without the acknowledgments (and their reasons), cdk-nag's findings fail the check."""
    from threetier.aws import nag

    class Unacknowledged:
        @staticmethod
        def of(construct):
            return Unacknowledged()

        def acknowledge(self, *rules):
            pass

    monkeypatch.setattr(nag, "Validations", Unacknowledged)
    code = main(["check"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "AwsSolutions-EC23" in out and "AwsSolutions-VPC7" in out
    assert "check failed" in err and "Traceback" not in err


def test_check_refuses_a_domain_without_a_zone_before_synthesizing(tmp_path):
    from support.aws_helpers import default_data

    from threetier.checks.run import run_checks
    from threetier.errors import ThreetierError
    from threetier.spec import parse_spec

    data = default_data()
    data["dns"] = {"domain": "www.example.com"}
    with pytest.raises(ThreetierError, match="delegated Route 53 hosted zone"):
        run_checks(parse_spec(data, env_name="no-zone"), outdir=tmp_path, docker_problem=lambda: None)
    assert not (tmp_path / "manifest.json").exists()
