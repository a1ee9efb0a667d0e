"""Parity: the twin rehearses what the stacks deploy. The twin's load balancer and failover
stage (as rendered from the parameters, without the twin's shortened test settings) are
compared with the synthesized templates, and drift is an error naming both values:

- the target group's health check (path, interval, timeout, thresholds, matcher) against
  the twin's Caddyfile;
- the ALB's idle timeout against the twin's keep-alive to its targets, and against the
  backends' own keep-alive (nginx, gunicorn): a backend that closes an idle connection
  first is the classic source of sporadic ALB 502s;
- the deregistration delay against gunicorn's graceful timeout (a draining target must
  be given at least as long as gunicorn gives its in-flight requests);
- the Route 53 health check (path, request interval, failure threshold) against the
  twin's failover stage;
- the twin's deregistration delay (how long a drained target stays out) against the
  target group's;
- CloudFront's origin group (the status codes it fails over on) against the twin's
  CloudFront stage.

>>> parity_findings(twin_view(spec), templates)   # [] when they agree
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from threetier.checks.findings import Finding
from threetier.local.caddy import render_caddyfile
from threetier.local.layout import Layout
from threetier.local.plan import Binaries, OsUsers, build_plan
from threetier.runtime.contract import GUNICORN, NGINX
from threetier.spec import Spec, TwinFailoverCheck, TwinHealthCheck

SOURCE = "parity"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
ROUTE53_CHECK = "AWS::Route53::HealthCheck"
DISTRIBUTION = "AWS::CloudFront::Distribution"
ALB_DEFAULT_IDLE_TIMEOUT = 60  # seconds, when the template sets no idle_timeout.timeout_seconds


@dataclass(frozen=True)
class TwinView:
    """What the twin does, read from what it runs (the Caddyfile) and its failover stage."""

    health: dict[str, str]  # the Caddyfile's health_* values
    keepalive_seconds: float | None  # the LB's idle keep-alive to its targets
    r53_path: str
    r53_interval: float
    r53_threshold: int
    backend_keepalive_seconds: dict[str, int]  # nginx, gunicorn
    graceful_timeout_seconds: int
    deregistration_delay_seconds: float = 30.0
    origin_failover_statuses: tuple[int, ...] = ()  # the CloudFront stage's


def untuned(spec: Spec) -> Spec:
    """`spec` without the twin's shortened checks: what the twin does with the deployed settings."""
    local = spec.local.model_copy(update={"health_check": TwinHealthCheck(), "failover_check": TwinFailoverCheck(),
                                          "deregistration_delay_seconds": None})
    return spec.model_copy(update={"local": local})


def caddyfile_values(text: str, names: tuple[str, ...]) -> dict[str, str]:
    """The first value of each directive in the LB's own site (the first reverse_proxy)."""
    found: dict[str, str] = {}
    for name in names:
        match = re.search(rf"^\s*{name}\s+(\S+)", text, re.MULTILINE)
        if match:
            found[name] = match.group(1)
    return found


