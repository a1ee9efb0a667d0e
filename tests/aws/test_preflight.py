"""The deploy preflight's rules, one trap each, on parameters, small templates and fake
account answers (no synth, no AWS). The rules on the real templates are in test_monitoring
(alarm topics) and test_cleanup (kept resources with fixed names)."""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import replace

import tomllib

import pytest

from threetier.aws.delegation import delegation_problem, ns_query, parse_ns_answer
from threetier.checks.preflight import (
    AccountProbes,
    HostedZone,
    account_problems,
    billing_problems,
    bootstrap_command,
    docker_problems,
    spec_problems,
    stack_regions,
    template_problems,
)
from threetier.paths import parameters_dir
from threetier.spec import load_spec, parse_spec

ZONE_ID = "Z0THREETIERTEST0ZONE"
NAME_SERVERS = ["ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk", "ns-3.awsdns-03.com", "ns-4.awsdns-04.net"]


def spec_with(env: str = "default", **sections: dict):
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return parse_spec(data, env_name=env)


def rules(findings) -> set[tuple[str, str]]:
    return {(f.severity, f.rule) for f in findings}


# --- regions and bootstrap -------------------------------------------------------------------


def test_every_environment_has_a_stack_in_us_east_1():
    assert stack_regions(load_spec("default")) == ["ap-northeast-1", "us-east-1"]
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    data["project"]["region"] = "us-east-1"
    for subnet in data["network"]["subnets"]:
        subnet["az"] = subnet["az"].replace("ap-northeast-1", "us-east-1")
    assert stack_regions(parse_spec(data)) == ["us-east-1"]


def probes(versions: dict[str, str | None], zone: HostedZone | None = None, public=None) -> AccountProbes:
    return AccountProbes(
        bootstrap_version=lambda region: versions.get(region),
        hosted_zone=lambda zone_id: zone,
        public_name_servers=public or (lambda name: NAME_SERVERS),
    )


def test_a_region_without_the_bootstrap_marker_names_the_exact_command():
    spec = load_spec("prod")
    found = account_problems(spec, probes=probes({"ap-northeast-1": "30"}))
    (problem,) = found
    assert (problem.rule, problem.where) == ("not-bootstrapped", "us-east-1")
    assert "`./threetier --env prod bootstrap`" in problem.message
    assert "/cdk-bootstrap/hnb659fds/version" in problem.message
    assert bootstrap_command(spec) == "./threetier --env prod bootstrap"


def test_a_subnet_in_an_az_the_account_lacks_is_an_error_naming_the_ones_it_has():
    spec = load_spec("default")
    bootstrapped = {"ap-northeast-1": "30", "us-east-1": "30"}
    has_them = replace(probes(bootstrapped), availability_zones=lambda region: ["ap-northeast-1a", "ap-northeast-1c"])
    assert account_problems(spec, probes=has_them) == []
    lacks_1c = replace(probes(bootstrapped), availability_zones=lambda region: ["ap-northeast-1a", "ap-northeast-1d"])
    found = account_problems(spec, probes=lacks_1c)
    assert {f.rule for f in found} == {"unknown-az"} and len(found) == 3  # public, private, isolated in 1c
    assert found[0].where == "network.subnets[1].az"
    assert "ap-northeast-1c (public-1c) is not an AZ this account has" in found[0].message
    assert "it has ap-northeast-1a, ap-northeast-1d" in found[0].message


def test_an_old_bootstrap_stack_is_an_error_and_a_current_one_passes():
    spec = load_spec("default")
    assert rules(account_problems(spec, probes=probes({"ap-northeast-1": "5", "us-east-1": "30"}))) == {
        ("error", "old-bootstrap")
    }
    assert account_problems(spec, probes=probes({"ap-northeast-1": "30", "us-east-1": "30"})) == []


# --- the domain and its zone -------------------------------------------------------------------


def test_a_domain_without_a_zone_id_explains_delegation():
    (problem,) = [f for f in spec_problems(spec_with(dns={"domain": "www.example.com"})) if f.severity == "error"]
    assert problem.rule == "domain-without-zone"
    assert "registrar" in problem.message and "name servers" in problem.message
    assert "dns.hosted_zone_id" in problem.message


BOOTSTRAPPED = {"ap-northeast-1": "30", "us-east-1": "30"}


def domain_spec():
    return spec_with(dns={"domain": "www.example.com", "hosted_zone_id": ZONE_ID})


def test_a_zone_the_account_does_not_have_is_an_error():
    found = account_problems(domain_spec(), probes=probes(BOOTSTRAPPED, zone=None))
    assert rules(found) == {("error", "zone-not-found")}


