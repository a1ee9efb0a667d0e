"""The parity check: the twin's load balancer and failover stage against the synthesized
templates. The shipped environments agree; a setting changed on purpose, on either side,
fails naming both values."""

from __future__ import annotations

import copy

import pytest

from threetier.checks.parity import parity_findings, parity_problems, twin_view
from threetier.local.caddy import render_caddyfile
from threetier.local.layout import Layout
from threetier.local.twin import Twin
from threetier.paths import parameters_dir
from threetier.spec import load_spec


def template(interval=10, timeout=5, healthy=2, unhealthy=2, path="/healthz", matcher="200", delay="30",
             idle=None, r53=None) -> dict:
    """The three resources the parity check reads, as CDK writes them."""
    alb_attributes = [{"Key": "deletion_protection.enabled", "Value": "false"}]
    if idle is not None:
        alb_attributes.append({"Key": "idle_timeout.timeout_seconds", "Value": str(idle)})
    resources = {
        "Targets": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
            "HealthCheckPath": path, "HealthCheckIntervalSeconds": interval, "HealthCheckTimeoutSeconds": timeout,
            "HealthyThresholdCount": healthy, "UnhealthyThresholdCount": unhealthy, "Matcher": {"HttpCode": matcher},
            "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": delay}],
        }},
        "Alb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "Properties": {"LoadBalancerAttributes": alb_attributes}},
    }
    if r53 is not None:
        resources["HealthCheck"] = {"Type": "AWS::Route53::HealthCheck", "Properties": {"HealthCheckConfig": {
            "Type": "HTTPS", "ResourcePath": "/healthz", "RequestInterval": r53[0], "FailureThreshold": r53[1],
            "Port": 443}}}
    return {"threetier-default": {"Resources": resources}}


@pytest.fixture(scope="module")
def default_twin():
    return twin_view(load_spec("default"))


def messages(findings) -> list[str]:
    return [f.message for f in findings if f.severity == "error"]


def test_the_default_twin_agrees_with_a_default_template(default_twin):
    assert parity_findings(default_twin, template(r53=(10, 2))) == []


@pytest.mark.parametrize("change, expected", [
    ({"interval": 30}, "target group health check interval (s): the stack deploys 30.0, the twin rehearses 10.0"),
    ({"timeout": 6}, "target group health check timeout (s): the stack deploys 6.0, the twin rehearses 5.0"),
    ({"unhealthy": 3}, "target group unhealthy threshold: the stack deploys 3.0, the twin rehearses 2.0"),
    ({"healthy": 5}, "target group healthy threshold: the stack deploys 5.0, the twin rehearses 2.0"),
    ({"path": "/login"}, "target group health check path: the stack deploys /login, the twin rehearses /healthz"),
    ({"matcher": "200-399"}, "target group health check matcher: the stack deploys 200-399, the twin rehearses 200"),
    ({"idle": 50}, "idle timeout to the targets (s): the stack deploys 50.0, the twin rehearses 60.0"),
    ({"r53": (30, 2)}, "Route 53 request interval (s): the stack deploys 30.0, the twin rehearses 10.0"),
    ({"r53": (10, 3)}, "Route 53 failure threshold: the stack deploys 3.0, the twin rehearses 2.0"),
])
def test_a_template_setting_changed_on_purpose_fails_naming_both_values(default_twin, change, expected):
    assert messages(parity_findings(default_twin, template(**{"r53": (10, 2), **change}))) == [expected]


def test_a_twin_setting_changed_on_purpose_fails_naming_both_values(tmp_path):
    spec = load_spec("default")
    twin = Twin(spec, tmp_path / "state")
    caddyfile = render_caddyfile(twin.lb_settings(), Layout(tmp_path / "state"))
    assert "health_status 200\n" in caddyfile
    drifted = twin_view(spec, caddyfile=caddyfile.replace("health_status 200\n", "health_status 2xx\n"))
    assert messages(parity_findings(drifted, template())) == [
        "target group health check matcher: the stack deploys 200, the twin rehearses 2xx"]
    no_keepalive = twin_view(spec, caddyfile=caddyfile.replace("\t\t\tkeepalive 60s\n", ""))
    assert messages(parity_findings(no_keepalive, template())) == [
        "idle timeout to the targets (s): the stack deploys 60.0, the twin rehearses None"]


def test_backends_that_close_idle_connections_before_the_alb_fail(default_twin):
    found = messages(parity_findings(default_twin, template(idle=75)))
    assert any("nginx keepalive_timeout 75 s is not above the ALB's idle timeout 75 s" in m for m in found)
    assert any("gunicorn --keep-alive 75 s" in m for m in found)


def test_a_deregistration_delay_below_gunicorns_graceful_timeout_fails(default_twin):
    found = messages(parity_findings(default_twin, template(delay="5")))
    # The twin drains for the parameters' 30 s: that is drift too, named with both values.
    assert found[0] == "deregistration delay (s): the stack deploys 5.0, the twin rehearses 30.0"
    assert found[1:] == [
        "deregistration delay 5 s is shorter than gunicorn's graceful timeout 10 s: the ALB gives up on "
        "in-flight requests of a draining instance before gunicorn would finish them "
        "(raise load_balancer.deregistration_delay_seconds)"]


def test_the_twins_short_test_settings_are_not_drift_but_are_noted():
    import tomllib

    from threetier.spec import parse_spec

    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    data["local"]["health_check"] = {"interval_seconds": 0.5, "timeout_seconds": 0.4}
    data["local"]["failover_check"] = {"request_interval_seconds": 0.5, "ttl_seconds": 1}
    findings = parity_problems(parse_spec(copy.deepcopy(data)), template(r53=(10, 2)))
    assert [f.severity for f in findings] == ["info"]
    assert "shortened settings" in findings[0].message


@pytest.mark.synth
@pytest.mark.parametrize("env", ["default", "domain"])
def test_the_shipped_stacks_and_their_twins_agree(synthesized, env):
    built = synthesized(env)
    assert messages(parity_problems(built.spec, built.templates)) == []
    if env == "domain":  # a Route 53 health check exists there, and was compared
        assert any(r["Type"] == "AWS::Route53::HealthCheck" for t in built.templates.values()
                   for r in t["Resources"].values())
