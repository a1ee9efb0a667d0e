"""`drill web`: kill -9 one instance under steady load (seed 001/003: stop httpd on one
server; the other keeps serving; the Auto Scaling group replaces the dead one)."""

from __future__ import annotations

import time

from threetier.drill.load import LoadLoop, failures, wait_until
from threetier.drill.report import DrillResult
from threetier.drill.target import DrillTarget
from threetier.spec import Spec


def health_window(target: DrillTarget) -> tuple[float, float]:
    """Seconds for the target's load balancer to mark an instance unhealthy, and healthy again."""
    hc = target.health_check()
    interval = float(hc["interval_seconds"])
    return interval * hc["unhealthy_threshold"], interval * hc["healthy_threshold"]


def drill_web(target: DrillTarget, spec: Spec, *, max_seconds: float = 120) -> DrillResult:
    result = DrillResult(drill="web", target=target.label)
    unhealthy_window, healthy_window = health_window(target)
    slack = spec.drill.slack_seconds
    victim = target.instance_names()[0]
    if not wait_until(lambda: all(target.target_health().values()), timeout=max(30.0, 3 * healthy_window)):
        raise_not_ready(target)

    loop = LoadLoop(
        lambda s: s.get(f"{target.url}/users/", timeout=10), max_requests=100_000,
        max_seconds=max_seconds, verify=target.verify,
    ).start()
    time.sleep(min(1.0, max_seconds / 10))  # a steady baseline before the failure
    killed_at = time.time()
    target.kill_instance(victim)
    result.detect_seconds = wait_for_health(
        target, victim, healthy=False, since=killed_at, timeout=max(20.0, 4 * unhealthy_window)
    )
    if result.detect_seconds is not None:
        result.recover_seconds = wait_for_health(
            target, victim, healthy=True, since=killed_at + result.detect_seconds,
            timeout=max(60.0, 6 * healthy_window),
        )
        if result.recover_seconds is not None:
            result.recover_seconds += result.detect_seconds
    time.sleep(min(1.0, max_seconds / 10))  # and traffic after the replacement joined
    outcomes = loop.stop()

    result.requests = len(outcomes)
    result.failed_requests = len(failures(outcomes))
    served_by = sorted({o.instance for o in outcomes if o.instance})
    result.notes.append(f"killed {victim}; instances seen in responses: {', '.join(served_by)}")
    result.expect("failed requests", result.failed_requests, spec.drill.web_max_failed_requests)
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
