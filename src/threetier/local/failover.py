"""The twin's Route 53 failover stage: the public URL (local.https_port), in front of the
load balancer, run by supervisord as `python -m threetier.local.failover <state>/dns.json`.

What Route 53 does for the deployed system (aws/constructs/dns.py) and how this does it:
  AWS::Route53::HealthCheck      checkers (8, as Route 53's default regions), each an HTTPS GET
                                 of the LB's health path every request interval, staggered
                                 (no certificate check, as Route 53's); 2xx/3xx within the
                                 time limits (connect 4 s, answer 2 s, both at most one
                                 interval) passes; `failure_threshold` results in a row
                                 change a checker's verdict, both ways; the endpoint is
                                 healthy while > 18 % of the checkers say so. (One checker
                                 would fail over on a single dead target: through the LB it
                                 sees that target's 502 twice in a row one time in four.)
  EvaluateTargetHealth           the PRIMARY record is also unhealthy while the LB reports no
                                 healthy target (its own health events, as the ALB tells
                                 Route 53).
  failover PRIMARY / SECONDARY   each NEW client connection is spliced (TCP, TLS untouched) to
                                 the LB or to the sorry site; a connection already open keeps
                                 its backend, as a client keeps its connection to the address
                                 it resolved. The splice to the LB leaves from the client's own
                                 loopback address, so the LB (and the app's throttles) see the
                                 client, as behind real DNS.
  resolver caching (the TTL)     a change of the record reaches clients `ttl_seconds` after
                                 Route 53 decided it (the alias records' 60 s by default):
                                 the worst case of every resolver that cached the old answer.

Every decision and every switch is a JSON line in the events log; the current state is
in the state file (`status` shows it). The pure part (`FailoverRecord`) decides, so the
timing is unit-tested without sockets or sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from threetier.local.caddy import TargetHealthReader, sorry_socket
from threetier.local.layout import Layout
from threetier.local.services import Probe, Service

PROGRAM = "dns"
LB, SORRY = "lb", "sorry"
# Route 53: "the endpoint must establish a TCP connection within four seconds, and
# respond with an HTTP status code of 2xx or 3xx within two seconds after connecting".
ROUTE53_CONNECT_SECONDS = 4.0
ROUTE53_RESPONSE_SECONDS = 2.0
CHUNK = 64 * 1024
CHECKERS = 8  # Route 53's default health-checker regions
HEALTHY_FRACTION = 0.18  # "healthy when more than 18 % of the health checkers report it healthy"


@dataclass(frozen=True)
class FailoverConfig:
    listen_port: int  # local.https_port: the public URL
    lb_port: int  # local.lb_port: the load balancer (the PRIMARY's target)
    sorry_socket: str  # the sorry site (the SECONDARY's target)
    path: str  # the health check's resource path
    request_interval_seconds: float
    failure_threshold: int
    ttl_seconds: float
    enabled: bool  # dns.failover: without it every connection goes to the LB
    health_log: str  # the LB's health events (evaluate target health)
    upstream_ports: list[int]
    events_log: str
    state_file: str
    max_connections: int = 512
    idle_timeout_seconds: float = 120.0

    @property
    def connect_timeout(self) -> float:
        return min(ROUTE53_CONNECT_SECONDS, self.request_interval_seconds)

    @property
    def response_timeout(self) -> float:
        return min(ROUTE53_RESPONSE_SECONDS, self.request_interval_seconds)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> FailoverConfig:
        return cls(**json.loads(text))


def failover_config(
    layout: Layout, *, listen_port: int, lb_port: int, check: dict, upstream_ports: list[int]
) -> FailoverConfig:
    """`check`: spec.twin_failover_check() (path, interval, threshold, TTL, enabled)."""
    return FailoverConfig(
        listen_port=listen_port, lb_port=lb_port, sorry_socket=str(sorry_socket(layout)), path=str(check["path"]),
        request_interval_seconds=float(check["request_interval_seconds"]),
        failure_threshold=int(check["failure_threshold"]), ttl_seconds=float(check["ttl_seconds"]),
        enabled=bool(check["enabled"]), health_log=str(layout.lb_health_log), upstream_ports=list(upstream_ports),
        events_log=str(events_log(layout)), state_file=str(state_file(layout)),
    )


@dataclass
class FailoverRecord:
    """Route 53's verdict on the PRIMARY record, and what resolvers answer when.

    >>> record = FailoverRecord(failure_threshold=2, ttl_seconds=60)            # one checker
    >>> record.observe_check(False, now=0); record.observe_check(False, now=10)   # unhealthy at 10
    >>> record.route(69.9), record.route(70)
    ('lb', 'sorry')
    """

    failure_threshold: int
    ttl_seconds: float
    checkers: int = 1
    check_healthy: bool = True
    targets_healthy: bool = True
    # per checker: its verdict, and its results in a row that contradict it
    verdicts: list[bool] = field(default_factory=list)
    streaks: list[int] = field(default_factory=list)
    # (from when, route): what a client resolving at that time gets; newest last
    answers: list[tuple[float, str]] = field(default_factory=lambda: [(-math.inf, LB)])

    def __post_init__(self) -> None:
        self.verdicts = [True] * self.checkers
        self.streaks = [0] * self.checkers

    @property
    def healthy(self) -> bool:
        return self.check_healthy and self.targets_healthy

    def observe_check(self, ok: bool, *, now: float, checker: int = 0) -> dict | None:
        """One checker's result; returns the decision when the record's health changed."""
        if ok == self.verdicts[checker]:
            self.streaks[checker] = 0
            return None
        self.streaks[checker] += 1
        if self.streaks[checker] < self.failure_threshold:
            return None
        self.verdicts[checker], self.streaks[checker] = ok, 0
        healthy = sum(self.verdicts) / self.checkers > HEALTHY_FRACTION
        if healthy == self.check_healthy:
            return None
        before = self.healthy
        self.check_healthy = healthy
        reason = (f"{sum(self.verdicts)} of {self.checkers} checkers healthy after "
                  f"{self.failure_threshold} checks in a row {'passed' if ok else 'failed'}")
        return self._decided(before, now, reason)

    def observe_targets(self, any_healthy: bool, *, now: float) -> dict | None:
        """The LB's own view (evaluate target health): False when no target is healthy."""
        if any_healthy == self.targets_healthy:
            return None
        before = self.healthy
        self.targets_healthy = any_healthy
        reason = "the load balancer has a healthy target again" if any_healthy else "no healthy target at the LB"
        return self._decided(before, now, f"{reason} (evaluate target health)")

    def _decided(self, before: bool, now: float, reason: str) -> dict | None:
        if self.healthy == before:
            return None
        route = LB if self.healthy else SORRY
        effective = now + self.ttl_seconds
        self.answers.append((effective, route))
        del self.answers[:-16]
        return {"event": "record", "ts": now, "healthy": self.healthy, "reason": reason,
                "route": route, "effective_at": effective}

    def route(self, now: float) -> str:
        """Where a new connection made at `now` goes: the newest answer already in effect."""
        return next(route for since, route in reversed(self.answers) if since <= now)


