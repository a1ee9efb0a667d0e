"""Request limits that keep one client (or everyone together) from burning the instances'
CPU: hashing a new password costs ~0.4 s of CPU (PBKDF2), so sign-ups are counted per
client address and over all clients; API writes per signed-in user. Staff are not
throttled. Counters live in the shared database cache, so every instance counts alike.

The same classes guard the HTML sign-up form (`signup_throttle_wait`), so the form is
no way around the API's limits.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle as DrfSimpleRateThrottle

from threetier.webapp.clients import client_ip


class SimpleRateThrottle(DrfSimpleRateThrottle):
    """DRF's, reading its rate when asked: DRF's copies the rates at import, so a changed
    setting (a test's, a reloaded configuration's) would go unseen."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


def _is_staff(request: HttpRequest | Request) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


class SignUpThrottle(SimpleRateThrottle):
    """Sign-ups from one client address (REST_FRAMEWORK rate "signup")."""

    scope = "signup"

    def get_cache_key(self, request: HttpRequest | Request, view: object) -> str | None:
        if _is_staff(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


class SignUpAllClientsThrottle(SimpleRateThrottle):
    """Sign-ups from every client together ("signup_all"): a bound on the CPU that
    anonymous visitors can spend, however many addresses they come from."""

    scope = "signup_all"

    def get_cache_key(self, request: HttpRequest | Request, view: object) -> str | None:
        if _is_staff(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": "all"}


class ApiWriteThrottle(SimpleRateThrottle):
    """Changes through the API by one signed-in user ("api_write"); reads are free."""

    scope = "api_write"

    def get_cache_key(self, request: HttpRequest | Request, view: object) -> str | None:
        if request.method in ("GET", "HEAD", "OPTIONS") or _is_staff(request):
            return None
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else client_ip(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


SIGNUP_THROTTLES = (SignUpThrottle, SignUpAllClientsThrottle)


def signup_throttle_wait(request: HttpRequest) -> float | None:
    """None when this sign-up may go ahead (and it is counted), else seconds to wait."""
    waits = []
    for throttle_class in SIGNUP_THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 1.0)
    return max(waits) if waits else None