def test_a_zone_of_another_name_is_an_error():
    zone = HostedZone(name="example.org.", name_servers=NAME_SERVERS)
    assert rules(account_problems(domain_spec(), probes=probes(BOOTSTRAPPED, zone=zone))) == {("error", "zone-name")}


@pytest.mark.parametrize(
    ("public", "says"),
    [
        (lambda name: [], "not delegated"),
        (lambda name: ["ns1.registrar-parking.example."], "ns1.registrar-parking.example"),
        (lambda name: (_ for _ in ()).throw(OSError("timed out")), "could not be asked"),
    ],
)
def test_an_undelegated_zone_stops_the_deploy_before_acm_would_hang(public, says):
    zone = HostedZone(name="example.com.", name_servers=NAME_SERVERS)
    (problem,) = account_problems(domain_spec(), probes=probes(BOOTSTRAPPED, zone=zone, public=public))
    assert problem.rule == "zone-not-delegated" and says in problem.message
    assert NAME_SERVERS[0] in problem.message  # what to enter at the registrar


def test_a_delegated_zone_passes_whatever_the_case_and_trailing_dots():
    zone = HostedZone(name="example.com.", name_servers=NAME_SERVERS)
    public = lambda name: [n.upper() + "." for n in NAME_SERVERS]  # noqa: E731
    assert account_problems(domain_spec(), probes=probes(BOOTSTRAPPED, zone=zone, public=public)) == []


# --- production, alarms, billing, Docker --------------------------------------------------------


def test_prod_without_a_domain_is_an_error_unless_the_parameters_say_why():
    unacknowledged = spec_with("prod", environment={"retain_data": True}, dns={})
    assert ("error", "prod-plain-http") in rules(spec_problems(unacknowledged))
    # The shipped prod.toml says why (a template without a domain of its own): a warning.
    shipped = load_spec("prod")
    (warning,) = [f for f in spec_problems(shipped) if f.rule == "prod-plain-http"]
    assert warning.severity == "warning" and shipped.dns.plain_http_reason in warning.message
    # Data that outlives destroy makes any environment production.
    staging = spec_with("staging", environment={"retain_data": True})
    assert ("error", "prod-plain-http") in rules(spec_problems(staging))
    assert "prod-plain-http" not in {f.rule for f in spec_problems(load_spec("default"))}


def test_no_alarm_email_is_a_warning_that_alarms_reach_no_one():
    (warning,) = [f for f in spec_problems(load_spec("default")) if f.rule == "no-alarm-email"]
    assert warning.severity == "warning" and "reach no one" in warning.message
    mailed = spec_with(monitoring={"alarm_email": "ops@example.com"})
    assert "no-alarm-email" not in {f.rule for f in spec_problems(mailed)}


def test_a_billing_alarm_below_the_estimate_is_an_error():
    spec = spec_with(monitoring={"billing_alarm_usd": 10})
    (problem,) = billing_problems(spec, 124.62)
    assert problem.severity == "error" and "124.62" in problem.message and "e.g. 150" in problem.message
    assert rules(billing_problems(spec_with(monitoring={"billing_alarm_usd": 130}), 124.62)) == {
        ("warning", "billing-near-estimate")
    }
    assert billing_problems(spec_with(monitoring={"billing_alarm_usd": 150}), 124.62) == []


def test_fargate_without_a_docker_daemon_is_an_error_for_deploy_and_a_warning_for_check():
    fargate = load_spec("fargate")
    unreachable = lambda: "the Docker daemon is not reachable (Cannot connect)"  # noqa: E731
    (problem,) = docker_problems(fargate, unreachable, severity="error")
    assert problem.rule == "docker-daemon" and "Cannot connect" in problem.message
    assert docker_problems(fargate, unreachable, severity="warning")[0].severity == "warning"
    assert docker_problems(fargate, lambda: None, severity="error") == []
    assert docker_problems(load_spec("default"), unreachable, severity="error") == []


def test_the_docker_probe_says_why_the_daemon_does_not_answer(tmp_path, monkeypatch):
    from threetier.aws.cdk_cli import docker_daemon_problem

    monkeypatch.setenv("CDK_DOCKER", "no-such-docker")
    assert "not installed" in docker_daemon_problem()
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///x.sock' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CDK_DOCKER", str(fake))
    assert "Cannot connect to the Docker daemon" in docker_daemon_problem()
    fake.write_text("#!/bin/sh\necho 27.3.1\n")
    assert docker_daemon_problem() is None


# --- templates ---------------------------------------------------------------------------------


