"""`drill web`: kill -9 one instance under steady load (seed 001/003: stop httpd on one
server; the other keeps serving; the Auto Scaling group replaces the dead one).

With `local.lb_semantics = "alb"` (and on AWS) the dead instance costs failed requests
until the load balancer's health check takes it out: about load × detection window ÷
instances. The drill holds the count to that model (scorecard.py), not to 0; "ideal"
(retries) is held to `drill.web_max_failed_requests`.
"""

from __future__ import annotations

import time

from threetier.apps.routes import drill_routes, what_broke
from threetier.checks.readiness import drill_notes
from threetier.drill import scorecard
from threetier.drill.load import LoadLoop, Outcome, failures, wait_until
from threetier.drill.report import DrillResult
from threetier.drill.scorecard import Settings
from threetier.drill.target import DrillTarget
from threetier.spec import Spec

# Slack on a modelled request count: a serial client's rate varies within the window.
COUNT_SLACK_FACTOR = 1.5
COUNT_SLACK_REQUESTS = 5


def health_window(target: DrillTarget) -> tuple[float, float]:
    """Seconds for the target's load balancer to mark an instance unhealthy, and healthy again."""
    hc = target.health_check()
    interval = float(hc["interval_seconds"])
    return interval * hc["unhealthy_threshold"], interval * hc["healthy_threshold"]


def sides(target: DrillTarget, spec: Spec) -> tuple[Settings, Settings, Settings]:
    """(the twin's settings, the deployed ones, the ones this target runs with)."""
    twin, aws = Settings.twin(spec), Settings.deployed(spec)
    return twin, aws, aws if target.kind == "aws" else twin


def rate_between(outcomes: list[Outcome], start: float, end: float) -> float | None:
    """Requests per second started in [start, end] (monotonic), None for an empty window."""
    if end <= start:
        return None
    return sum(start <= o.started <= end for o in outcomes) / (end - start)


def hold_count(result: DrillResult, name: str, actual: int, model: scorecard.Estimate) -> None:
    """Hold a count to a model's high end, with slack for a serial client's varying rate."""
    limit = (model.high or 0.0) * COUNT_SLACK_FACTOR + COUNT_SLACK_REQUESTS
    result.expect(name, actual, round(limit, 1))


def drill_web(target: DrillTarget, spec: Spec, *, max_seconds: float = 120) -> DrillResult:
    twin_settings, aws_settings, mine = sides(target, spec)
    on_aws = target.kind == "aws"
    result = DrillResult(drill="web", target=target.label, lb_semantics=mine.lb_semantics)
    unhealthy_window, healthy_window = health_window(target)
    slack = spec.drill.slack_seconds
    names = target.instance_names()
    victim = names[0]
    if not wait_until(lambda: all(target.target_health().values()), timeout=max(30.0, 3 * healthy_window)):
        raise_not_ready(target)

    routes = drill_routes(spec)
    loop = LoadLoop(
        lambda s: s.get(f"{target.url}{routes.read}", timeout=10), max_requests=100_000,
        max_seconds=max_seconds, verify=target.verify,
    ).start()
    time.sleep(min(1.0, max_seconds / 10))  # a steady baseline before the failure
    killed_at, killed_mono = time.time(), time.monotonic()
    target.kill_instance(victim)
    result.detect_seconds = wait_for_health(
        target, victim, healthy=False, since=killed_at, timeout=max(20.0, 4 * unhealthy_window)
    )
    if result.detect_seconds is not None:
        result.recover_seconds = wait_for_health(
            target, victim, healthy=True, since=killed_at + result.detect_seconds,
            timeout=max(60.0, 6 * healthy_window, target.boot_timeout_seconds),
        )
        if result.recover_seconds is not None:
            result.recover_seconds += result.detect_seconds
    time.sleep(min(1.0, max_seconds / 10))  # and traffic after the replacement joined
    outcomes = loop.stop()

    result.requests = len(outcomes)
    result.failed_requests = len(failures(outcomes))
    window_end = killed_mono + (result.detect_seconds if result.detect_seconds is not None else unhealthy_window)
    # The load during the detection window: what the dead instance's share is taken of.
    rate = rate_between(outcomes, killed_mono, window_end) or rate_between(
        outcomes, outcomes[0].started if outcomes else 0.0, killed_mono
    ) or 0.0
    result.requests_per_second = round(rate, 1)
    share = 1 / len(names)
    statuses = sorted({str(o.status or o.detail) for o in failures(outcomes)})
    served_by = sorted({o.instance for o in outcomes if o.instance})
    result.notes.append(f"killed {victim}; instances seen in responses: {', '.join(served_by)}")
    if statuses:
        result.notes.append(f"failed requests answered: {', '.join(statuses)}")
    result.notes += what_broke([o.status for o in outcomes], routes) + drill_notes(spec)

    model = {side: scorecard.failed_requests(side, rate=rate, share=share) for side in (twin_settings, aws_settings)}
    result.scorecard = [
        scorecard.row("failed requests", "", result.failed_requests, on_aws=on_aws,
                      twin=model[twin_settings], aws=model[aws_settings]),
        scorecard.row("detect seconds", " s", result.detect_seconds, on_aws=on_aws,
                      twin=scorecard.alb_detection(twin_settings), aws=scorecard.alb_detection(aws_settings)),
        scorecard.row("healthy again seconds", " s", result.recover_seconds, on_aws=on_aws,
                      twin=scorecard.alb_recovery(twin_settings), aws=scorecard.alb_recovery(aws_settings)),
    ]
    if mine.lb_semantics == "ideal":
        result.expect("failed requests", result.failed_requests, spec.drill.web_max_failed_requests)
    else:
        hold_count(result, "failed requests", result.failed_requests, model[mine])
    result.expect("detect seconds", result.detect_seconds, unhealthy_window + slack)
    return result


def wait_for_health(
    target: DrillTarget, name: str, *, healthy: bool, since: float, timeout: float
) -> float | None:
    """Seconds from `since` (epoch) until the load balancer marked `name` healthy/unhealthy.

    With a `HealthHistory` the load balancer's own timestamp counts, so a change that is
    reversed between two polls is not missed, and the time is not rounded to a poll.
    """
    history = getattr(target, "health_events_since", None)

    def changed_at() -> float | None:
        if history is not None:
            for ts, event_name, event_healthy in history(since):
                if event_name == name and event_healthy == healthy:
                    return ts - since
            return None
        return time.time() - since if target.target_health().get(name, False) == healthy else None

    found: list[float] = []

    def changed() -> bool:
        seconds = changed_at()
        if seconds is not None:
            found.append(max(seconds, 0.0))
        return bool(found)

    wait_until(changed, timeout=timeout, interval=0.02)
    return found[0] if found else None


def raise_not_ready(target: DrillTarget) -> None:
    from threetier.errors import ThreetierError  # noqa: PLC0415 - the rare path

    raise ThreetierError(
        f"{target.label}: not every instance is healthy before the drill: {target.target_health()}",
        fix="run `threetier status` and wait until every instance is healthy",
    )
