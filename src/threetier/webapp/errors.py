"""The webapp's one domain error and its mapping to HTTP, in one place.

Services raise `ServiceError`; views never build error responses themselves:
- HTML form views put `field_errors` next to the form's fields (`add_to_form`),
- anything else reaching the middleware becomes an error page with `status`,
- the JSON API's exception handler turns it into {"detail", "errors"} with `status`.

>>> raise ServiceError("invalid user", field_errors={"user_id": ["Already taken."]})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.response import Response
from rest_framework.views import exception_handler

from threetier.errors import ThreetierError
from threetier.webapp.instance import current_instance

# The form's non-field slot, as Django calls it.
NON_FIELD = "__all__"


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
        return cls(f"{what} was not found.", status=404)


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
        if not isinstance(exception, ServiceError):
            return None
        return render(request, "error.html", {"error": exception}, status=exception.status)


def api_exception_handler(exception: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus ServiceError → {"detail": message, "errors": {field: [...]}}."""
    if isinstance(exception, ServiceError):
        body: dict[str, Any] = {"detail": exception.message}
        if exception.field_errors:
            body["errors"] = exception.field_errors
        return Response(body, status=exception.status)
    return exception_handler(exception, context)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a plain page naming the instance; no traceback, no database, no static
    files (any of which may be what failed)."""
    return render(request, "500.html", {"served_by": current_instance()}, status=500, using=None)
