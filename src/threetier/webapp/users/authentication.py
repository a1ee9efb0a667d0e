"""The API's authentication: who may write, and the CSRF rule for browsers.

Token authentication is django-rest-knox rather than DRF's own `authtoken`: knox stores
only a hash of each token (a copied database does not hand out working tokens), tokens
expire (REST_KNOX.TOKEN_TTL), a user may hold one per script or machine, and
/api/auth/logout/ revokes the one in use. DRF's authtoken keeps one plain-text,
never-expiring key per user.

A browser is authenticated by its session, and DRF then checks its CSRF token. An
anonymous write (sign-up, the one write anyone may make) is checked too when it comes
from a browser, recognised by the Origin header browsers send with every cross-site
POST or by the cookies it carries: a page elsewhere cannot make its visitors' browsers
post to the API. A script sends neither and needs no token to sign up.
"""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


def _no_view(request: object) -> None:
    return None


class AnonymousBrowserCsrf(BaseAuthentication):
    """Last in DEFAULT_AUTHENTICATION_CLASSES: authenticates nobody, but refuses an
    anonymous unsafe request from a browser (Origin or Cookie header) without a valid
    CSRF token, as SessionAuthentication does for a signed-in one."""

    def authenticate(self, request: Request) -> None:
        meta = request.META
        if request.method in SAFE_METHODS or not (meta.get("HTTP_ORIGIN") or meta.get("HTTP_COOKIE")):
            return None
        django_request = request._request
        check = CSRFCheck(_no_view)
        check.process_request(django_request)  # reads the CSRF cookie
        reason = check.process_view(django_request, None, (), {})
        if reason:
            # CSRFCheck returns the reason instead of a response.
            raise PermissionDenied(f"CSRF Failed: {reason}")
        return None
