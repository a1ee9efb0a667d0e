"""Rules the seeds broke, checked on the synthesized CloudFormation (not on our intentions).

- only the ALB accepts traffic from anywhere, and only on 80/443;
- nothing anywhere opens port 22;
- the web servers (EC2 or Fargate tasks) accept traffic only from the ALB's SG, the database
  only from the web SG on 5432, the shared file system (EFS) only from the web SG on 2049;
- the database is encrypted and not publicly accessible;
- no password is written in a template: only Secrets Manager dynamic references.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from threetier.checks.findings import Finding
from threetier.checks.template_text import flatten

WORLD = {"0.0.0.0/0", "::/0"}
SSH_PORT = 22
POSTGRES_PORT = 5432
NFS_PORT = 2049
_PASSWORD_KEY = re.compile(r"password", re.IGNORECASE)
_DYNAMIC_SECRET = "{{resolve:secretsmanager:"  # noqa: S105 - the reference syntax, not a secret


def check_template(name: str, template: dict[str, Any]) -> list[Finding]:
    """All architecture findings for one template (`name` is its file name, for messages)."""
    resources = template.get("Resources", {})
    findings: list[Finding] = []

    def problem(rule: str, where: str, message: str) -> None:
        findings.append(Finding("error", "architecture", rule, f"{name}:{where}", message))

    alb_groups = _load_balancer_groups(resources)
    for logical_id, group_id, rule in ingress_rules(resources):
        low, high = _ports(rule)
        if low <= SSH_PORT <= high and rule.get("IpProtocol") in ("tcp", "-1", 6, "6"):
            problem("no-ssh", logical_id, "port 22 is open: use Session Manager, never SSH")
        cidr = rule.get("CidrIp") or rule.get("CidrIpv6")
        if cidr in WORLD and not (group_id in alb_groups and (low, high) in ((80, 80), (443, 443))):
            problem(
                "world-ingress",
                logical_id,
                f"{cidr} may reach ports {low}-{high}: only the ALB takes traffic from anywhere, on 80/443",
            )

    web_groups = _launch_template_groups(resources) | _service_groups(resources)
    db_groups = _database_groups(resources)
    efs_groups = _mount_target_groups(resources)
    for logical_id, group_id, rule in ingress_rules(resources):
        source = _referenced_id(rule.get("SourceSecurityGroupId"))
        if group_id in web_groups and source not in alb_groups:
            problem(
                "web-from-alb-only",
                logical_id,
                "the web servers accept traffic from something other than the ALB",
            )
        if group_id in db_groups and (
            source not in web_groups or _ports(rule) != (POSTGRES_PORT, POSTGRES_PORT)
        ):
            problem(
                "db-from-web-only",
                logical_id,
                "the database accepts something other than 5432 from the web servers",
            )
        if group_id in efs_groups and (
            source not in web_groups or _ports(rule) != (NFS_PORT, NFS_PORT)
        ):
            problem(
                "efs-from-web-only",
                logical_id,
                "the shared file system accepts something other than NFS (2049) from the web servers",
            )

    for logical_id, props in _of_type(resources, "AWS::RDS::DBInstance"):
        if props.get("PubliclyAccessible") not in (False, "false", None):
            problem("db-private", logical_id, "the database is publicly accessible")
        if props.get("StorageEncrypted") not in (True, "true"):
            problem("db-encrypted", logical_id, "the database's storage is not encrypted")
        password = props.get("MasterUserPassword")
        if password is not None and _DYNAMIC_SECRET not in flatten(password):
            problem(
                "db-password", logical_id, "MasterUserPassword is not a Secrets Manager reference"
            )

    for path, value in plain_text_passwords(template):
        problem(
            "plain-text-password", path, f"a password is written in the template ({value[:3]}…)"
        )
    return findings


def ingress_rules(resources: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, group logical id, rule) for inline and stand-alone ingress rules."""
    for logical_id, props in _of_type(resources, "AWS::EC2::SecurityGroup"):
        for index, rule in enumerate(props.get("SecurityGroupIngress", []) or []):
            yield f"{logical_id}/SecurityGroupIngress/{index}", logical_id, rule
    for logical_id, props in _of_type(resources, "AWS::EC2::SecurityGroupIngress"):
        yield logical_id, _referenced_id(props.get("GroupId")), props


def plain_text_passwords(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every literal string under a key that says "password" (intrinsics and references are fine)."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}/{key}" if path else key
            if (
                _PASSWORD_KEY.search(key)
                and isinstance(value, str)
                and _DYNAMIC_SECRET not in value
            ):
                yield here, value
            else:
                yield from plain_text_passwords(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from plain_text_passwords(value, f"{path}/{index}")


def _load_balancer_groups(resources: dict[str, Any]) -> set[str]:
    groups = set()
    for _, props in _of_type(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer"):
        for ref in props.get("SecurityGroups", []) or []:
            groups.add(_referenced_id(ref))
    return groups


def _launch_template_groups(resources: dict[str, Any]) -> set[str]:
    groups = set()
    for _, props in _of_type(resources, "AWS::EC2::LaunchTemplate"):
        for ref in (props.get("LaunchTemplateData", {}) or {}).get("SecurityGroupIds", []) or []:
            groups.add(_referenced_id(ref))
    return groups


def _service_groups(resources: dict[str, Any]) -> set[str]:
    """The security groups of ECS services (Fargate tasks are the web servers then)."""
    groups = set()
    for _, props in _of_type(resources, "AWS::ECS::Service"):
        vpc = (props.get("NetworkConfiguration", {}) or {}).get("AwsvpcConfiguration", {}) or {}
        for ref in vpc.get("SecurityGroups", []) or []:
            groups.add(_referenced_id(ref))
    return groups


def _mount_target_groups(resources: dict[str, Any]) -> set[str]:
    groups = set()
    for _, props in _of_type(resources, "AWS::EFS::MountTarget"):
        for ref in props.get("SecurityGroups", []) or []:
            groups.add(_referenced_id(ref))
    return groups


def _database_groups(resources: dict[str, Any]) -> set[str]:
    groups = set()
    for _, props in _of_type(resources, "AWS::RDS::DBInstance"):
        for ref in props.get("VPCSecurityGroups", []) or []:
            groups.add(_referenced_id(ref))
    return groups


def _referenced_id(value: Any) -> str:
    """The logical id a `Ref`/`Fn::GetAtt` points at ("" for anything else)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return ""


def _ports(rule: dict[str, Any]) -> tuple[int, int]:
    if str(rule.get("IpProtocol")) == "-1":
        return 0, 65535
    return int(rule.get("FromPort", 0)), int(rule.get("ToPort", 65535))


def _of_type(resources: dict[str, Any], type_name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in resources.items():
        if resource.get("Type") == type_name:
            yield logical_id, resource.get("Properties", {}) or {}

