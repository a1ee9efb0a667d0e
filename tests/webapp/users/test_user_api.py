"""The JSON API: same rules as the forms, write-only password, reads open to everyone,
sign-up open to scripts, every other write by the record's owner or staff only."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from knox.models import AuthToken

from threetier.webapp.users.models import User
from threetier.webapp.users.services import user_create

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL

PASSWORD = "Pa55-word-never-shown"


@pytest.fixture
def api() -> Client:
    # A non-browser client: no cookies, no CSRF token, and the CSRF check enforced.
    return Client(enforce_csrf_checks=True)


def send(api: Client, method: str, path: str, body: dict | None = None, **headers):
    if method == "get":
        response = api.get(path, headers=headers)
    else:
        response = getattr(api, method)(
            path, data=json.dumps(body or {}), content_type="application/json", headers=headers
        )
    return response, (response.json() if response.content else None)


def token_for(api: Client, user_id: str, password: str = PASSWORD) -> dict[str, str]:
    response, body = send(api, "post", "/api/auth/login/", {"user_id": user_id, "password": password})
    assert response.status_code == 200, body
    return {"Authorization": f"Token {body['token']}"}


@pytest.fixture
def alice(api) -> dict[str, str]:
    """Alice exists; the headers of a script signed in as her."""
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)
    return token_for(api, "alice")


def test_sign_up_without_csrf_token_returns_the_user_without_password(api):
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
    assert body.pop("created_at").endswith("Z") and body.pop("updated_at").endswith("Z")  # UTC
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


def test_sign_up_applies_the_same_rules_as_the_forms(api):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)

    response, body = send(
        api, "post", "/api/users/", {"user_id": "alice", "user_name": "b" * 11, "password": "x7#"}
    )

    assert response.status_code == 400
    assert body["errors"] == {
        "user_id": ["A user with this user ID already exists."],
        "user_name": ["Ensure this value has at most 10 characters (it has 11)."],
        "password": ["This password is too short. It must contain at least 8 characters."],
    }
    assert "detail" in body


def test_sign_up_needs_user_id_name_and_password(api):
    response, body = send(api, "post", "/api/users/", {})

    assert response.status_code == 400
    assert set(body["errors"]) == {"user_id", "user_name", "password"}


# --- who may change what -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body"),
    [("patch", {"password": "owned-by-eve-now"}), ("put", {"user_name": "Eve"}), ("delete", None)],
)
def test_anonymous_writes_are_refused_with_401(api, method, body):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)
    old_hash = User.objects.get(user_id="alice").password

    response, answer = send(api, method, "/api/users/alice/", body)

    assert response.status_code == 401, answer
    assert response["WWW-Authenticate"] == "Token"
    stored = User.objects.get(user_id="alice")
    assert (stored.user_name, stored.password) == ("Alice", old_hash)


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_a_user_cannot_change_or_delete_another_user(api, alice, method):
    user_create(user_id="bob", user_name="Bob", password=PASSWORD)

    response, body = send(api, method, "/api/users/bob/", {"user_name": "Hacked"}, **alice)

    assert response.status_code == 403, body
    assert body == {"detail": "You may change only your own record."}
    assert User.objects.get(user_id="bob").user_name == "Bob"


def test_staff_may_change_and_delete_anyone(api):
    User.objects.create_superuser("admin", "Admin", "staff-pass-9841")
    user_create(user_id="bob", user_name="Bob", password=PASSWORD)
    staff = token_for(api, "admin", "staff-pass-9841")

    assert send(api, "patch", "/api/users/bob/", {"user_name": "Robert"}, **staff)[0].status_code == 200
    assert User.objects.get(user_id="bob").user_name == "Robert"
    assert send(api, "delete", "/api/users/bob/", **staff)[0].status_code == 204
    assert not User.objects.filter(user_id="bob").exists()


def test_a_signed_in_user_who_is_not_staff_cannot_create_users(api, alice):
    response, body = send(
        api, "post", "/api/users/", {"user_id": "sock", "user_name": "Sock", "password": PASSWORD}, **alice
    )

    assert response.status_code == 403, body
    assert not User.objects.filter(user_id="sock").exists()


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_own_record_without_password_keeps_the_hash(api, alice, method):
    old_hash = User.objects.get(user_id="alice").password

    response, body = send(api, method, "/api/users/alice/", {"user_name": "Alicia"}, **alice)

    assert response.status_code == 200, body
    assert body["user_name"] == "Alicia"
    assert User.objects.get(user_id="alice").password == old_hash


def test_update_own_password_rehashes_it(api, alice):
    response, body = send(api, "patch", "/api/users/alice/", {"password": "brand-new-pass"}, **alice)

    assert response.status_code == 200 and "password" not in body
    assert check_password("brand-new-pass", User.objects.get(user_id="alice").password)


def test_update_refuses_invalid_values(api, alice):
    response, body = send(api, "patch", "/api/users/alice/", {"user_name": "x" * 11}, **alice)

    assert response.status_code == 400
    assert list(body["errors"]) == ["user_name"]


def test_delete_own_record(api, alice):
    response = api.delete("/api/users/alice/", headers=alice)

    assert response.status_code == 204
    assert not User.objects.exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_an_unknown_user_is_a_json_404(api, alice, method):
    response, body = send(api, method, "/api/users/nobody/", {"user_name": "x"}, **alice)

    assert response.status_code == 404
    assert body == {"detail": "User 'nobody' was not found."}


# --- browsers: sessions and CSRF -------------------------------------------------------


def test_a_cross_origin_form_post_to_the_api_is_refused(api):
    # What a page elsewhere can make a visitor's browser send without asking first.
    response = api.post(
        "/api/users/", data="user_id=eve&user_name=Eve&password=cross-site-pass",
        content_type="application/x-www-form-urlencoded", headers={"Origin": "https://evil.example"},
    )

    assert response.status_code in (403, 415), response.content
    assert not User.objects.filter(user_id="eve").exists()


def test_an_anonymous_browser_write_needs_the_csrf_token(api):
    response, body = send(
        api, "post", "/api/users/", {"user_id": "eve", "user_name": "Eve", "password": PASSWORD},
        Origin="https://evil.example",
    )

    assert response.status_code == 403, body
    assert "CSRF" in body["detail"]
    assert not User.objects.filter(user_id="eve").exists()


def test_a_signed_in_browser_session_writes_with_its_csrf_token_only(api):
    user = user_create(user_id="alice", user_name="Alice", password=PASSWORD)
    api.force_login(user)

    forged, _ = send(api, "patch", "/api/users/alice/", {"user_name": "Forged"})
    assert forged.status_code == 403
    page = api.get("/users/alice/edit/")
    token = page.cookies["csrftoken"].value
    genuine, body = send(api, "patch", "/api/users/alice/", {"user_name": "Alicia"}, **{"X-CSRFToken": token})

    assert genuine.status_code == 200, body
    assert User.objects.get(user_id="alice").user_name == "Alicia"


# --- tokens ------------------------------------------------------------------------------


def test_a_token_is_stored_hashed_and_revoked_by_logout(api, alice):
    token = alice["Authorization"].split()[1]
    stored = AuthToken.objects.get(user_id="alice")
    assert token not in (stored.digest, stored.token_key) and stored.digest != token

    assert api.post("/api/auth/logout/", headers=alice).status_code == 204
    response, _ = send(api, "patch", "/api/users/alice/", {"user_name": "Late"}, **alice)
    assert response.status_code == 401


def test_a_wrong_password_gets_no_token(api):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)

    response, body = send(api, "post", "/api/auth/login/", {"user_id": "alice", "password": "not-her-pass"})

    assert response.status_code == 400
    assert body == {"detail": "The user ID or password is wrong."}
    assert not AuthToken.objects.exists()


def test_malformed_json_is_a_400(api):
    response = api.post("/api/users/", data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert "detail" in response.json()
