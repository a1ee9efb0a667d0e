"""The deploy preflight: what must hold before CDK deploys anything.

Each rule is a trap a first real deploy fell into (docs/aws.md, "Before the first deploy"):

- every region a stack of the environment lives in is CDK-bootstrapped (the billing and
  edge stacks live in us-east-1), else the exact `threetier bootstrap` command;
- a domain comes with an existing, delegated hosted zone (`dns.hosted_zone_id`), so ACM's
  DNS validation cannot hang (`threetier.aws.delegation`);
- every subnet's AZ is one the account has (AZ names map to zones per account);
- every SNS topic an alarm publishes to lets `cloudwatch.amazonaws.com` publish;
- nothing is both kept by `destroy` and named by a fixed name (the next deploy would fail);
- the billing alarm's threshold is above the system's own monthly estimate;
- alarms reach someone (`monitoring.alarm_email`), or a warning says they reach no one;
- production serves HTTPS (a domain), unless `dns.plain_http_reason` says why not;
- the Fargate runtime has a Docker daemon to build its image with.

`threetier check` runs the rules that need no account (`spec_problems`, `template_problems`,
`billing_problems`, Docker as a warning); `threetier deploy` runs them all, the account's
(`account_problems`) included, and stops before the CDK CLI when one is an error.

>>> findings = spec_problems(spec) + template_problems(templates)
>>> account_problems(spec, probes=AccountProbes(...))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from threetier.aws.delegation import delegation_problem, missing_zone_message
from threetier.aws.naming import EDGE_REGION
from threetier.checks.findings import Finding, Severity
from threetier.spec import Spec

SOURCE = "preflight"
# What `cdk bootstrap` writes (default qualifier); every CDK template checks it at deploy.
BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
# The oldest bootstrap stack today's templates and asset manifests accept.
MIN_BOOTSTRAP_VERSION = 6
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
# Below this margin over the estimate, usage (traffic, storage) can trip the alarm.
BILLING_MARGIN = 1.1
RETAINED = {"Retain", "RetainExceptOnCreate"}
# The property that names a resource of each type (a second one of that name cannot be created).
NAME_PROPERTIES = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::RDS::DBInstance": "DBInstanceIdentifier",
    "AWS::RDS::DBCluster": "DBClusterIdentifier",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::SSM::Parameter": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Group": "GroupName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::EFS::FileSystem": "FileSystemName",
}
# Rules whose finding means the templates cannot even be synthesized.
SYNTH_BLOCKERS = {"domain-without-zone"}


def finding(severity: Severity, rule: str, where: str, message: str) -> Finding:
    return Finding(severity, SOURCE, rule, where, message)


def stack_regions(spec: Spec) -> list[str]:
    """Every region a stack of the environment lives in: the main region, and us-east-1
    (the billing alarm's stack, or the edge stack with a domain) always."""
    return list(dict.fromkeys([spec.project.region, EDGE_REGION]))


def bootstrap_command(spec: Spec) -> str:
    return f"./threetier --env {spec.env_name} bootstrap"


def is_production(spec: Spec) -> bool:
    """prod, or any environment whose data outlives `destroy`: real users' data."""
    return spec.env_name == "prod" or spec.environment.retain_data


def blocks_synth(findings: list[Finding]) -> bool:
    return any(f.rule in SYNTH_BLOCKERS and f.severity == "error" for f in findings)


# --- the parameters alone ---------------------------------------------------------------


def spec_problems(spec: Spec) -> list[Finding]:
    """The rules on the parameters alone (no synth, no account)."""
    found: list[Finding] = []
    dns = spec.dns
    if dns.domain and not dns.hosted_zone_id:
        message, fix = missing_zone_message(dns)
        found.append(finding("error", "domain-without-zone", "dns.hosted_zone_id", f"{message}; {fix}"))
    if is_production(spec) and not dns.domain:
        if dns.plain_http_reason:
            found.append(
                finding(
                    "warning",
                    "prod-plain-http",
                    "dns.plain_http_reason",
                    f"production without a domain serves plain HTTP (acknowledged: {dns.plain_http_reason})",
                )
            )
        else:
            found.append(
                finding(
                    "error",
                    "prod-plain-http",
                    "dns.domain",
                    f"{spec.env_name} is production (its data outlives destroy) but has no domain: "
                    "plain HTTP, passwords and session cookies in clear, cookies not Secure; set "
                    "dns.domain and dns.hosted_zone_id, or say why not in dns.plain_http_reason",
                )
            )
    if not spec.monitoring.alarm_email:
        found.append(
            finding(
                "warning",
                "no-alarm-email",
                "monitoring.alarm_email",
                "no alarm e-mail: the alarms and the billing alarm publish to SNS topics nobody "
                "subscribes to, so they reach no one; set monitoring.alarm_email (AWS mails it a "
                "link to confirm first)",
            )
        )
    return found


def docker_problems(spec: Spec, daemon_problem: Callable[[], str | None], *, severity: Severity) -> list[Finding]:
    """The Fargate runtime's image is built by the CDK CLI with Docker at deploy time."""
    if spec.web.runtime != "fargate":
        return []
    problem = daemon_problem()
    if problem is None:
        return []
    return [
        finding(
            severity,
            "docker-daemon",
            "web.runtime",
            f"web.runtime = \"fargate\": `deploy` builds the web image with Docker, but {problem}; "
            "start the Docker daemon (or point CDK_DOCKER at a working docker-compatible CLI)",
        )
    ]


# --- the synthesized templates ------------------------------------------------------------


def template_problems(templates: Mapping[str, dict]) -> list[Finding]:
    """The rules on the synthesized templates ({stack name: template})."""
    found: list[Finding] = []
    for name, template in templates.items():
        found += alarm_topic_problems(name, template)
        found += retained_name_problems(name, template)
    return found


def alarm_topic_problems(name: str, template: dict) -> list[Finding]:
    """Every topic of this template that an alarm publishes to must let CloudWatch publish.

    A topic with no policy keeps SNS's default policy (the account's services may publish);
    a topic with a policy of its own must allow `cloudwatch.amazonaws.com` itself, must not
    deny every caller unconditionally, and must not use the AWS-managed SNS key (CloudWatch
    cannot use it).
    """
    resources = template.get("Resources", {})
    topics = {lid for lid, r in resources.items() if r.get("Type") == "AWS::SNS::Topic"}
    published: set[str] = set()
    for _, props in of_type(resources, "AWS::CloudWatch::Alarm"):
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            published |= {referenced_id(a) for a in props.get(key, []) or []} & topics
    statements: dict[str, list[dict]] = {topic: [] for topic in topics}
    has_policy: set[str] = set()
    for _, props in of_type(resources, "AWS::SNS::TopicPolicy"):
        for topic in {referenced_id(t) for t in props.get("Topics", [])} & topics:
            has_policy.add(topic)
            statements[topic] += as_list(props.get("PolicyDocument", {}).get("Statement", []))
    found = []
    for topic in sorted(published):
        key = (resources[topic].get("Properties", {}) or {}).get("KmsMasterKeyId")
        if isinstance(key, str) and key.endswith("alias/aws/sns"):
            found.append(
                finding(
                    "error",
                    "alarm-topic-publish",
                    f"{name}:{topic}",
                    "an alarm publishes to a topic encrypted with the AWS-managed SNS key, which "
                    "CloudWatch cannot use: every notification is dropped",
                )
            )
        if topic not in has_policy:
            continue
        if any(denies_everyone(s) for s in statements[topic]) or not any(
            allows_cloudwatch(s) for s in statements[topic]
        ):
            found.append(
                finding(
                    "error",
                    "alarm-topic-publish",
                    f"{name}:{topic}",
                    f"alarms publish to this topic, but its policy does not allow {CLOUDWATCH_PRINCIPAL} "
                    "to sns:Publish: CloudWatch's notifications are refused and no e-mail is ever sent",
                )
            )
    return found


def allows_cloudwatch(statement: dict) -> bool:
    principal = statement.get("Principal", {})
    services = as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
    return (
        statement.get("Effect") == "Allow"
        and (principal == "*" or CLOUDWATCH_PRINCIPAL in services)
        and any(a in ("sns:Publish", "sns:*", "*") for a in as_list(statement.get("Action", [])))
    )


def denies_everyone(statement: dict) -> bool:
    principal = statement.get("Principal")
    return (
        statement.get("Effect") == "Deny"
        and not statement.get("Condition")
        and principal in ("*", {"AWS": "*"})
        and any(a in ("sns:Publish", "sns:*", "*") for a in as_list(statement.get("Action", [])))
    )


def retained_name_problems(name: str, template: dict) -> list[Finding]:
    """A resource `destroy` keeps must not have a fixed name: the next deploy would create
    it again under the same name and fail ("already exists")."""
    resources = template.get("Resources", {})
    found = []
    for logical_id, resource in resources.items():
        if resource.get("DeletionPolicy") not in RETAINED:
            continue
        prop = NAME_PROPERTIES.get(resource.get("Type", ""))
        value = (resource.get("Properties", {}) or {}).get(prop) if prop else None
        if value is None or unique_per_stack(value, resources):
            continue
        found.append(
            finding(
                "error",
                "retained-fixed-name",
                f"{name}:{logical_id}",
                f"{resource['Type']} {shown(value)} is kept by `destroy` (DeletionPolicy "
                f"{resource['DeletionPolicy']}) and has a fixed {prop}: the next deploy of this "
                "stack fails creating it again; leave the name to CloudFormation or make it "
                "unique per stack (AWS::StackId)",
            )
        )
    return found


def unique_per_stack(value: Any, resources: Mapping[str, Any]) -> bool:
    """True when a name refers to the stack's id or to a resource of the stack (so a new
    stack gets a new name); literals, parameters and AWS::StackName/Region/AccountId do not."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"] == "AWS::StackId" or value["Ref"] in resources
        if "Fn::GetAtt" in value:
            return True
        return any(unique_per_stack(v, resources) for v in value.values())
    if isinstance(value, list):
        return any(unique_per_stack(v, resources) for v in value)
    if isinstance(value, str):
        return "${AWS::StackId}" in value
    return False


def shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else "(joined)"


# --- the estimate -------------------------------------------------------------------------


def billing_problems(spec: Spec, estimate_usd: float) -> list[Finding]:
    """The billing alarm must sit above what the system itself costs per month."""
    threshold = spec.monitoring.billing_alarm_usd
    suggestion = int(math.ceil(estimate_usd * 1.2 / 10) * 10)
    where = "monitoring.billing_alarm_usd"
    if threshold < estimate_usd:
        return [
            finding(
                "error",
                "billing-below-estimate",
                where,
                f"the billing alarm fires at {threshold} USD, below this system's own estimate of "
                f"{estimate_usd:,.2f} USD per month (fixed drivers, `threetier check`): the "
                "month-to-date charges pass it every month and the alarm stays in ALARM; set it "
                f"above the estimate, e.g. {suggestion}",
            )
        ]
    if threshold < estimate_usd * BILLING_MARGIN:
        return [
            finding(
                "warning",
                "billing-near-estimate",
                where,
                f"the billing alarm fires at {threshold} USD, within 10 % of the fixed estimate "
                f"({estimate_usd:,.2f} USD): traffic and storage, left out of the estimate, can "
                f"trip it in a normal month; e.g. {suggestion}",
            )
        ]
    return []


# --- the account ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostedZone:
    name: str
    name_servers: list[str]


@dataclass(frozen=True)
class AccountProbes:
    """How the account-side rules ask AWS (threetier.aws.api in production, fakes in tests)."""

    # region → the bootstrap stack's version (BOOTSTRAP_PARAMETER), None when absent.
    bootstrap_version: Callable[[str], str | None]
    # zone id → the hosted zone, None when the account has no such zone.
    hosted_zone: Callable[[str], HostedZone | None]
    # zone name → the NS names the public DNS answers (OSError when it cannot be asked).
    public_name_servers: Callable[[str], list[str]]
    # region → the account's AZ names there; None: not asked.
    availability_zones: Callable[[str], list[str]] | None = None


def account_problems(spec: Spec, *, probes: AccountProbes) -> list[Finding]:
    """The rules that ask the account: bootstrap per region, the zone and its delegation,
    the subnets' AZ names."""
    found = bootstrap_problems(spec, probes.bootstrap_version)
    found += zone_problems(spec, probes)
    if probes.availability_zones is not None:
        found += az_problems(spec, probes.availability_zones(spec.project.region))
    return found


def az_problems(spec: Spec, account_azs: list[str]) -> list[Finding]:
    """Every subnet's AZ is one the account has: the names (`threetier init` takes them
    from a table) map to physical zones per account, and some accounts lack some."""
    return [
        finding(
            "error",
            "unknown-az",
            f"network.subnets[{i}].az",
            f"{subnet.az} ({subnet.name}) is not an AZ this account has in {spec.project.region} "
            f"(it has {', '.join(account_azs) or 'none'}); the subnet could not be created: "
            "change network.subnets[].az to one of those (docs/init.md)",
        )
        for i, subnet in enumerate(spec.network.subnets)
        if subnet.az not in account_azs
    ]


def bootstrap_problems(spec: Spec, version_of: Callable[[str], str | None]) -> list[Finding]:
    found = []
    command = bootstrap_command(spec)
    for region in stack_regions(spec):
        version = version_of(region)
        if version is None:
            found.append(
                finding(
                    "error",
                    "not-bootstrapped",
                    region,
                    f"{region} is not CDK-bootstrapped (no SSM parameter {BOOTSTRAP_PARAMETER}), "
                    f"and a stack of {spec.env_name} lives there; run `{command}` (it prepares "
                    f"every region of the environment: {', '.join(stack_regions(spec))})",
                )
            )
        elif not version.isdigit() or int(version) < MIN_BOOTSTRAP_VERSION:
            found.append(
                finding(
                    "error",
                    "old-bootstrap",
                    region,
                    f"the CDK bootstrap stack in {region} is version {version}; these templates "
                    f"need {MIN_BOOTSTRAP_VERSION} or newer; run `{command}` to upgrade it",
                )
            )
    return found


def zone_problems(spec: Spec, probes: AccountProbes) -> list[Finding]:
    dns = spec.dns
    if not (dns.domain and dns.hosted_zone_id):
        return []
    zone = probes.hosted_zone(dns.hosted_zone_id)
    where = "dns.hosted_zone_id"
    if zone is None:
        return [
            finding(
                "error",
                "zone-not-found",
                where,
                f"this account has no hosted zone {dns.hosted_zone_id}: certificates for "
                f"{dns.domain} could never be validated; check the id (Route 53 → Hosted zones)",
            )
        ]
    if zone.name.rstrip(".").lower() != (dns.zone or "").lower():
        return [
            finding(
                "error",
                "zone-name",
                where,
                f"hosted zone {dns.hosted_zone_id} is {zone.name.rstrip('.')}, not {dns.zone}, "
                f"the zone of {dns.domain}; set dns.hosted_zone_id (or dns.zone_name) to match",
            )
        ]
    problem = delegation_problem(zone.name, zone.name_servers, probes.public_name_servers)
    if problem is None:
        return []
    return [
        finding(
            "error",
            "zone-not-delegated",
            where,
            f"{problem}: ACM would wait for DNS validation for hours and roll the stack back; "
            f"enter {', '.join(zone.name_servers)} as the NS records of {zone.name.rstrip('.')} "
            "at your registrar (or the parent zone) and wait until the public DNS shows them",
        )
    ]


# --- template helpers -----------------------------------------------------------------------


def of_type(resources: Mapping[str, Any], type_name: str) -> Iterator[tuple[str, dict]]:
    for logical_id, resource in resources.items():
        if resource.get("Type") == type_name:
            yield logical_id, resource.get("Properties", {}) or {}


def referenced_id(value: Any) -> str:
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return ""


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