def alarm_template(*statements: dict, key: str | None = None) -> dict:
    resources = {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": key} if key else {}},
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmActions": [{"Ref": "Topic"}]}},
    }
    if statements:
        resources["Policy"] = {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {"Topics": [{"Ref": "Topic"}], "PolicyDocument": {"Statement": list(statements)}},
        }
    return {"Resources": resources}


TLS_ONLY = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "sns:Publish",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
CLOUDWATCH = {"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish"}


def test_a_deny_only_topic_policy_drops_every_alarm():
    assert rules(template_problems({"s": alarm_template(TLS_ONLY)})) == {("error", "alarm-topic-publish")}


def test_an_allow_for_cloudwatch_or_no_policy_at_all_lets_alarms_publish():
    assert template_problems({"s": alarm_template(TLS_ONLY, CLOUDWATCH)}) == []
    assert template_problems({"s": alarm_template()}) == []  # SNS's default policy


def test_an_unconditional_deny_or_the_aws_managed_key_drops_alarms_too():
    deny_all = {"Effect": "Deny", "Principal": "*", "Action": "sns:*"}
    dropped = {("error", "alarm-topic-publish")}
    assert rules(template_problems({"s": alarm_template(CLOUDWATCH, deny_all)})) == dropped
    assert rules(template_problems({"s": alarm_template(key="alias/aws/sns")})) == dropped


def kept(properties: dict, policy: str = "Retain", type_name: str = "AWS::Logs::LogGroup") -> dict:
    return {"Resources": {"Group": {"Type": type_name, "DeletionPolicy": policy, "Properties": properties}}}


def test_a_kept_resource_with_a_fixed_name_is_an_error():
    fixed = kept({"LogGroupName": "/aws/rds/instance/threetier-prod-db/postgresql"})
    assert rules(template_problems({"s": fixed})) == {("error", "retained-fixed-name")}
    joined = kept({"LogGroupName": {"Fn::Join": ["", ["/x/", {"Ref": "AWS::StackName"}]]}})
    assert rules(template_problems({"s": joined})) == {("error", "retained-fixed-name")}


def test_generated_or_per_stack_names_and_resources_that_go_are_fine():
    per_stack = {"Fn::Join": ["", ["/x-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]]}
    assert template_problems({"s": kept({"LogGroupName": per_stack})}) == []
    assert template_problems({"s": kept({})}) == []
    assert template_problems({"s": kept({"LogGroupName": "/fixed"}, policy="Delete")}) == []
    # A final snapshot keeps no instance: the identifier is free again.
    snapshot = kept({"DBInstanceIdentifier": "db"}, policy="Snapshot", type_name="AWS::RDS::DBInstance")
    assert template_problems({"s": snapshot}) == []


# --- the public DNS, on the wire -----------------------------------------------------------------


def ns_reply(query: bytes, names: list[str], rcode: int = 0) -> bytes:
    """A resolver's answer to `query` with compressed NS names (pointer to the question)."""
    ident = struct.unpack(">H", query[:2])[0]
    question = query[12:]
    header = struct.pack(">HHHHHH", ident, 0x8180 | rcode, 1, len(names), 0, 0)
    answers = b""
    for name in names:
        labels = name.split(".")
        rdata = b"".join(bytes([len(x)]) + x.encode() for x in labels[:-2]) + b"\xc0\x0c"
        answers += b"\xc0\x0c" + struct.pack(">HHIH", 2, 1, 300, len(rdata)) + rdata
    return header + question + answers


def test_ns_answers_are_read_with_name_compression():
    query = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x07example\x03com\x00" + struct.pack(">HH", 2, 1)
    reply = ns_reply(query, ["ns-1.awsdns.example.com", "ns-2.awsdns.example.com"])
    assert parse_ns_answer(reply, 7) == ["ns-1.awsdns.example.com", "ns-2.awsdns.example.com"]
    assert parse_ns_answer(ns_reply(query, [], rcode=3), 7) == []  # NXDOMAIN
    with pytest.raises(OSError, match="another query"):
        parse_ns_answer(reply, 8)


def test_ns_query_asks_a_resolver_over_udp():
    """A fake resolver on loopback answers; the query names the zone and asks for NS."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    asked: list[bytes] = []

    def answer() -> None:
        query, client = server.recvfrom(512)
        asked.append(query)
        server.sendto(ns_reply(query, ["ns-9.awsdns.example.com"]), client)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        found = ns_query("example.com", "127.0.0.1", port=server.getsockname()[1])
    finally:
        thread.join(timeout=5)
        server.close()
    assert found == ["ns-9.awsdns.example.com"]
    assert b"\x07example\x03com\x00\x00\x02\x00\x01" in asked[0]
    assert delegation_problem("example.com", found, lambda zone: found) is None
