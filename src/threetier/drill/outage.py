"""`drill outage`: stop every instance (seed 001: all servers down → the sorry page), then
bring them back and measure until the application serves again.

Each look is a new connection, as a user reloading would make (a connection already open
keeps going where it went: the twin's failover stage, like DNS, only steers new ones).
With `lb_semantics = "alb"` (and on AWS) the user gets 5xx from the load balancer until
Route 53's failover and the record's TTL, then the sorry page (seed 001: "the error page
took minutes"); "ideal" shows the sorry page at the LB within its passive health check.
"""

from __future__ import annotations

import threading
import time

import requests

from threetier.apps.routes import DrillRoutes, drill_routes
from threetier.drill import scorecard
from threetier.drill.load import drill_session, wait_until
from threetier.drill.report import DrillResult
from threetier.drill.target import DrillTarget
from threetier.drill.web import health_window, raise_not_ready, sides
from threetier.spec import Spec

SORRY_MARKER = "threetier-sorry-page"


def _page(
    target: DrillTarget, routes: DrillRoutes, url: str | None = None, method: str = "GET"
) -> tuple[int | None, str, str]:
    """A look at the app's read page (the registry's list, or a user's app's session probe);
    any other method a write (its answer does not matter: only whether the app or an LB gave it)."""
    try:
        with drill_session(target.verify) as session:
            if method == "GET":
                response = session.get(f"{url or target.url}{routes.read}", timeout=10)
            else:
                path, body = routes.write("outagepost1", "drill outage")
                response = session.request(method, f"{url or target.url}{path}", json=body or {}, timeout=10)
        return response.status_code, response.text, response.headers.get("Cache-Control", "")
    except requests.RequestException:
        return None, "", ""


class CdnWatch(threading.Thread):
    """The CloudFront design in the same run (the twin's CloudFront stage, local.cdn_port):
    a reader reloading through it, and once every instance is down (`looks.since`, plus
    POST_AFTER seconds) and it shows the sorry page, one POST (a form). Not earlier: with one
    instance still up, a GET that met the other's 502 already gets the sorry page, and a POST
    would still reach the living one."""

    POST_AFTER = 1.0

    def __init__(self, target: DrillTarget, url: str, looks: Looks):
        super().__init__(name="drill-cdn", daemon=True)
        self.target, self.url, self.looks = target, url, looks
        self.routes = looks.routes
        self.seen: list[tuple[float, int | None, bool]] = []  # (monotonic, status, sorry page)
        self.post: tuple[int | None, bool] | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            status, body, _ = _page(self.target, self.routes, self.url)
            sorry = status == 503 and SORRY_MARKER in body
            self.seen.append((started, status, sorry))
            since = self.looks.since
            if sorry and since is not None and started >= since + self.POST_AFTER and self.post is None:
                status, body, _ = _page(self.target, self.routes, self.url, method="POST")
                self.post = (status, SORRY_MARKER in body)
            self.stopping.wait(0.05)

    def summary(self, since: float) -> tuple[float | None, int, str]:
        """(seconds from `since` to the first sorry page, 5xx before it, what was seen)."""
        after = [(at, status, sorry) for at, status, sorry in self.seen if at >= since]
        first = next((at for at, _, sorry in after if sorry), None)
        before = [status for at, status, sorry in after if first is None or at < first]
        counts: dict[str, int] = {}
        for at, status, sorry in after:
            if first is not None and at > first + 5:
                break
            key = "sorry page" if sorry else str(status or "no answer")
            counts[key] = counts.get(key, 0) + 1
        five_xx = sum(1 for status in before if status is None or status >= 500)
        text = ", ".join(f"{k} × {v}" for k, v in counts.items()) or "nothing"
        return (None if first is None else first - since), five_xx, text


