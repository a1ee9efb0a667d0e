"""`drill web`: kill -9 one instance under steady load (seed 001/003: stop httpd on one
server; the other keeps serving; the Auto Scaling group replaces the dead one)."""

from __future__ import annotations

import time

from threetier.drill.load import LoadLoop, failures, wait_until
from threetier.drill.report import DrillResult
from threetier.drill.target import DrillTarget
from threetier.spec import Spec


def health_window(spec: Spec, *, twin: bool) -> tuple[float, float]:
    """Seconds for the load balancer to mark an instance unhealthy, and healthy again."""
    hc = spec.twin_health_check() if twin else spec.load_balancer.health_check.model_dump()
    interval = float(hc["interval_seconds"])
    return interval * hc["unhealthy_threshold"], interval * hc["healthy_threshold"]


def drill_web(target: DrillTarget, spec: Spec, *, twin: bool = True, max_seconds: float = 120) -> DrillResult:
    result = DrillResult(drill="web", target=target.label)
    unhealthy_window, healthy_window = health_window(spec, twin=twin)
    slack = spec.drill.slack_seconds
    victim = target.instance_names()[0]
    if not wait_until(lambda: all(target.target_health().values()), timeout=max(30.0, 3 * healthy_window)):
        raise_not_ready(target)

    loop = LoadLoop(
        lambda s: s.get(f"{target.url}/users/", timeout=10), max_requests=100_000,
        max_seconds=max_seconds, verify=target.verify,
    ).start()
    time.sleep(min(1.0, max_seconds / 10))  # a steady baseline before the failure
    killed_at = time.monotonic()
    target.kill_instance(victim)
    result.detect_seconds = wait_until(
        lambda: not target.target_health().get(victim, False), timeout=max(20.0, 4 * unhealthy_window),
        interval=0.02,
    )
    result.recover_seconds = wait_until(
        lambda: target.target_health().get(victim, False), timeout=max(60.0, 6 * healthy_window), interval=0.05
    )
    if result.recover_seconds is not None and result.detect_seconds is not None:
        result.recover_seconds = time.monotonic() - killed_at
    time.sleep(min(1.0, max_seconds / 10))  # and traffic after the replacement joined
    outcomes = loop.stop()

    result.requests = len(outcomes)
    result.failed_requests = len(failures(outcomes))
    served_by = sorted({o.instance for o in outcomes if o.instance})
    result.notes.append(f"killed {victim}; instances seen in responses: {', '.join(served_by)}")
    result.expect("failed requests", result.failed_requests, spec.drill.web_max_failed_requests)
    result.expect("detect seconds", result.detect_seconds, unhealthy_window + slack)
    return result


def raise_not_ready(target: DrillTarget) -> None:
    from threetier.errors import ThreetierError

    raise ThreetierError(
        f"{target.label}: not every instance is healthy before the drill: {target.target_health()}",
        fix="run `threetier status` and wait until every instance is healthy",
    )
