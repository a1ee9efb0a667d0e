"""Refuse malformed requests before any view, parser or database sees them.

- `MalformedPathMiddleware`: a NUL byte or another control character in the path is a
  404 (PostgreSQL cannot even compare such a string: it used to be a 500).
- `BodySizeLimitMiddleware`: a body larger than the cap is a 413 decided from
  Content-Length alone, before one byte of it is read: limits.MULTIPART_BODY_MAX for
  multipart (an attachment and the form), limits.BODY_MAX for anything else (JSON).
  The load balancer and nginx cap at MULTIPART_BODY_MAX too; this is the last hop.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from threetier.webapp.errors import error_response

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class MalformedPathMiddleware:
    """404 for a path with a NUL byte or another control character (decoded from %00 etc.)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if CONTROL_CHARACTERS.search(request.path_info):
            raise Http404("malformed path")
        return self.get_response(request)


def body_limit(content_type: str) -> int:
    """The largest body accepted for this Content-Type."""
    if content_type.lower().startswith("multipart/"):
        return settings.THREETIER_MULTIPART_BODY_MAX
    return settings.THREETIER_BODY_MAX


class BodySizeLimitMiddleware:
    """413 when Content-Length is over the cap for its Content-Type; 400 when it is not a number."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit():
            return error_response(request, 400, _("The Content-Length header is not a number."))
        limit = body_limit(request.META.get("CONTENT_TYPE", ""))
        if int(declared) > limit:
            return error_response(
                request, 413,
                _("The request body is larger than the %(size)s limit.") % {"size": human_size(limit)},
            )
        return self.get_response(request)


def human_size(size: int) -> str:
    """1 MiB and up as MiB, the rest as KiB: 11534336 → '11 MiB'."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MiB"
    return f"{size / 1024:g} KiB"
