"""Steady, bounded load for drills: one client sends requests back to back and records
every outcome, so a drill can count failures and find when service stopped and resumed.

This is a recorder, not a benchmark (`threetier bench` uses Locust for that): a drill
needs the exact outcome and time of every request, in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

INSTANCE_HEADER = "X-Threetier-Instance"


@dataclass(frozen=True)
class Outcome:
    started: float
    finished: float
    ok: bool
    status: int | None
    instance: str | None
    detail: str = ""


class LoadLoop:
    """Send `send(session)` calls back to back on a thread until stopped or a bound is hit.

    >>> loop = LoadLoop(lambda s: s.get(url, timeout=5), max_requests=500, max_seconds=30)
    >>> loop.start(); ...; loop.stop()
    >>> sum(not o.ok for o in loop.outcomes)
    """

    def __init__(
        self,
        send: Callable[[requests.Session], requests.Response],
        *,
        ok: Callable[[requests.Response], bool] = lambda r: r.status_code < 400,
        max_requests: int = 2000,
        max_seconds: float = 60.0,
        pause_seconds: float = 0.01,
        verify: str | bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._send, self._ok = send, ok
        self.max_requests, self.max_seconds, self.pause_seconds = max_requests, max_seconds, pause_seconds
        self._verify, self._clock = verify, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-load", daemon=True)
        self.outcomes: list[Outcome] = []

    def start(self) -> LoadLoop:
        self._thread.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        self._thread.join(timeout=self.max_seconds + 30)
        return self.outcomes

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        deadline = self._clock() + self.max_seconds
        with drill_session(self._verify) as session:
            while not self._stop.is_set() and len(self.outcomes) < self.max_requests and self._clock() < deadline:
                started = self._clock()
                try:
                    response = self._send(session)
                    outcome = Outcome(
                        started, self._clock(), self._ok(response), response.status_code,
                        response.headers.get(INSTANCE_HEADER),
                    )
                except requests.RequestException as exc:
                    outcome = Outcome(started, self._clock(), False, None, None, type(exc).__name__)
                self.outcomes.append(outcome)
                self._stop.wait(self.pause_seconds)


def drill_session(verify: str | bool) -> requests.Session:
    """A session that verifies with `verify` and nothing else.

    requests lets REQUESTS_CA_BUNDLE override a session's own `verify` and routes through
    any *_PROXY variable; a drill talks to one known endpoint, so the environment is ignored.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    return session


def failures(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if not o.ok]


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """Poll `condition` until true; return the seconds it took, or None after `timeout`."""
    start = clock()
    while True:
        if condition():
            return clock() - start
        if clock() - start >= timeout:
            return None
        sleep(interval)
