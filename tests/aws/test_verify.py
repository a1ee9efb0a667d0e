"""`threetier verify`'s judgments on answers AWS can give and moto cannot (unhealthy targets,
failing Route 53 checkers, a pending e-mail confirmation, a sorry page that answers 200),
with fake clients; the calls themselves run against moto in test_moto_deploy and
test_cdk_cli_on_moto."""

from __future__ import annotations

import http.server
import threading
import tomllib
from collections.abc import Iterator

import pytest

from threetier.checks.verify import (
    health_check_result,
    http_status,
    sorry_check,
    subscription_check,
    targets_check,
    url_check,
)
from threetier.paths import parameters_dir
from threetier.spec import load_spec, parse_spec


class Fake:
    """A boto3 client whose named methods return canned answers."""

    def __init__(self, **answers: object) -> None:
        self.answers = answers

    def __getattr__(self, name: str):
        return lambda **kwargs: self.answers[name]

    def get_paginator(self, name: str):
        answer = self.answers[name]
        return type("Pages", (), {"paginate": lambda self, **kwargs: [answer]})()


def target(target_id: str, state: str, reason: str = "") -> dict:
    return {"Target": {"Id": target_id, "Port": 8000}, "TargetHealth": {"State": state, "Reason": reason}}


def test_every_target_must_be_healthy_and_there_must_be_one():
    outputs = {"TargetGroupArn": "arn:aws:elasticloadbalancing:::targetgroup/tg/1"}
    ok = targets_check(Fake(describe_target_health={"TargetHealthDescriptions": [target("i-1", "healthy")]}), outputs)
    assert (ok.status, ok.detail) == ("ok", "1/1 healthy (i-1)")
    sick = targets_check(
        Fake(
            describe_target_health={
                "TargetHealthDescriptions": [
                    target("i-1", "healthy"),
                    target("i-2", "unhealthy", "Target.ResponseCodeMismatch"),
                ]
            }
        ),
        outputs,
    )
    assert sick.status == "fail" and "i-2: unhealthy (Target.ResponseCodeMismatch)" in sick.detail
    empty = targets_check(Fake(describe_target_health={"TargetHealthDescriptions": []}), outputs)
    assert empty.status == "fail" and "no target" in empty.detail


def observations(*statuses: str) -> dict:
    return {"HealthCheckObservations": [{"StatusReport": {"Status": s}} for s in statuses]}


def test_route53_says_healthy_only_above_18_percent_of_its_checkers():
    failing = "Failure: HTTP Status Code 502, Bad Gateway."
    one_of_five = observations("Success: HTTP Status Code 200", *[failing] * 4)
    healthy = health_check_result(Fake(get_health_check_status=one_of_five), "h")
    assert healthy.status == "ok" and "1/5" in healthy.detail  # 20 % > 18 %
    down = health_check_result(Fake(get_health_check_status=observations("Success: 200", *[failing] * 5)), "h")
    assert down.status == "fail" and "502" in down.detail  # 1 of 6 = 16.7 %


def subscriptions(*arns: str) -> dict:
    return {"Subscriptions": [{"SubscriptionArn": a, "Protocol": "email", "Endpoint": "ops@example.com"} for a in arns]}


def test_an_unconfirmed_alarm_mail_fails_and_says_to_click_the_link():
    spec = load_spec("default")
    waiting = Fake(list_subscriptions_by_topic=subscriptions("PendingConfirmation"))
    pending = subscription_check("alarm-mail", waiting, "arn:t", spec)
    assert pending.status == "fail" and "click the link" in pending.detail
    clicked = Fake(list_subscriptions_by_topic=subscriptions("arn:aws:sns:ap-northeast-1:1:t:abc"))
    confirmed = subscription_check("alarm-mail", clicked, "arn:t", spec)
    assert (confirmed.status, confirmed.detail) == ("ok", "confirmed: email:ops@example.com")
    none = subscription_check("alarm-mail", Fake(list_subscriptions_by_topic={"Subscriptions": []}), "arn:t", spec)
    assert none.status == "fail" and "monitoring.alarm_email" in none.detail


def test_the_sorry_page_must_answer_503_on_every_path():
    edge = {"SorryDistributionDomain": "d111.cloudfront.net"}
    assert sorry_check(edge, lambda url: 503).status == "ok"
    # `/` through default_root_object answered 200: that is a failure.
    root_200 = sorry_check(edge, lambda url: 200 if url.endswith(".net/") else 503)
    assert root_200.status == "fail" and "https://d111.cloudfront.net/ → 200" in root_200.detail
    assert sorry_check(None, lambda url: 503).status == "skip"


def test_the_url_and_its_health_path_must_answer_200():
    spec = load_spec("default")
    outputs = {"Url": "http://alb.example"}
    asked: list[str] = []
    assert url_check(spec, outputs, lambda url: asked.append(url) or 200).status == "ok"
    assert asked == ["http://alb.example", "http://alb.example/healthz"]

    def refused(url: str) -> int:
        raise OSError("Connection refused")

    failed = url_check(spec, outputs, refused)
    assert failed.status == "fail" and "no answer (Connection refused)" in failed.detail


@pytest.fixture
def loopback_site() -> Iterator[str]:
    """An HTTP server on loopback: 200 on /healthz, 503 elsewhere."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_status_reads_the_answer_and_an_error_status(loopback_site):
    assert http_status(f"{loopback_site}/healthz") == 200
    assert http_status(f"{loopback_site}/users/") == 503
    with pytest.raises(OSError):
        http_status("http://127.0.0.1:9/")  # discard port: nothing listens


def test_without_a_domain_the_dns_checks_are_skipped_and_say_why():
    from threetier.checks.verify import dns_checks

    results = dns_checks(load_spec("default"), Fake(), {}, None)
    assert [(r.check, r.status) for r in results] == [("failover-records", "skip"), ("health-check", "skip")]
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    data["dns"] = {"domain": "www.example.com", "hosted_zone_id": "Z0THREETIERTEST0ZONE", "failover": False}
    no_failover = dns_checks(parse_spec(data), Fake(), {}, None)
    assert "dns.failover is off" in no_failover[0].detail
