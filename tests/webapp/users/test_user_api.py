"""The JSON API: same rules as the forms, write-only password, open to non-browser clients."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client

from threetier.webapp.users.models import User
from threetier.webapp.users.services import user_create

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL

PASSWORD = "Pa55-word-never-shown"


@pytest.fixture
def api() -> Client:
    # A non-browser client: no cookies, no CSRF token, and the CSRF check enforced.
    return Client(enforce_csrf_checks=True)


def send(api: Client, method: str, path: str, body: dict | None = None):
    if method == "get":
        response = api.get(path)
    else:
        response = getattr(api, method)(
            path, data=json.dumps(body or {}), content_type="application/json"
        )
    return response, (response.json() if response.content else None)


def test_create_without_csrf_token_returns_the_user_without_password(api):
    response, body = send(
        api,
        "post",
        "/api/users/",
        {
            "user_id": "alice",
            "user_name": "Alice",
            "password": PASSWORD,
            "comment": "<b>hi</b>",
        },
    )

    assert response.status_code == 201, body
    assert body == {
        "user_id": "alice",
        "user_name": "Alice",
        "comment": "<b>hi</b>",
        "attachment": None,
        "url": "http://testserver/api/users/alice/",
    }
    assert response["Location"] == "http://testserver/api/users/alice/"
    assert check_password(PASSWORD, User.objects.get(user_id="alice").password)


def test_list_and_get_never_contain_the_password_or_its_hash(api):
    user = user_create(user_id="alice", user_name="Alice", password=PASSWORD)

    for path in ("/api/users/", "/api/users/alice/"):
        text = api.get(path).content.decode()
        assert "alice" in text
        assert PASSWORD not in text and user.password not in text and "password" not in text


def test_create_applies_the_same_rules_as_the_forms(api):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)

    response, body = send(
        api, "post", "/api/users/", {"user_id": "alice", "user_name": "b" * 11, "password": "x"}
    )

    assert response.status_code == 400
    assert body["errors"] == {
        "user_id": ["A user with this user ID already exists."],
        "user_name": ["Ensure this value has at most 10 characters (it has 11)."],
        "password": ["Use at least 8 characters."],
    }
    assert "detail" in body


def test_create_needs_user_id_name_and_password(api):
    response, body = send(api, "post", "/api/users/", {})

    assert response.status_code == 400
    assert set(body["errors"]) == {"user_id", "user_name", "password"}


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_without_password_keeps_the_hash(api, method):
    old_hash = user_create(user_id="alice", user_name="Alice", password=PASSWORD).password

    response, body = send(api, method, "/api/users/alice/", {"user_name": "Alicia"})

    assert response.status_code == 200, body
    assert body["user_name"] == "Alicia"
    assert User.objects.get(user_id="alice").password == old_hash


def test_update_with_a_password_rehashes_it(api):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)

    response, body = send(api, "patch", "/api/users/alice/", {"password": "brand-new-pass"})

    assert response.status_code == 200 and "password" not in body
    assert check_password("brand-new-pass", User.objects.get(user_id="alice").password)


def test_update_refuses_invalid_values(api):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)

    response, body = send(api, "patch", "/api/users/alice/", {"user_name": "x" * 11})

    assert response.status_code == 400
    assert list(body["errors"]) == ["user_name"]


def test_delete_removes_the_user(api):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)

    response = api.delete("/api/users/alice/")

    assert response.status_code == 204
    assert not User.objects.exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_an_unknown_user_is_a_json_404(api, method):
    response, body = send(api, method, "/api/users/nobody/", {"user_name": "x"})

    assert response.status_code == 404
    assert body == {"detail": "User 'nobody' was not found."}


def test_malformed_json_is_a_400(api):
    response = api.post("/api/users/", data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert "detail" in response.json()
