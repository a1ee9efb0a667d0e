"""Request limits that keep one client (or everyone together) from burning the instances'
CPU: hashing a new password costs ~0.4 s of CPU (PBKDF2), so sign-ups are counted per
client address and over all clients; API writes per signed-in user. Staff are not
throttled.

Each limit is a fixed window ("10/minute": at most 10 in each calendar minute) counted
in the database every instance shares, with one atomic upsert per request: DRF's own
throttles read, then write, a list in the cache, so sixteen concurrent sign-ups all
read "nine so far" and all go ahead (measured: 21 of 16 × 30 got through a 10/minute
limit). The same classes guard the HTML sign-up form (`signup_throttle_wait`).
"""

from __future__ import annotations

import random
import time

from django.db import connection
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from threetier.webapp.clients import client_ip

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
COUNT = (
    "INSERT INTO threetier_throttle (key, window_start, hits) VALUES (%s, %s, 1) "
    "ON CONFLICT (key, window_start) DO UPDATE SET hits = threetier_throttle.hits + 1 RETURNING hits"
)
FORGET = "DELETE FROM threetier_throttle WHERE window_start < %s"
FORGET_CHANCE = 0.01  # one request in a hundred deletes windows older than a day


def parse_rate(rate: str) -> tuple[int, int]:
    """"10/minute" → (10, 60)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period]


def _is_staff(request: HttpRequest | Request) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


class WindowThrottle(BaseThrottle):
    """A fixed-window limit from REST_FRAMEWORK's DEFAULT_THROTTLE_RATES[scope], read when
    asked (a changed setting counts at once); `key` says whom a request counts against."""

    scope = ""
    clock = staticmethod(time.time)  # tests pin it, so a window never ends mid-test

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def key(self, request: HttpRequest | Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: HttpRequest | Request, view: object) -> bool:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        who = self.key(request)
        if rate is None or who is None:
            return True
        limit, seconds = parse_rate(rate)
        now = self.clock()
        window = int(now // seconds * seconds)
        with connection.cursor() as cursor:
            cursor.execute(COUNT, [f"{self.scope}:{who}", window])
            hits = cursor.fetchone()[0]
            if random.random() < FORGET_CHANCE:  # noqa: S311 - housekeeping, not security
                cursor.execute(FORGET, [int(now) - 86400])
        self.wait_seconds = window + seconds - now
        return hits <= limit

    def wait(self) -> float | None:
        return self.wait_seconds


class SignUpThrottle(WindowThrottle):
    """Sign-ups from one client address (rate "signup")."""

    scope = "signup"

    def key(self, request: HttpRequest | Request) -> str | None:
        return None if _is_staff(request) else client_ip(request)


class SignUpAllClientsThrottle(WindowThrottle):
    """Sign-ups from every client together ("signup_all"): a bound on the CPU that
    anonymous visitors can spend, however many addresses they come from."""

    scope = "signup_all"

    def key(self, request: HttpRequest | Request) -> str | None:
        return None if _is_staff(request) else "all"


class ApiWriteThrottle(WindowThrottle):
    """Changes through the API by one signed-in user ("api_write"); reads are free."""

    scope = "api_write"

    def key(self, request: HttpRequest | Request) -> str | None:
        if request.method in ("GET", "HEAD", "OPTIONS") or _is_staff(request):
            return None
        user = getattr(request, "user", None)
        return f"user-{user.pk}" if user is not None and user.is_authenticated else client_ip(request)


SIGNUP_THROTTLES = (SignUpThrottle, SignUpAllClientsThrottle)


def signup_throttle_wait(request: HttpRequest) -> float | None:
    """None when this sign-up may go ahead (and it is counted), else seconds to wait."""
    waits = []
    for throttle_class in SIGNUP_THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 1.0)
    return max(waits) if waits else None
