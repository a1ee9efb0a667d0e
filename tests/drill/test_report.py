"""A drill's verdict: the JSON fields users script against, and the pass/fail rule."""

from __future__ import annotations

from threetier.drill.load import wait_until
from threetier.drill.report import DrillResult


def test_json_has_the_documented_fields():
    result = DrillResult(drill="web", target="twin default", requests=120, failed_requests=0, detect_seconds=1.2)
    result.expect("failed requests", 0, 0)
    data = result.to_json()
    assert {"drill", "requests", "failed_requests", "detect_seconds", "recover_seconds", "lost_writes"} <= data.keys()
    assert data["passed"] is True
    assert data["expectations"] == [{"name": "failed requests", "limit": 0, "actual": 0, "met": True}]


def test_a_missed_or_unmeasured_expectation_fails_the_drill():
    over = DrillResult(drill="web", target="t")
    over.expect("detect seconds", 3.5, 3.0)
    assert not over.passed
    unmeasured = DrillResult(drill="db", target="t")
    unmeasured.expect("RTO seconds", None, 10)
    assert not unmeasured.passed


def test_wait_until_reports_elapsed_time_or_none():
    now = [0.0]
    ticks = iter([False, False, True])
    took = wait_until(lambda: next(ticks), timeout=5, interval=0.5, clock=lambda: now[0],
                      sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert took == 1.0
    never = wait_until(lambda: False, timeout=2, interval=0.5, clock=lambda: now[0],
                       sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert never is None
