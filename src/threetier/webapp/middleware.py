"""Middleware that must see every request: instance headers, the CSP, health checks."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from threetier.webapp.health import HEALTH_VIEWS
from threetier.webapp.instance import current_instance

INSTANCE_HEADER = "X-Threetier-Instance"
AZ_HEADER = "X-Threetier-AZ"


class InstanceHeadersMiddleware:
    """Adds X-Threetier-Instance and X-Threetier-AZ to every response, errors included,
    so drills and benchmarks can count how the load balancer spreads requests."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        instance = current_instance()
        response[INSTANCE_HEADER] = instance.name
        response[AZ_HEADER] = instance.az
        return response


class ContentSecurityPolicyMiddleware:
    """Sets settings.THREETIER_CSP on every response that has none of its own: only this
    origin's scripts and styles (no inline ones), no plugins, no framing."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.THREETIER_CSP)
        return response


class HealthCheckMiddleware:
    """Answers /healthz and /readyz before host validation, redirects and sessions.

    Load balancers send health checks with the instance's own IP and port as Host,
    which ALLOWED_HOSTS need not (and on AWS cannot in advance) list; answering here
    means those checks never hit DisallowedHost, a redirect or a login page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = HEALTH_VIEWS.get(request.path_info)
        if view is None:
            return self.get_response(request)
        response = view(request)
        add_never_cache_headers(response)
        return response