class Looks:
    """What a user reloading sees: each status until a condition, counted from `since`
    (monotonic; looks before it are not counted)."""

    def __init__(self, target: DrillTarget, routes: DrillRoutes):
        self.target, self.routes = target, routes
        self.seen: dict[str, int] = {}
        self.since: float | None = None

    def until(self, wanted: str, *, timeout: float) -> float | None:
        """Seconds until the first look that saw `wanted` ("sorry" | "app"), None after `timeout`."""
        found: list[float] = []

        def look() -> bool:
            started = time.monotonic()
            status, body, _ = _page(self.target, self.routes)
            sorry = status == 503 and SORRY_MARKER in body
            hit = sorry if wanted == "sorry" else (status == 200 and not sorry)
            if self.since is not None and started >= self.since:
                key = "sorry page" if sorry else str(status or "no answer")
                self.seen[key] = self.seen.get(key, 0) + 1
                if hit:
                    found.append(started)
            return bool(found)

        wait_until(look, timeout=timeout, interval=0.05)
        return None if not found or self.since is None else found[0] - self.since

    def summary(self) -> str:
        return ", ".join(f"{key} × {count}" for key, count in self.seen.items()) or "nothing"


def stop_and_mark(target: DrillTarget, looks: Looks) -> threading.Thread:
    """Stop every instance in the background; `looks.since` becomes the moment the outage
    began: on the twin, when no instance answers any more (a graceful stop drains first,
    for up to gunicorn's graceful timeout); on AWS, the API call (the capacity set to 0)."""
    began = time.monotonic()
    if target.kind == "aws":
        looks.since = began
    stopping = threading.Thread(target=target.stop_instances, name="drill-stop", daemon=True)
    stopping.start()

    def mark() -> None:
        while looks.since is None:
            if not any(target.instances_answering().values()):
                looks.since = time.monotonic()
                return
            if not stopping.is_alive() and time.monotonic() - began > 120:
                looks.since = time.monotonic()  # never stopped answering: count from now
                return
            time.sleep(0.02)

    if looks.since is None:
        threading.Thread(target=mark, name="drill-dead", daemon=True).start()
    return stopping


