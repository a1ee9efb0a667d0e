"""The parameters' traps: choices the seeds made that bite later, named with their key.

Only what `spec.py` does not already reject (that is a validation error, not a trap).
"""

from __future__ import annotations

from threetier.checks.findings import Finding
from threetier.spec import Spec

_LOGIN_WORDS = ("login", "signin", "sign-in", "admin", "account")


def spec_traps(spec: Spec) -> list[Finding]:
    """Warnings and notes about the parameters of one environment."""
    findings: list[Finding] = []

    def note(severity: str, key: str, rule: str, message: str) -> None:
        findings.append(Finding(severity, "parameters", rule, key, message))  # type: ignore[arg-type]

    dns, lb, net, web, db = spec.dns, spec.load_balancer, spec.network, spec.web, spec.database
    if not dns.domain:
        note(
            "warning",
            "dns.domain",
            "http-only",
            "no domain: the ALB serves plain HTTP (no certificate without a domain), passwords "
            "and session cookies cross the internet unencrypted, and there is no DNS failover "
            "to the sorry page; set dns.domain (and dns.hosted_zone_id) for HTTPS",
        )
    elif not dns.failover:
        note(
            "info",
            "dns.failover",
            "no-sorry-page",
            "failover is off: when every target is down visitors get the ALB's 503, not the sorry page",
        )

    path = lb.health_check.path
    if path == "/":
        note(
            "warning",
            "load_balancer.health_check.path",
            "health-path-root",
            "'/' renders a full page (database, templates): a slow page marks healthy servers "
            "unhealthy; use a cheap endpoint such as /healthz",
        )
    if any(word in path.lower() for word in _LOGIN_WORDS):
        note(
            "warning",
            "load_balancer.health_check.path",
            "health-path-login",
            f"{path!r} looks like a login or admin page: it redirects or needs a session, so "
            "the ALB sees 302/403 and marks every target unhealthy (seeds 002/004)",
        )

    if web.subnet_tier == "private" and net.nat_gateways == 1 and len(spec.web_azs) > 1:
        note(
            "warning",
            "network.nat_gateways",
            "single-nat",
            "one NAT gateway: if its AZ fails, the web servers in the other AZ lose outbound "
            "access (package installs, Secrets Manager at boot); prod uses one per AZ",
        )
    if net.nat_gateways:
        note(
            "info",
            "network.nat_gateways",
            "nat-bills",
            f"{net.nat_gateways} NAT gateway(s) and Elastic IP(s) bill by the hour even when idle "
            "(seed 004): run `threetier destroy` when you are done",
        )
    if web.subnet_tier == "public":
        note(
            "warning",
            "web.subnet_tier",
            "public-web-servers",
            "web servers in public subnets get public IPs; only their security group keeps the "
            "internet out (seed 000); private subnets with a NAT gateway are safer",
        )
    if web.autoscaling.min_capacity < len(spec.web_azs):
        note(
            "info",
            "web.autoscaling.min_capacity",
            "min-per-az",
            f"raised to {len(spec.web_azs)} on AWS: at least one web server per AZ",
        )
    if not db.multi_az:
        note(
            "info",
            "database.multi_az",
            "single-az-db",
            "single-AZ database: an AZ outage or a maintenance reboot stops the app until RDS is back",
        )
    retain = spec.environment.retain_data
    if retain and not db.deletion_protection:
        note(
            "warning",
            "database.deletion_protection",
            "retain-without-protection",
            "environment.retain_data is true but the database can be deleted by one API call; "
            "turn deletion_protection on",
        )
    if not retain and db.deletion_protection:
        note(
            "warning",
            "database.deletion_protection",
            "protected-but-destroyable",
            "deletion_protection is on but retain_data is false: `threetier destroy` will fail "
            "on the database; choose one",
        )
    if "0.0.0.0/0" not in {str(c) for c in lb.allowed_cidrs}:
        note(
            "info",
            "load_balancer.allowed_cidrs",
            "restricted-alb",
            "the ALB only accepts the listed CIDRs; Route 53 health checkers must be among "
            "them or failover will always show the sorry page",
        )
    if spec.project.account is None:
        note(
            "info",
            "project.account",
            "account-agnostic",
            "no account: the stacks deploy into the account of the credentials `threetier deploy` uses",
        )
    return findings
