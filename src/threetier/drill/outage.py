"""`drill outage`: stop every instance (seed 001: all servers down → the sorry page), then
bring them back and measure until the application serves again."""

from __future__ import annotations

import time

import requests

from threetier.drill.load import drill_session, wait_until
from threetier.drill.report import DrillResult
from threetier.drill.target import DrillTarget
from threetier.drill.web import health_window, raise_not_ready
from threetier.spec import Spec

SORRY_MARKER = "threetier-sorry-page"


def _page(target: DrillTarget) -> tuple[int | None, str, str]:
    try:
        with drill_session(target.verify) as session:
            response = session.get(f"{target.url}/users/", timeout=10)
        return response.status_code, response.text, response.headers.get("Cache-Control", "")
    except requests.RequestException:
        return None, "", ""


def serves_sorry_page(target: DrillTarget) -> bool:
    status, body, _ = _page(target)
    return status == 503 and SORRY_MARKER in body


def serves_app(target: DrillTarget) -> bool:
    status, body, _ = _page(target)
    return status == 200 and SORRY_MARKER not in body


def drill_outage(target: DrillTarget, spec: Spec) -> DrillResult:
    result = DrillResult(drill="outage", target=target.label)
    unhealthy_window, healthy_window = health_window(target)
    slack = spec.drill.slack_seconds
    if not wait_until(lambda: all(target.target_health().values()), timeout=max(30.0, 3 * healthy_window)):
        raise_not_ready(target)

    target.stop_instances()
    result.detect_seconds = wait_until(
        lambda: serves_sorry_page(target), timeout=max(30.0, 4 * unhealthy_window), interval=0.05
    )
    _, _, cache_control = _page(target)
    result.notes.append(f"sorry page Cache-Control: {cache_control or '(none)'}")

    started = time.monotonic()
    target.start_instances()
    # The instances need time to boot before any load balancer could see them; the
    # expectation is on what the load balancer adds after that, its healthy window.
    booted = wait_until(
        lambda: any(target.instances_answering().values()), timeout=target.boot_timeout_seconds, interval=0.05
    )
    back = wait_until(lambda: serves_app(target), timeout=max(60.0, 6 * healthy_window), interval=0.05)
    result.recover_seconds = None if back is None else time.monotonic() - started
    boot = booted or 0.0
    result.notes.append(f"instances booted in {boot:.2f} s; the load balancer took the rest")
    result.requests = 0
    result.expect("detect seconds", result.detect_seconds, unhealthy_window + slack)
    result.expect(
        "recover seconds after boot",
        None if result.recover_seconds is None else result.recover_seconds - boot,
        healthy_window + slack,
    )
    return result