def client_address(writer: asyncio.StreamWriter) -> tuple[str, int] | None:
    """(the client's address, any port) when it is a loopback address, else None."""
    peer = writer.get_extra_info("peername")
    host = peer[0] if isinstance(peer, tuple) and peer else ""
    return (host, 0) if isinstance(host, str) and host.startswith("127.") else None


def any_target_healthy(states: dict[int, bool | None]) -> bool:
    """False only when the LB has a verdict on every target and each is unhealthy."""
    return not states or any(state is not False for state in states.values())


def checker_tls() -> ssl.SSLContext:
    """TLS as Route 53's checkers do it: no certificate validation. Made once: loading a
    default context's CA store takes milliseconds the event loop cannot spare per check."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def check_lb(config: FailoverConfig, context: ssl.SSLContext) -> bool:
    """One Route 53-style HTTPS check of the LB: 2xx or 3xx within the time limits."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", config.lb_port, ssl=context), config.connect_timeout
        )
        writer.write(
            f"GET {config.path} HTTP/1.1\r\nHost: 127.0.0.1:{config.lb_port}\r\n"
            "User-Agent: Amazon-Route53-Health-Check-Service (threetier twin)\r\nConnection: close\r\n\r\n".encode()
        )
        line = await asyncio.wait_for(reader.readline(), config.response_timeout)
        parts = line.split()
        return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
    except (OSError, asyncio.TimeoutError, ssl.SSLError, ValueError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1)


