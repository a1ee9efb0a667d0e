"""Helpers for the AWS tests: the test specs and template look-ups.

Specs: the three parameters files (default, prod, fargate), plus test specs with a domain — one importing a
hosted zone (what the moto deployment uses), one also importing the ALB's certificate
(a zone is never created by the stacks: threetier.aws.delegation) — and one with seed
000's public web servers.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass

import threetier.aws  # noqa: F401  (quiets jsii before aws_cdk starts)
from aws_cdk.assertions import Match, Template

from threetier.aws.app import SynthResult
from threetier.paths import parameters_dir
from threetier.spec import Spec, load_spec, parse_spec

TEST_ZONE_ID = "Z0THREETIERTEST0ZONE"
DOMAIN = "www.example.com"
ALARM_EMAIL = "ops@example.com"
IMPORTED_CERTIFICATE = "arn:aws:acm:ap-northeast-1:111122223333:certificate/threetier-test"
BLOCK_ALL_PUBLIC_ACCESS = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def default_data() -> dict:
    return tomllib.loads((parameters_dir() / "default.toml").read_text())


def make_spec(name: str) -> Spec:
    """The specs the tests synthesize, by name."""
    if name in ("default", "prod", "fargate"):
        return load_spec(name)
    data = default_data()
    if name == "domain":
        data["dns"] = {"domain": DOMAIN, "hosted_zone_id": TEST_ZONE_ID, "failover": True}
        # Distinct from the defaults, so the test proves the values come from the parameters.
        data["load_balancer"]["health_check"] = {
            "path": "/healthz",
            "interval_seconds": 15,
            "timeout_seconds": 6,
            "healthy_threshold": 3,
            "unhealthy_threshold": 4,
        }
        data["load_balancer"]["deregistration_delay_seconds"] = 20
        data["monitoring"]["alarm_email"] = ALARM_EMAIL
    elif name == "cloudfront":
        # The CloudFront design (threetier.aws.constructs.cdn): the domain through CloudFront.
        data["dns"] = {"domain": DOMAIN, "hosted_zone_id": TEST_ZONE_ID, "failover": True, "cloudfront": True}
    elif name == "imported-certificate":
        data["dns"] = {
            "domain": DOMAIN,
            "hosted_zone_id": TEST_ZONE_ID,
            "failover": True,
            "certificate_arn": IMPORTED_CERTIFICATE,
        }
    elif name == "public-web":
        data["web"]["subnet_tier"] = "public"
        data["network"]["nat_gateways"] = 0
        data["web"]["autoscaling"]["min_capacity"] = 1  # below one per AZ: the stack raises it
    else:
        raise KeyError(name)
    return parse_spec(data, env_name=name)


@dataclass
class Synthesized:
    spec: Spec
    result: SynthResult
    templates: dict[str, dict]

    def template(self, stack: str = "system") -> Template:
        """`system` (the regional stack), `edge` or `billing` (us-east-1) as an assertions Template."""
        return Template.from_json(self.raw(stack), skip_cyclical_dependencies_check=True)

    def raw(self, stack: str = "system") -> dict:
        return self.templates[self.stack_name(stack)]

    def has(self, stack: str) -> bool:
        return self.stack_name(stack) in self.templates

    def stack_name(self, stack: str) -> str:
        suffix = "" if stack == "system" else f"-{stack}"
        return f"{self.spec.project.name}-{self.spec.env_name}{suffix}"


def logical_ids(template: Template, type_name: str, props: dict | None = None) -> list[str]:
    """Look up the logical ids of resources by what they are (never hard-code generated ids)."""
    pattern = {"Properties": props} if props else {}
    return sorted(template.find_resources(type_name, pattern).keys())


def user_data(raw: dict) -> str:
    """The launch template's user data with tokens shown as ${{...json of the token...}}."""
    (template,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::EC2::LaunchTemplate"]
    joined = template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    if isinstance(joined, str):
        return joined
    return "".join(
        part if isinstance(part, str) else f"${{{json.dumps(part)}}}"
        for part in joined["Fn::Join"][1]
    )


def ref(template: Template, type_name: str, props: dict | None = None) -> dict:
    """{"Ref": id} of the one resource of `type_name` (matching `props`)."""
    (found,) = logical_ids(template, type_name, props)
    return {"Ref": found}


def tagged(template: Template, type_name: str, name: str) -> str:
    """The logical id of the one resource of `type_name` tagged Name=`name`."""
    found = logical_ids(
        template, type_name, {"Tags": Match.array_with([{"Key": "Name", "Value": name}])}
    )
    assert len(found) == 1, f"{type_name} named {name}: {found}"
    return found[0]


def media_bucket(template: Template) -> str:
    """The logical id of the media bucket: the one S3-managed (AES256) bucket; the audit
    trail's bucket uses the KMS key."""
    (found,) = logical_ids(
        template,
        "AWS::S3::Bucket",
        {
            "BucketEncryption": Match.object_like(
                {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                }
            )
        },
    )
    return found


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
    """An IAM Action/Resource, which may be one value or a list, as a list."""
    return value if isinstance(value, list) else [value]
