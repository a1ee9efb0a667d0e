"""Helpers for the part-2 construct tests (see conftest.py for the fixture).

Each test module builds ONE app (a scaffold: VPC with explicit AZs, chained security
groups, ALB + IP target group, PostgreSQL, a secret) plus the constructs under test,
and synthesizes it once with cdk-nag's AwsSolutions pack attached. Tests then read the
templates and the nag findings that nobody acknowledged.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import threetier.aws  # noqa: F401  (quiets jsii before aws_cdk starts)
import aws_cdk as cdk
from aws_cdk import Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from threetier.paths import parameters_dir
from threetier.spec import Spec, parse_spec

DUMMY_ACCOUNT = "111111111111"
REGION = "ap-northeast-1"
AZS = ["ap-northeast-1a", "ap-northeast-1c"]
APP_PORT = 8000


def part2_spec(env: str = "default", **changes: dict) -> Spec:
    """A parameters file with sections patched: part2_spec("prod", storage={"media_backend": "s3"})."""
    data = tomllib.loads((parameters_dir() / f"{env}.toml").read_text())
    for section, values in changes.items():
        target = data[section]
        for key, value in values.items():
            if isinstance(value, dict):
                target.setdefault(key, {}).update(value)
            else:
                target[key] = value
    return parse_spec(data, env_name=env)


class Scaffold:
    """What part-1's constructs would provide, in miniature."""

    def __init__(self, stack: cdk.Stack) -> None:
        self.stack = stack
        self.vpc = ec2.Vpc(
            stack,
            "Vpc",
            availability_zones=AZS,  # explicit: no context lookup at synth
            nat_gateways=1,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24
                ),
            ],
        )
        self.web_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        self.alb_sg = ec2.SecurityGroup(stack, "AlbSg", vpc=self.vpc, allow_all_outbound=False)
        self.web_sg = ec2.SecurityGroup(stack, "WebSg", vpc=self.vpc, allow_all_outbound=True)
        self.web_sg.add_ingress_rule(self.alb_sg, ec2.Port.tcp(APP_PORT), "from the ALB only")
        self.alb_sg.add_egress_rule(self.web_sg, ec2.Port.tcp(APP_PORT), "to the web servers")
        self.alb = elbv2.ApplicationLoadBalancer(
            stack, "Alb", vpc=self.vpc, internet_facing=True, security_group=self.alb_sg
        )
        self.target_group = elbv2.ApplicationTargetGroup(
            stack,
            "Targets",
            vpc=self.vpc,
            port=APP_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
        )
        self.alb.add_listener(
            "Http", port=80, default_target_groups=[self.target_group], open=False
        )
        self.database = rds.DatabaseInstance(
            stack,
            "Database",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16),
            vpc=self.vpc,
            vpc_subnets=self.web_subnets,
            storage_encrypted=True,
        )
        self.db_secret: secretsmanager.ISecret = self.database.secret  # type: ignore[assignment]
        self.app_secret = secretsmanager.Secret(stack, "DjangoSecretKey")


@dataclass
class Built:
    """One synthesized test app: templates by stack name, plus the unacknowledged nag findings."""

    outdir: Path
    templates: dict[str, dict]
    findings: list[tuple[str, str]]  # (rule, construct path)
    values: dict = field(default_factory=dict)  # whatever populate() wanted to keep (resolved)

    def template(self, stack: str = "Test") -> Template:
        return Template.from_json(self.templates[stack])

    def raw(self, stack: str = "Test") -> dict:
        return self.templates[stack]

    def findings_under(self, *prefixes: str) -> list[tuple[str, str]]:
        return [(rule, path) for rule, path in self.findings if path.startswith(prefixes)]


def build_app(
    outdir: Path,
    populate: Callable[[cdk.App, cdk.Stack, Scaffold], dict | None],
) -> Built:
    """Synthesize `populate`'s constructs on the scaffold (stack "Test") with cdk-nag attached."""
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Test", env=cdk.Environment(account=DUMMY_ACCOUNT, region=REGION))
    values = populate(app, stack, Scaffold(stack)) or {}
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=False))
    try:
        app.synth()
    except (
        RuntimeError
    ) as exc:  # unacknowledged findings fail validation; the templates are written
        if "ValidationFailed" not in str(exc) and "Validation failed" not in str(exc):
            raise
    manifest = json.loads((outdir / "manifest.json").read_text())
    templates = {
        name: json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
        for name, artifact in manifest["artifacts"].items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
    return Built(outdir=outdir, templates=templates, findings=_findings(outdir), values=values)


def _findings(outdir: Path) -> list[tuple[str, str]]:
    report = outdir / "validation-report.json"
    if not report.is_file():
        return []
    found = []
    for plugin in json.loads(report.read_text()).get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                found.append((violation["ruleName"], construct["constructPath"]))
    return found


def statements(template: dict, type_name: str = "AWS::IAM::Policy") -> list[dict]:
    """Every IAM statement of every resource of `type_name` in a raw template."""
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != type_name:
            continue
        document = resource["Properties"].get("PolicyDocument", {})
        found.extend(document.get("Statement", []))
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]
