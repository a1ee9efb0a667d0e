"""The failover stage's decisions (threetier.local.failover.FailoverRecord), replayed
without sockets or sleeping: Route 53's checkers and threshold, evaluate target health,
and the TTL before clients switch, both ways."""

from __future__ import annotations

from threetier.local.failover import LB, SORRY, FailoverRecord, any_target_healthy


def test_one_checker_fails_over_after_the_threshold_and_clients_switch_a_ttl_later():
    record = FailoverRecord(failure_threshold=2, ttl_seconds=60)
    assert record.observe_check(False, now=0) is None  # 1 of 2
    decision = record.observe_check(False, now=10)
    assert decision["healthy"] is False and decision["effective_at"] == 70 and decision["route"] == SORRY
    assert record.route(69.9) == LB and record.route(70) == SORRY
    # Back: the same threshold of passes, then the TTL again.
    record.observe_check(True, now=100)
    assert record.observe_check(True, now=110)["healthy"] is True
    assert record.route(169) == SORRY and record.route(170) == LB


def test_a_pass_between_failures_resets_the_count():
    record = FailoverRecord(failure_threshold=2, ttl_seconds=0)
    for now, ok in ((0, False), (1, True), (2, False), (3, True)):
        assert record.observe_check(ok, now=now) is None
    assert record.healthy and record.route(4) == LB


def test_with_eight_checkers_the_endpoint_is_healthy_while_more_than_18_percent_say_so():
    record = FailoverRecord(failure_threshold=1, ttl_seconds=0, checkers=8)
    for checker in range(6):
        assert record.observe_check(False, now=checker, checker=checker) is None
    assert record.check_healthy  # 2 of 8 (25 %) still healthy
    decision = record.observe_check(False, now=6, checker=6)
    assert decision["healthy"] is False and "1 of 8 checkers healthy" in decision["reason"]


def test_no_healthy_target_at_the_lb_fails_over_at_once_evaluate_target_health():
    record = FailoverRecord(failure_threshold=3, ttl_seconds=60)
    decision = record.observe_targets(False, now=5)
    assert decision["healthy"] is False and "evaluate target health" in decision["reason"]
    assert record.route(65) == SORRY
    assert record.observe_targets(True, now=80)["healthy"] is True and record.route(140) == LB


def test_unknown_target_health_counts_as_healthy():
    assert any_target_healthy({})
    assert any_target_healthy({8101: None, 8102: False})
    assert not any_target_healthy({8101: False, 8102: False})
