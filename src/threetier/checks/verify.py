"""`threetier verify`: after a deploy, does the system in the account work as built?

Read from the stacks' outputs (no parameters guessed), each check answers one question:

| check | question | how |
|---|---|---|
| url | does the system's URL answer? | GET Url and Url + health path → 200 |
| targets | is every target of the target group healthy? | describe-target-health |
| failover-records | do the PRIMARY (ALB) and SECONDARY (sorry page) records exist? | list-resource-record-sets |
| health-check | do Route 53's checkers see the ALB healthy? | get-health-check-status (> 18 % success) |
| sorry-page | does the sorry site answer 503 on any path? | GET https://<distribution>/ and a deep path → 503 |
| alarm-mail | does the alarm topic have a confirmed subscription? | list-subscriptions-by-topic |
| billing-mail | ... and the billing alarm's topic (us-east-1)? | list-subscriptions-by-topic |
| billing-alarm | does the billing alarm exist in us-east-1? | describe-alarms |

Without a domain (or with failover off) the DNS and sorry-page checks are skipped and say so.

>>> results = verify_deployment(spec, clients=lambda region: api.clients(region), fetch=http_status)
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from threetier.aws import api
from threetier.aws.naming import (
    EDGE_REGION,
    billing_stack_name,
    edge_stack_name,
    has_edge,
    system_stack_name,
)
from threetier.errors import ThreetierError
from threetier.spec import Spec

Status = Literal["ok", "warn", "fail", "skip"]
HTTP_TIMEOUT_SECONDS = 10
# Route 53 considers an endpoint healthy when more than this share of its checkers do.
ROUTE53_HEALTHY_SHARE = 0.18
SORRY_STATUS = 503
PENDING = "PendingConfirmation"


@dataclass(frozen=True)
class Result:
    check: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Report:
    env: str
    results: list[Result]

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status == "fail"]

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "passed": not self.failed,
            "checks": [asdict(r) for r in self.results],
        }


def http_status(url: str) -> int:
    """The HTTP status `url` answers with (redirects followed, TLS verified); OSError when
    nothing answers (DNS, connection, TLS, timeout)."""
    request = urllib.request.Request(url, headers={"User-Agent": "threetier-verify"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError as exc:
        raise OSError(str(exc.reason)) from None


def verify_deployment(
    spec: Spec,
    *,
    clients: Callable[[str], api.Clients],
    fetch: Callable[[str], int] | None = None,
) -> Report:
    """Every check on the deployed environment. `clients(region)` gives boto3 clients
    (threetier.aws.api), `fetch(url)` an HTTP status (default `http_status`).
    ThreetierError when a stack is missing."""
    fetch = fetch or http_status
    region = spec.project.region
    system = outputs_of_stack(clients(region), system_stack_name(spec), region)
    holder = edge_stack_name(spec) if has_edge(spec) else billing_stack_name(spec)
    billing = outputs_of_stack(clients(EDGE_REGION), holder, EDGE_REGION)
    edge = billing if has_edge(spec) else None
    regional, east = clients(region), clients(EDGE_REGION)
    results = [
        url_check(spec, system, fetch),
        targets_check(regional("elbv2"), system),
        *dns_checks(spec, regional("route53"), system, edge),
        sorry_check(edge, fetch),
        subscription_check("alarm-mail", regional("sns"), system.get("AlarmTopicArn"), spec),
        subscription_check("billing-mail", east("sns"), billing.get("BillingTopicArn"), spec),
        billing_alarm_check(east("cloudwatch"), billing.get("BillingAlarmName")),
    ]
    return Report(env=spec.env_name, results=results)


def outputs_of_stack(clients: api.Clients, name: str, region: str) -> dict[str, str]:
    outputs = api.stack_outputs(clients("cloudformation"), name)
    if outputs is None:
        raise ThreetierError(
            f"the stack {name} does not exist in {region}: nothing to verify",
            fix="deploy the environment first (`threetier deploy`), with credentials of its account",
        )
    return outputs


def url_check(spec: Spec, outputs: dict[str, str], fetch: Callable[[str], int]) -> Result:
    url = outputs.get("Url")
    if not url:
        return Result("url", "fail", "the stack has no Url output")
    health = url.rstrip("/") + spec.load_balancer.health_check.path
    answers = {}
    for target in (url, health):
        try:
            answers[target] = str(fetch(target))
        except OSError as exc:
            answers[target] = f"no answer ({exc})"
    good = all(answer == "200" for answer in answers.values())
    detail = ", ".join(f"{target} → {answer}" for target, answer in answers.items())
    return Result("url", "ok" if good else "fail", detail)


def targets_check(elbv2: Any, outputs: dict[str, str]) -> Result:
    arn = outputs.get("TargetGroupArn")
    if not arn:
        return Result("targets", "fail", "the stack has no TargetGroupArn output (deployed before verify existed?)")
    health = api.target_health(elbv2, arn)
    if not health:
        return Result("targets", "fail", "no target is registered in the target group")
    states = {
        h["Target"]["Id"]: (h["TargetHealth"]["State"], h["TargetHealth"].get("Reason", ""))
        for h in health
    }
    sick = {t: s for t, s in states.items() if s[0] != "healthy"}
    if sick:
        listed = ", ".join(f"{t}: {state}{f' ({why})' if why else ''}" for t, (state, why) in sick.items())
        return Result("targets", "fail", f"{len(states) - len(sick)}/{len(states)} healthy; {listed}")
    return Result("targets", "ok", f"{len(states)}/{len(states)} healthy ({', '.join(sorted(states))})")


def dns_checks(
    spec: Spec, route53: Any, system: dict[str, str], edge: dict[str, str] | None
) -> list[Result]:
    if edge is None:
        why = "no dns.domain" if not spec.dns.domain else "dns.failover is off"
        return [
            Result("failover-records", "skip", f"{why}: no failover records"),
            Result("health-check", "skip", f"{why}: no Route 53 health check"),
        ]
    records = api.record_sets(route53, spec.dns.hosted_zone_id or "", spec.dns.domain or "")
    by_role = {r.get("Failover"): r for r in records if r.get("Failover")}
    alb = system.get("LoadBalancerDnsName", "").lower()
    sorry = edge.get("SorryDistributionDomain", "").lower()
    problems = []
    primary, secondary = by_role.get("PRIMARY"), by_role.get("SECONDARY")
    if primary is None or not alias_of(primary).endswith(alb):
        problems.append(f"no PRIMARY record of {spec.dns.domain} aliasing the ALB {alb}")
    if secondary is None or not alias_of(secondary).endswith(sorry):
        problems.append(f"no SECONDARY record of {spec.dns.domain} aliasing the sorry site {sorry}")
    health_id = system.get("HealthCheckId")
    if primary is not None and health_id and primary.get("HealthCheckId") != health_id:
        problems.append(f"the PRIMARY record is not tied to the health check {health_id}")
    records_result = (
        Result("failover-records", "fail", "; ".join(problems))
        if problems
        else Result("failover-records", "ok", f"PRIMARY → {alb}, SECONDARY → {sorry}")
    )
    return [records_result, health_check_result(route53, health_id)]


def alias_of(record: dict) -> str:
    return record.get("AliasTarget", {}).get("DNSName", "").rstrip(".").lower()


def health_check_result(route53: Any, health_id: str | None) -> Result:
    if not health_id:
        return Result("health-check", "fail", "the stack has no HealthCheckId output")
    statuses = api.health_check_observations(route53, health_id)
    if not statuses:
        return Result("health-check", "fail", f"{health_id}: no checker has reported yet")
    good = sum(1 for s in statuses if s.startswith("Success"))
    healthy = good / len(statuses) > ROUTE53_HEALTHY_SHARE
    detail = f"{good}/{len(statuses)} Route 53 checkers report success"
    if not healthy:
        failures = sorted({s for s in statuses if not s.startswith("Success")})
        detail += f" (e.g. {failures[0]})"
    return Result("health-check", "ok" if healthy else "fail", detail)


def sorry_check(edge: dict[str, str] | None, fetch: Callable[[str], int]) -> Result:
    if edge is None:
        return Result("sorry-page", "skip", "no edge stack (no domain, or failover off): no sorry site")
    domain = edge.get("SorryDistributionDomain")
    if not domain:
        return Result("sorry-page", "fail", "the edge stack has no SorryDistributionDomain output")
    answers = {}
    for path in ("/", "/users/"):
        url = f"https://{domain}{path}"
        try:
            answers[url] = str(fetch(url))
        except OSError as exc:
            answers[url] = f"no answer ({exc})"
    good = all(answer == str(SORRY_STATUS) for answer in answers.values())
    detail = ", ".join(f"{url} → {answer}" for url, answer in answers.items())
    return Result("sorry-page", "ok" if good else "fail", detail)


def subscription_check(name: str, sns: Any, topic_arn: str | None, spec: Spec) -> Result:
    if not topic_arn:
        return Result(name, "fail", "the stack names no topic (deployed before verify existed?)")
    subscriptions = api.topic_subscriptions(sns, topic_arn)
    confirmed = [s for s in subscriptions if s.get("SubscriptionArn", PENDING).startswith("arn:")]
    if confirmed:
        endpoints = ", ".join(sorted(f"{s['Protocol']}:{s['Endpoint']}" for s in confirmed))
        return Result(name, "ok", f"confirmed: {endpoints}")
    pending = [s for s in subscriptions if s.get("SubscriptionArn") == PENDING]
    if pending:
        endpoints = ", ".join(sorted(s["Endpoint"] for s in pending))
        return Result(
            name,
            "fail",
            f"pending confirmation: {endpoints} must click the link in AWS's mail "
            "(AWS Notification - Subscription Confirmation); until then no alarm arrives",
        )
    if not spec.monitoring.alarm_email:
        return Result(name, "fail", "no subscription: set monitoring.alarm_email and deploy again")
    return Result(name, "fail", f"no subscription on {topic_arn}")


def billing_alarm_check(cloudwatch: Any, name: str | None) -> Result:
    if not name:
        return Result("billing-alarm", "fail", "the us-east-1 stack names no billing alarm")
    alarm = api.metric_alarm(cloudwatch, name)
    if alarm is None:
        return Result("billing-alarm", "fail", f"no alarm {name} in {EDGE_REGION}")
    state, threshold = alarm.get("StateValue", "?"), alarm.get("Threshold")
    detail = f"{name} in {EDGE_REGION}: {state}, at {threshold:g} USD" if threshold is not None else name
    if state == "ALARM":
        return Result(
            "billing-alarm", "warn", f"{detail}: this month's charges already passed the threshold"
        )
    if state == "INSUFFICIENT_DATA":
        detail += (
            " (no AWS/Billing data yet: it comes a few times a day, and only once billing "
            "alerts are on: Billing preferences → Receive CloudWatch billing alerts)"
        )
    return Result("billing-alarm", "ok", detail)
