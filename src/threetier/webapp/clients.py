"""Who the client is: its address as the proxies in front of the app saw it.

Each proxy appends the address it received the request from to X-Forwarded-For, so with
THREETIER_PROXY_COUNT proxies (the twin's Caddy or an ALB: 1; ALB → nginx: 2) the
client is the PROXY_COUNT-th entry from the end. Entries further left were written by
the client itself and are not trusted. DRF's throttles (NUM_PROXIES) and django-axes
(AXES_CLIENT_IP_CALLABLE) both use this rule, so a client has one identity everywhere.

>>> client_ip(request)  # X-Forwarded-For: "6.6.6.6, 203.0.113.7", PROXY_COUNT=1
'203.0.113.7'
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address (REMOTE_ADDR when no proxy is configured or none wrote one)."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = settings.THREETIER_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies == 0 or not forwarded:
        return remote
    entries = [entry.strip() for entry in forwarded.split(",")]
    return entries[-min(proxies, len(entries))] or remote
