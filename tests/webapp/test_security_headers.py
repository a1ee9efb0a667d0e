"""Security headers on every response: CSP without inline script, HSTS on HTTPS only,
no sniffing, no framing."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from threetier.webapp.settings.builders import ERROR_PAGE_STYLE

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL

TEMPLATES = Path(__file__).resolve().parents[2] / "src/threetier/webapp/templates"


@pytest.mark.parametrize("path", ["/users/", "/users/new/", "/accounts/signin/", "/api/users/", "/healthz",
                                  "/users/nobody/", "/admin/login/"])
def test_every_response_carries_a_csp_without_inline_script(client, path):
    policy = client.get(path)["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


def test_hsts_is_sent_on_https_and_not_on_plain_http(client):
    secure = client.get("/users/", headers={"X-Forwarded-Proto": "https"})
    plain = client.get("/users/")

    assert secure["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in plain


def test_no_sniffing_no_framing_same_origin_referrer(client):
    response = client.get("/users/")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_no_template_has_an_inline_script_or_style_attribute():
    for template in TEMPLATES.rglob("*.html"):
        html = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), template
        assert not re.search(r"\sstyle=", html), template
        assert not re.search(r"\son[a-z]+=", html), template  # onclick= and friends


def test_the_one_inline_style_is_the_hashed_one():
    digest = base64.b64encode(hashlib.sha256(ERROR_PAGE_STYLE.encode()).digest()).decode()
    for name in ("500.html", "status.html"):
        styles = re.findall(r"<style>(.*?)</style>", (TEMPLATES / name).read_text(), re.S)
        assert styles == [ERROR_PAGE_STYLE], name
    from django.conf import settings

    assert f"'sha256-{digest}'" in settings.THREETIER_CSP
