"""The scorecard's model: AWS's documented mechanisms turned into numbers for the
parameters, each with its source; and the twin's numbers from the same formulas."""

from __future__ import annotations

import tomllib

from threetier.drill import scorecard
from threetier.drill.scorecard import Settings
from threetier.paths import parameters_dir
from threetier.spec import parse_spec


def spec_with(interval=10, timeout=5, domain=None, multi_az=False, local=None, semantics="alb"):
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    data["load_balancer"]["health_check"].update(interval_seconds=interval, timeout_seconds=timeout)
    if domain:
        data["dns"]["domain"] = domain
        data["dns"]["hosted_zone_id"] = "Z0THREETIERTEST0ZONE"
    data["database"]["multi_az"] = multi_az
    data["local"].update(local or {}, lb_semantics=semantics)
    return parse_spec(data)


def test_the_seeds_settings_give_a_20_s_alb_window_and_80_s_to_the_sorry_page():
    aws = Settings.deployed(spec_with(domain="www.example.com"))
    detect = scorecard.alb_detection(aws)
    assert (detect.low, detect.high) == (10, 20)
    assert "Health checks for your target groups" in detect.source and "interval_seconds = 10" in detect.source
    # Route 53 every 10 s × 2 (the stack's), or the ALB's 20 s with evaluate target health, + 60 s TTL.
    sorry = scorecard.sorry_page_after(aws)
    assert (sorry.low, sorry.high) == (10, 80) and "TTL 60 s" in sorry.source
    assert sorry.text(" s") == "10–80 s"


def test_the_fastest_alb_settings_give_a_10_s_window():
    aws = Settings.deployed(spec_with(interval=5, timeout=4, domain="www.example.com"))
    assert (scorecard.alb_detection(aws).low, scorecard.alb_detection(aws).high) == (5, 10)
    # Route 53 still checks every 10 s (its fastest); the ALB's 10 s decides first.
    assert scorecard.sorry_page_after(aws).high == 10 + 60


def test_without_a_domain_aws_never_shows_the_sorry_page():
    aws = Settings.deployed(spec_with())
    never = scorecard.sorry_page_after(aws)
    assert never.never and never.text() == "never" and "no dns.domain" in never.source
    assert never.holds(None) and not never.holds(3.0)


def test_failed_requests_are_the_dead_targets_share_of_the_load_until_detection():
    aws = Settings.deployed(spec_with())
    estimate = scorecard.failed_requests(aws, rate=30.0, share=0.5)
    assert (estimate.low, estimate.high) == (150, 300)
    ideal = Settings.twin(spec_with(semantics="ideal"))
    assert (scorecard.failed_requests(ideal, rate=30.0, share=0.5).high) == 0


def test_rds_multi_az_fails_over_in_60_to_120_s_and_loses_nothing():
    aws = Settings.deployed(spec_with(multi_az=True))
    rto = scorecard.database_rto(aws)
    assert (rto.low, rto.high) == (60, 120) and "Failover process for Amazon RDS" in rto.source
    assert "under 35 s" in rto.source  # the Multi-AZ DB cluster alternative is named
    assert scorecard.lost_writes(aws).high == 0


def test_the_twins_model_uses_its_own_short_settings():
    twin = Settings.twin(spec_with(local={
        "health_check": {"interval_seconds": 0.5, "timeout_seconds": 0.4, "unhealthy_threshold": 2},
        "failover_check": {"request_interval_seconds": 1, "ttl_seconds": 1}}))
    assert (scorecard.alb_detection(twin).low, scorecard.alb_detection(twin).high) == (0.5, 1.0)
    # min(ALB 0.5-1 s, Route 53 1-2 s) + the whole TTL (the twin switches at decision + TTL).
    sorry = scorecard.sorry_page_after(twin)
    assert (sorry.low, sorry.high) == (1.5, 2.0)


def test_a_score_row_carries_every_column_in_json():
    aws = Settings.deployed(spec_with())
    row = scorecard.row("detect seconds", " s", 12.5, on_aws=True, twin=scorecard.alb_detection(aws),
                        aws=scorecard.alb_detection(aws))
    data = row.to_json()
    assert data["twin_measured"] is None and data["aws_measured"] == 12.5
    assert data["aws_predicted"]["text"] == "10–20 s" and data["aws_predicted"]["source"]