class FailoverStage:
    """The running stage: a checker loop and a TCP splice per new client connection."""

    def __init__(self, config: FailoverConfig, *, clock: Callable[[], float] = time.time):
        self.config = config
        self.clock = clock
        self.record = FailoverRecord(config.failure_threshold, config.ttl_seconds, checkers=CHECKERS)
        self.targets = TargetHealthReader(Path(config.health_log), list(config.upstream_ports))
        self.tls = checker_tls()
        self.connections = 0
        self.routed = {LB: 0, SORRY: 0}
        self.current = LB
        self.stopping = asyncio.Event()

    def route_now(self) -> str:
        return self.record.route(self.clock()) if self.config.enabled else LB

    def log(self, entry: dict) -> None:
        with open(self.config.events_log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def write_state(self) -> None:
        state = {
            "record_healthy": self.record.healthy, "check_healthy": self.record.check_healthy,
            "targets_healthy": self.record.targets_healthy, "route": self.current, "enabled": self.config.enabled,
            "pending": [{"from": since, "route": route} for since, route in self.record.answers
                        if since > self.clock()],
            "ttl_seconds": self.config.ttl_seconds, "request_interval_seconds": self.config.request_interval_seconds,
            "failure_threshold": self.config.failure_threshold, "updated": self.clock(),
        }
        path = Path(self.config.state_file)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(state))
        os.replace(partial, path)

    def tick(self, ok: bool, checker: int = 0) -> None:
        """One check: its result and the LB's target health, then the route in effect."""
        now = self.clock()
        decisions = [
            self.record.observe_check(ok, now=now, checker=checker),
            self.record.observe_targets(any_target_healthy(self.targets.read()), now=now),
        ]
        for decision in decisions:
            if decision:
                self.log({**decision, "failover": self.config.enabled})
        self.follow_route()
        if any(decisions):
            self.write_state()

    def follow_route(self) -> None:
        route = self.route_now()
        if route != self.current:
            self.current = route
            self.log({"event": "route", "ts": self.clock(), "route": route})
            self.write_state()

    async def check(self, checker: int) -> None:
        self.tick(await check_lb(self.config, self.tls), checker)

    async def checkers(self) -> None:
        """Each checker every request interval, the checkers spread evenly over it."""
        slot = self.config.request_interval_seconds / CHECKERS
        next_at, checker, running = time.monotonic(), 0, set()
        while not self.stopping.is_set():
            task = asyncio.ensure_future(self.check(checker))
            running.add(task)
            task.add_done_callback(running.discard)
            checker = (checker + 1) % CHECKERS
            next_at += slot
            # The route may change between checks (the TTL runs out): look every 50 ms.
            while (wait := next_at - time.monotonic()) > 0 and not self.stopping.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), min(wait, 0.05))
                self.follow_route()
            next_at = max(next_at, time.monotonic())
        for task in list(running):
            task.cancel()

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.connections >= self.config.max_connections:
            client_writer.close()
            return
        self.connections += 1
        route = self.route_now()
        self.routed[route] += 1
        upstream_writer = None
        try:
            if route == LB:
                # From the client's own loopback address (any 127.0.0.0/8 address is this
                # host's): DNS is not a proxy, so the LB sees the client, not this stage.
                opening = asyncio.open_connection(
                    "127.0.0.1", self.config.lb_port, local_addr=client_address(client_writer)
                )
            else:
                opening = asyncio.open_unix_connection(self.config.sorry_socket)
            upstream_reader, upstream_writer = await asyncio.wait_for(opening, ROUTE53_CONNECT_SECONDS)
            await asyncio.gather(
                self.pipe(client_reader, upstream_writer), self.pipe(upstream_reader, client_writer)
            )
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            self.connections -= 1
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()

    async def pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await asyncio.wait_for(reader.read(CHUNK), self.config.idle_timeout_seconds):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, asyncio.TimeoutError):
            writer.close()

    async def serve(self) -> None:
        server = await asyncio.start_server(self.handle, "127.0.0.1", self.config.listen_port, backlog=256)
        self.write_state()
        mode = "fails over to the sorry site" if self.config.enabled else "never fails over (dns.failover = false)"
        print(
            f"{time.strftime('%Y-%m-%d %H:%M:%S')} 127.0.0.1:{self.config.listen_port} → LB 127.0.0.1:"
            f"{self.config.lb_port}; checks {self.config.path} every {self.config.request_interval_seconds:g} s, "
            f"threshold {self.config.failure_threshold}, {CHECKERS} checkers, "
            f"TTL {self.config.ttl_seconds:g} s; {mode}",
            flush=True,
        )
        checker = asyncio.ensure_future(self.checkers())
        async with server:
            await self.stopping.wait()
        checker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checker


def config_path(layout: Layout) -> Path:
    return layout.root / "dns.json"


def events_log(layout: Layout) -> Path:
    return layout.logs / "dns-events.log"


def state_file(layout: Layout) -> Path:
    return layout.run / "dns-state.json"


def read_state(layout: Layout) -> dict | None:
    """The stage's current state (None before it first ran, or unreadable)."""
    try:
        return json.loads(state_file(layout).read_text())
    except (OSError, ValueError):
        return None


def read_events(layout: Layout, since: float = 0.0) -> list[dict]:
    """The stage's decisions and switches (epoch `ts`) after `since`."""
    try:
        lines = events_log(layout).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("ts", 0) >= since:
                events.append(entry)
    return events


def failover_service(layout: Layout, *, port: int) -> Service:
    """The supervisord program; `up` writes its config and starts it after the LB."""
    return Service(
        name=PROGRAM,
        kind="failover",
        command=[sys.executable, "-m", "threetier.local.failover", str(config_path(layout))],
        env={"PYTHONUNBUFFERED": "1"},
        port=port,
        port_key="local.https_port",
        probe=Probe("https", port, "/"),
        directory=str(layout.root),
        autorestart=True,
        stop_signal="TERM",
        stop_wait_seconds=5,
        start_seconds=1,
        priority=40,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m threetier.local.failover <state>/dns.json", file=sys.stderr)
        return 2
    stage = FailoverStage(FailoverConfig.from_json(Path(argv[0]).read_text()))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stage.stopping.set)
        await stage.serve()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
