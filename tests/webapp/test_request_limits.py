"""Malformed and oversized requests, and a database that is gone: each answered with
its 4xx or 503, never a 500 with a traceback."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.db import connections
from django.test import Client
from support.webapp_postgres import closed_port

from threetier.webapp.limits import BODY_MAX, JSON_MAX_DEPTH, MULTIPART_BODY_MAX

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL


class Unreadable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")

    readline = read


def declare_body(client: Client, path: str, content_type: str, length: int):
    return client.generic(
        "POST", path, b"", CONTENT_TYPE=content_type, CONTENT_LENGTH=str(length), **{"wsgi.input": Unreadable()}
    )


@pytest.mark.parametrize(
    ("content_type", "limit"),
    [("application/json", BODY_MAX), ("multipart/form-data; boundary=x", MULTIPART_BODY_MAX)],
)
@pytest.mark.parametrize("path", ["/api/users/", "/users/new/"])
def test_a_body_over_the_cap_is_a_413_decided_before_reading_it(client, path, content_type, limit):
    response = declare_body(client, path, content_type, limit + 1)

    assert response.status_code == 413
    if path.startswith("/api/"):
        assert response.json()["detail"].startswith("The request body is larger than the")


def test_a_60_mb_json_body_is_refused_unread(client):
    assert declare_body(client, "/api/users/", "application/json", 60 * 1024 * 1024).status_code == 413


def test_a_body_at_the_cap_is_read(client):
    body = json.dumps({"user_id": "alice", "comment": "x" * 10}).ljust(BODY_MAX).encode()

    response = client.post("/api/users/", data=body, content_type="application/json")

    assert response.status_code == 400  # parsed and refused on its fields, not on its size
    assert "errors" in response.json()


@pytest.mark.parametrize(
    "path",
    ["/users/alice%00/", "/api/users/alice%00/", "/users/%00", "/admin/%00/", "/static/%00.css",
     "/users/a%0ab/", "/users/%ff%fe/", "/users/alice/..%2f..%2fetc/", "/api/users/" + "a" * 300 + "/"],
)
def test_malformed_paths_are_a_404(client, caplog, path):
    with caplog.at_level(logging.ERROR):
        response = client.get(path)

    assert response.status_code == 404, path
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_a_nul_byte_in_the_search_is_ignored(client):
    assert client.get("/users/?q=%00al").status_code == 200
    assert client.get("/api/users/?q=%00al").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"user_id": ' + b"[" * (JSON_MAX_DEPTH + 1) + b"]" * (JSON_MAX_DEPTH + 1) + b"}",
        b"{not json",
        b'{"user_id": "a"',
        b"\xff\xfe",
        b'"just a string"',
        b"[1, 2]",
    ],
)
def test_deep_or_malformed_json_is_a_400(client, body):
    response = client.post("/api/users/", data=body, content_type="application/json")

    assert response.status_code == 400, response.content[:200]
    assert "detail" in response.json() or "non_field_errors" in response.json()


def test_nesting_within_the_limit_still_parses(client):
    body = '{"user_id": "alice", "comment": "[[[[ {{ not nesting inside a string \\" ]]"}'

    response = client.post("/api/users/", data=body, content_type="application/json")

    assert response.status_code == 400 and set(response.json()["errors"]) == {"user_name", "password"}


@pytest.fixture
def database_down(monkeypatch):
    """The default connection now goes to a port nobody listens on (the app's own
    connection settings, as during a failover)."""
    connection = connections["default"]
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PORT", str(closed_port()))
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "connect_timeout", 1)
    yield
    connection.close()


@pytest.mark.parametrize("path", ["/users/", "/users/alice/", "/"])
def test_pages_say_503_with_retry_after_while_the_database_is_down(client, database_down, caplog, path):
    with caplog.at_level(logging.WARNING):
        response = client.get(path)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "The database is not available right now" in response.content.decode()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert any("database unavailable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("method", "path"), [("get", "/api/users/"), ("get", "/api/users/alice/"),
                                              ("post", "/api/users/")])
def test_the_api_says_503_in_json_while_the_database_is_down(client, database_down, method, path):
    response = getattr(client, method)(path, data={} if method == "post" else None, content_type="application/json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/json"
    assert "database" in response.json()["detail"]