def drill_outage(target: DrillTarget, spec: Spec) -> DrillResult:
    twin_settings, aws_settings, mine = sides(target, spec)
    on_aws = target.kind == "aws"
    result = DrillResult(drill="outage", target=target.label, lb_semantics=mine.lb_semantics)
    unhealthy_window, healthy_window = health_window(target)
    slack = spec.drill.slack_seconds
    sorry_model = scorecard.sorry_page_after(mine)
    back_model = scorecard.back_after_boot(mine)
    if not wait_until(lambda: all(target.target_health().values()), timeout=max(30.0, 3 * healthy_window)):
        raise_not_ready(target)

    cdn_url = getattr(target, "cdn_url", None) if mine.lb_semantics == "alb" else None
    routes = drill_routes(spec)
    before = Looks(target, routes)
    cdn = CdnWatch(target, cdn_url, before) if cdn_url else None
    if cdn is not None:
        cdn.start()
    stopped_at, stop_began = time.time(), time.monotonic()
    stopping = stop_and_mark(target, before)
    wait_for = max(30.0, 4 * unhealthy_window, 2 * (sorry_model.high or 0.0) + 10) + 30  # + the graceful stop
    result.detect_seconds = before.until("sorry", timeout=wait_for)
    stopping.join(timeout=120)
    if cdn is not None:
        cdn.stopping.set()
        cdn.join(timeout=15)
    if before.since is not None:
        result.notes.append(f"every instance stopped answering {before.since - stop_began:.2f} s after the stop "
                            "began (sorry page and 5xx counted from then)")
    result.requests = sum(before.seen.values())
    result.failed_requests = sum(count for key, count in before.seen.items() if key != "sorry page")
    _, _, cache_control = _page(target, routes)
    result.notes.append(f"until the sorry page: {before.summary()}")
    result.notes.append(f"sorry page Cache-Control: {cache_control or '(none)'}")
    result.notes += failover_notes(target, stopped_at)

    started = time.monotonic()
    target.start_instances()
    # The instances need time to boot before any load balancer could see them; the
    # expectation is on what the load balancer (and DNS) add after that.
    booted = wait_until(
        lambda: any(target.instances_answering().values()), timeout=target.boot_timeout_seconds, interval=0.05
    )
    after = Looks(target, routes)
    after.since = time.monotonic()
    back = after.until("app", timeout=max(60.0, 6 * healthy_window, 2 * (back_model.high or 0.0) + 10))
    result.recover_seconds = None if back is None else time.monotonic() - started
    boot = booted or 0.0
    result.notes.append(f"instances booted in {boot:.2f} s; then: {after.summary()}")
    back_after_boot = None if result.recover_seconds is None else result.recover_seconds - boot

    result.scorecard = [
        scorecard.row("5xx before the sorry page", "", result.failed_requests, on_aws=on_aws,
                      twin=five_xx(twin_settings), aws=five_xx(aws_settings)),
        scorecard.row("sorry page after seconds", " s", result.detect_seconds, on_aws=on_aws,
                      twin=scorecard.sorry_page_after(twin_settings), aws=scorecard.sorry_page_after(aws_settings)),
        scorecard.row("back after boot seconds", " s", back_after_boot, on_aws=on_aws,
                      twin=scorecard.back_after_boot(twin_settings), aws=scorecard.back_after_boot(aws_settings)),
    ]
    if cdn is not None and before.since is not None:
        cdn_after, cdn_5xx, cdn_seen = cdn.summary(before.since)
        post_status, post_sorry = cdn.post or (None, False)
        result.notes.append(f"CloudFront stage ({cdn_url}): {cdn_seen}; a POST during the outage got "
                            f"{post_status}{' (the sorry page)' if post_sorry else ''}")
        cdn_model = scorecard.cdn_sorry_page_after(twin_settings)
        result.scorecard += [
            scorecard.row("CloudFront: sorry page after seconds", " s", cdn_after, on_aws=on_aws,
                          twin=cdn_model, aws=scorecard.cdn_sorry_page_after(aws_settings)),
            scorecard.row("CloudFront: 5xx before the sorry page", "", cdn_5xx, on_aws=on_aws,
                          twin=scorecard.Estimate(0.0, 0.0, scorecard.CLOUDFRONT_FAILOVER),
                          aws=scorecard.Estimate(0.0, 0.0, scorecard.CLOUDFRONT_FAILOVER)),
            scorecard.row("CloudFront: a POST gets a 5xx (1 = yes)", "",
                          None if post_status is None else float(post_status >= 500 and not post_sorry),
                          on_aws=on_aws, twin=scorecard.cdn_post_during_outage(twin_settings),
                          aws=scorecard.cdn_post_during_outage(aws_settings)),
        ]
        result.expect("CloudFront sorry page seconds", cdn_after, (cdn_model.high or 0.0) + slack)
    if mine.lb_semantics == "ideal":
        result.expect("detect seconds", result.detect_seconds, unhealthy_window + slack)
        result.expect("recover seconds after boot", back_after_boot, healthy_window + slack)
    else:
        result.expect("sorry page seconds", result.detect_seconds, (sorry_model.high or 0.0) + slack)
        result.expect("recover seconds after boot", back_after_boot, (back_model.high or 0.0) + slack)
    return result


def five_xx(settings: scorecard.Settings) -> scorecard.Estimate:
    """Whether a user sees the LB's 5xx before the sorry page (a count depends on how often
    they reload; 'at least one' is the claim)."""
    if settings.lb_semantics == "ideal":
        return scorecard.Estimate(0.0, None, "the ideal twin: the LB serves the sorry page itself")
    return scorecard.Estimate(1.0, None, f"{scorecard.ALB_FAIL_OPEN}: 502/503 until Route 53 fails over")


def failover_notes(target: DrillTarget, since: float) -> list[str]:
    """The failover stage's own decisions, when the target has one (the twin)."""
    history = getattr(target, "failover_events_since", None)
    if history is None:
        return []
    notes = []
    for event in history(since):
        at = event["ts"] - since
        if event.get("event") == "record" and not event.get("failover", True):
            notes.append(f"failover stage: record {'healthy' if event['healthy'] else 'unhealthy'} at {at:.2f} s "
                         f"({event.get('reason')}); failover is off here, clients stay on the LB")
        elif event.get("event") == "record":
            notes.append(f"failover stage: record {'healthy' if event['healthy'] else 'unhealthy'} at {at:.2f} s "
                         f"({event.get('reason')}), clients switch at {event['effective_at'] - since:.2f} s")
        elif event.get("event") == "route":
            notes.append(f"failover stage: new connections → {event['route']} from {at:.2f} s")
    return notes