def seconds(duration: str) -> float:
    """A Go duration as seconds: '10s' → 10, '500ms' → 0.5, '1m' → 60."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", duration)
    if not match:
        raise ValueError(f"not a duration: {duration!r}")
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[match.group(2)]


def twin_view(spec: Spec, *, caddyfile: str | None = None) -> TwinView:
    """The twin of `spec` with the deployed settings (no local.health_check overrides);
    `caddyfile` replaces the rendered one (tests: a twin changed on purpose)."""
    plan = build_plan(untuned(spec), Layout(Path("/nonexistent/parity")),
                      binaries=Binaries(Path("/nonexistent"), "caddy"), users=OsUsers(None, None))
    # With its CloudFront stage on, whatever local.cdn_port says: the rule is compared.
    lb = replace(plan.lb, cdn_port=plan.lb.cdn_port or 1)
    text = caddyfile if caddyfile is not None else render_caddyfile(lb, plan.layout)
    statuses = re.search(r"@origin_error status ([\d ]+)", text)
    values = caddyfile_values(text, ("health_uri", "health_interval", "health_timeout", "health_passes",
                                     "health_fails", "health_status", "keepalive"))
    keepalive = values.pop("keepalive", None)
    return TwinView(
        health=values, keepalive_seconds=seconds(keepalive) if keepalive else None,
        r53_path=plan.dns.path, r53_interval=plan.dns.request_interval_seconds,
        r53_threshold=plan.dns.failure_threshold,
        backend_keepalive_seconds={"nginx keepalive_timeout": NGINX.keepalive_timeout_seconds,
                                   "gunicorn --keep-alive": GUNICORN.keepalive_seconds},
        graceful_timeout_seconds=GUNICORN.graceful_timeout_seconds,
        deregistration_delay_seconds=plan.lb.deregistration_delay_seconds,
        origin_failover_statuses=tuple(int(code) for code in statuses.group(1).split()) if statuses else (),
    )


def _resources(templates: dict[str, dict], kind: str) -> list[tuple[str, str, dict]]:
    return [(stack, name, resource.get("Properties", {}))
            for stack, template in templates.items()
            for name, resource in template.get("Resources", {}).items() if resource.get("Type") == kind]


def _attribute(properties: dict, list_key: str, key: str) -> str | None:
    return next((a.get("Value") for a in properties.get(list_key, []) if a.get("Key") == key), None)


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def parity_findings(twin: TwinView, templates: dict[str, dict]) -> list[Finding]:
    findings: list[Finding] = []

    def drift(where: str, what: str, deployed: object, rehearsed: object, rule: str = "parity-drift") -> None:
        findings.append(Finding("error", SOURCE, rule, where,
                                f"{what}: the stack deploys {deployed}, the twin rehearses {rehearsed}"))

    for stack, name, tg in _resources(templates, TARGET_GROUP):
        where = f"{stack}/{name}"
        pairs = [
            ("health check path", tg.get("HealthCheckPath"), twin.health.get("health_uri")),
            ("health check interval (s)", _number(tg.get("HealthCheckIntervalSeconds")),
             seconds(twin.health["health_interval"]) if "health_interval" in twin.health else None),
            ("health check timeout (s)", _number(tg.get("HealthCheckTimeoutSeconds")),
             seconds(twin.health["health_timeout"]) if "health_timeout" in twin.health else None),
            ("healthy threshold", _number(tg.get("HealthyThresholdCount")), _number(twin.health.get("health_passes"))),
            ("unhealthy threshold", _number(tg.get("UnhealthyThresholdCount")),
             _number(twin.health.get("health_fails"))),
            ("health check matcher", (tg.get("Matcher") or {}).get("HttpCode"), twin.health.get("health_status")),
        ]
        for what, deployed, rehearsed in pairs:
            if deployed != rehearsed:
                drift(where, f"target group {what}", deployed, rehearsed)
        delay = _number(_attribute(tg, "TargetGroupAttributes", "deregistration_delay.timeout_seconds"))
        delay = 300.0 if delay is None else delay  # the ALB's default
        if delay != twin.deregistration_delay_seconds:
            drift(where, "deregistration delay (s)", delay, twin.deregistration_delay_seconds)
        if delay < twin.graceful_timeout_seconds:
            findings.append(Finding(
                "error", SOURCE, "parity-deregistration", where,
                f"deregistration delay {delay:g} s is shorter than gunicorn's graceful timeout "
                f"{twin.graceful_timeout_seconds} s: the ALB gives up on in-flight requests of a draining "
                "instance before gunicorn would finish them (raise load_balancer.deregistration_delay_seconds)",
            ))
    for stack, name, alb in _resources(templates, LOAD_BALANCER):
        where = f"{stack}/{name}"
        idle = _number(_attribute(alb, "LoadBalancerAttributes", "idle_timeout.timeout_seconds"))
        idle = float(ALB_DEFAULT_IDLE_TIMEOUT) if idle is None else idle
        if twin.keepalive_seconds != idle:
            drift(where, "idle timeout to the targets (s)", idle, twin.keepalive_seconds)
        for backend, keepalive in twin.backend_keepalive_seconds.items():
            if keepalive <= idle:
                findings.append(Finding(
                    "error", SOURCE, "parity-keepalive", where,
                    f"{backend} {keepalive} s is not above the ALB's idle timeout {idle:g} s: the backend "
                    "closes idle connections the ALB still uses, which the client sees as sporadic 502s",
                ))
    for stack, name, check in _resources(templates, ROUTE53_CHECK):
        config, where = check.get("HealthCheckConfig", {}), f"{stack}/{name}"
        pairs = [
            ("Route 53 health check path", config.get("ResourcePath"), twin.r53_path),
            ("Route 53 request interval (s)", _number(config.get("RequestInterval")), twin.r53_interval),
            ("Route 53 failure threshold", _number(config.get("FailureThreshold")), _number(twin.r53_threshold)),
        ]
        for what, deployed, rehearsed in pairs:
            if deployed != rehearsed:
                drift(where, what, deployed, rehearsed)
    for stack, name, distribution in _resources(templates, DISTRIBUTION):
        groups = (distribution.get("DistributionConfig", {}).get("OriginGroups") or {}).get("Items", [])
        for group in groups:
            deployed = tuple(sorted(group.get("FailoverCriteria", {}).get("StatusCodes", {}).get("Items", [])))
            if deployed != tuple(sorted(twin.origin_failover_statuses)):
                drift(f"{stack}/{name}", "CloudFront origin failover status codes", list(deployed),
                      list(twin.origin_failover_statuses))
    return findings


def parity_problems(spec: Spec, templates: dict[str, dict]) -> list[Finding]:
    """The check `threetier check` runs; a note when the twin runs shortened settings."""
    findings = parity_findings(twin_view(spec), templates)
    overrides = spec.local.health_check.model_dump(exclude_none=True) | spec.local.failover_check.model_dump(
        exclude_none=True)
    if overrides:
        findings.append(Finding(
            "info", SOURCE, "parity-twin-overrides", "local.health_check / local.failover_check",
            f"the twin rehearses with shortened settings {overrides}; compared without them",
        ))
    return findings

