"""The scorecard's CloudFront design (dns.cloudfront; the twin's CloudFront stage) beside the
seeds' DNS-only one, from the same settings."""

from __future__ import annotations

from threetier.drill import scorecard
from threetier.spec import load_spec


def test_cloudfront_shows_the_sorry_page_within_the_albs_answer_where_dns_needs_its_window_and_ttl():
    spec = load_spec("default")
    aws = scorecard.Settings.deployed(spec.model_copy(update={"dns": spec.dns.model_copy(
        update={"domain": "www.example.com", "hosted_zone_id": "Z0THREETIERTEST0ZONE"})}))
    dns_only, cdn = scorecard.sorry_page_after(aws), scorecard.cdn_sorry_page_after(aws)
    assert (dns_only.low, dns_only.high) == (10.0, 80.0)  # min(ALB, Route 53) + the 60 s TTL
    assert (cdn.low, cdn.high) == (0.0, 1.0) and "GET/HEAD/OPTIONS" in cdn.source
    post = scorecard.cdn_post_during_outage(aws)
    assert post.holds(1.0) and not post.holds(0.0)  # a POST gets the ALB's 5xx, never the sorry page


def test_the_ideal_twin_has_no_cloudfront_gain_to_show():
    twin = scorecard.Settings.twin(load_spec("default").model_copy(deep=True))
    ideal = scorecard.Settings(**{**twin.__dict__, "lb_semantics": "ideal"})
    assert scorecard.cdn_post_during_outage(ideal).holds(0.0)
