"""The webapp's one domain error and its mapping to HTTP, in one place.

Services raise `ServiceError`; views never build error responses themselves:
- HTML form views put `field_errors` next to the form's fields (`add_to_form`),
- anything else reaching the middleware becomes an error page with `status`,
- the JSON API's exception handler turns it into {"detail", "errors"} with `status`.

The database unreachable (a failover, an outage) is a 503 with Retry-After, JSON under
/api/ and the friendly page elsewhere, logged as one line: never a 500 with a traceback.
A paused sign-in (django-axes) is a 429 the same way.

>>> raise ServiceError("invalid user", field_errors={"user_id": ["Already taken."]})
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django import db, forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import get_language_from_request, override
from django.utils.translation import gettext as _
from rest_framework.response import Response
from rest_framework.views import exception_handler

from threetier.errors import ThreetierError
from threetier.webapp.instance import current_instance

log = logging.getLogger(__name__)

# The form's non-field slot, as Django calls it.
NON_FIELD = "__all__"
API_PREFIX = "/api/"
# How long a client should wait before retrying while the database fails over
# (the twin's RTO is a few seconds; RDS Multi-AZ takes 60-120 s).
DATABASE_RETRY_AFTER_SECONDS = 5
# SQLSTATE 25006: a write reached a server that became a read-only standby.
READ_ONLY_TRANSACTION = "25006"


class ServiceError(ThreetierError):
    """A request the app refuses, with messages per field and the HTTP status it maps to."""

    def __init__(
        self, message: str, *, field_errors: dict[str, list[str]] | None = None, status: int = 400
    ):
        super().__init__(message)
        self.field_errors = field_errors or {}
        self.status = status

    @classmethod
    def from_validation_error(
        cls, error: ValidationError, message: str = "The data is not valid."
    ) -> ServiceError:
        """A Django ValidationError (from full_clean or a validator) as a ServiceError."""
        if hasattr(error, "error_dict"):
            fields = {
                name: [m for e in errors for m in e.messages]
                for name, errors in error.error_dict.items()
            }
        else:
            fields = {NON_FIELD: list(error.messages)}
        return cls(message, field_errors=fields)

    @classmethod
    def not_found(cls, what: str) -> ServiceError:
        return cls(_("%(what)s was not found.") % {"what": what}, status=404)

    @classmethod
    def forbidden(cls, message: str) -> ServiceError:
        return cls(message, status=403)


def add_to_form(form: forms.Form, error: ServiceError) -> None:
    """Show the service's messages next to the matching form fields (or above the form)."""
    for name, messages in (error.field_errors or {NON_FIELD: [error.message]}).items():
        field = name if name in form.fields else None
        for message in messages:
            form.add_error(field, message)


class ServiceErrorMiddleware:
    """A ServiceError no view handled becomes an error page with its status (404, 400…)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_database_unavailable(exception):
            return database_unavailable(request, exception)
        if not isinstance(exception, ServiceError):
            return None
        return render(request, "error.html", {"error": exception}, status=exception.status)


def is_database_unavailable(exception: BaseException | None) -> bool:
    """A connection-level database error (refused, reset, timed out, read-only after a failover)."""
    if isinstance(exception, (db.OperationalError, db.InterfaceError)):
        return True
    cause = getattr(exception, "__cause__", None)
    return isinstance(exception, db.InternalError) and getattr(cause, "sqlstate", None) == READ_ONLY_TRANSACTION


def wants_json(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def error_response(
    request: HttpRequest, status: int, message: str, *, retry_after: int | None = None
) -> HttpResponse:
    """{"detail": message} under /api/, else a standalone page (no static files, no
    database, no session: it must render whatever failed), in the visitor's language."""
    if wants_json(request):
        response: HttpResponse = JsonResponse({"detail": message}, status=status)
    else:
        language = get_language_from_request(request)
        with override(language):
            html = render_to_string("status.html", {
                "status": status, "message": message, "served_by": current_instance(), "LANGUAGE_CODE": language,
            })
        response = HttpResponse(html, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response


def log_database_unavailable(request: HttpRequest, exception: BaseException) -> None:
    """One warning line (the error's first line: no traceback, no connection string)."""
    first_line = (str(exception).strip().splitlines() or [""])[0]
    log.warning(
        "%s %s: database unavailable (%s: %s)", request.method, request.path, type(exception).__name__, first_line
    )


def database_unavailable(request: HttpRequest, exception: BaseException) -> HttpResponse:
    log_database_unavailable(request, exception)
    with override(get_language_from_request(request)):
        message = _("The database is not available right now. Please try again in a few seconds.")
    return error_response(request, 503, message, retry_after=DATABASE_RETRY_AFTER_SECONDS)


def api_exception_handler(exception: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus ServiceError → {"detail": message, "errors": {field: [...]}}
    and the database unavailable → 503 with Retry-After."""
    if isinstance(exception, ServiceError):
        body: dict[str, Any] = {"detail": exception.message}
        if exception.field_errors:
            body["errors"] = exception.field_errors
        return Response(body, status=exception.status)
    if is_database_unavailable(exception):
        log_database_unavailable(context["request"], exception)
        return Response(
            {"detail": _("The database is not available right now. Please try again in a few seconds.")},
            status=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    return exception_handler(exception, context)


def signin_paused(request: HttpRequest, response: HttpResponse | None, credentials: dict | None) -> HttpResponse:
    """django-axes' lockout response: 429 with Retry-After, JSON under /api/."""
    from django.conf import settings  # noqa: PLC0415 - read at call time (tests override it)

    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    message = _(
        "Too many failed sign-ins for this account or from your address. Try again in %(minutes)d minutes."
    ) % {"minutes": max(1, seconds // 60)}
    return error_response(request, 429, message, retry_after=seconds)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a plain page naming the instance; no traceback, no database, no static
    files (any of which may be what failed). An unreachable database that surfaced
    outside a view (e.g. saving the session) is still a 503."""
    exception = sys.exc_info()[1]
    if is_database_unavailable(exception):
        return database_unavailable(request, exception)
    if wants_json(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return render(request, "500.html", {"served_by": current_instance()}, status=500, using=None)
