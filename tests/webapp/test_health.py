"""/healthz, /readyz and /whoami: cheap, never redirected, any Host, honest about the DB."""

from __future__ import annotations

import time

import pytest
from django.db import connections
from support.webapp_postgres import closed_port

pytestmark = pytest.mark.integration  # /readyz against a real PostgreSQL

# The Host an ALB or Caddy health check sends: the instance's own address.
INSTANCE_ADDRESS = "10.0.1.23:8000"


def test_healthz_is_ok_without_touching_the_database(client):
    # No db fixture: pytest-django makes any database access here raise.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


def test_health_checks_answer_any_host_header(client):
    # The same Host is refused on a page, so the check really bypasses host validation.
    assert client.get("/", HTTP_HOST=INSTANCE_ADDRESS).status_code == 400

    assert client.get("/healthz", HTTP_HOST=INSTANCE_ADDRESS).status_code == 200


@pytest.mark.django_db
def test_readyz_answers_any_host_header(client):
    assert client.get("/readyz", HTTP_HOST=INSTANCE_ADDRESS).status_code == 200


def test_healthz_does_not_redirect_plain_http_or_slashless_paths(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = client.get("/healthz", HTTP_X_FORWARDED_PROTO="http")

    assert response.status_code == 200


@pytest.mark.django_db
def test_readyz_is_ready_when_select_1_works(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.content == b"ready\n"


@pytest.mark.django_db
def test_readyz_is_503_quickly_when_the_database_is_unreachable(client, monkeypatch):
    monkeypatch.setitem(connections["default"].settings_dict, "PORT", str(closed_port()))

    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.content.decode().startswith("not ready: database unreachable")
    assert "127.0.0.1" not in response.content.decode()  # details go to the log, not the public
    assert elapsed < 3


@pytest.mark.django_db
def test_readyz_finds_the_server_behind_a_dead_first_host(client, monkeypatch, postgres_server):
    settings_dict = connections["default"].settings_dict
    monkeypatch.setitem(settings_dict, "HOST", "127.0.0.1,127.0.0.1")
    monkeypatch.setitem(settings_dict, "PORT", f"{closed_port()},{postgres_server.port}")

    assert client.get("/readyz").status_code == 200


def test_whoami_names_the_instance_without_the_database(client, settings):
    settings.THREETIER_INSTANCE_NAME = "web-1c"
    settings.THREETIER_AZ = "ap-northeast-1c"

    response = client.get("/whoami")

    assert response.status_code == 200
    assert response.json() == {"instance": "web-1c", "az": "ap-northeast-1c"}
