"""The HTML pages: list, create, detail, edit, delete, through Django's test client."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client

from threetier.webapp.users.models import User
from threetier.webapp.users.services import user_create

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL

PASSWORD = "Pa55-word-never-shown"


def field_errors(html: str, field: str) -> list[str]:
    """The error messages rendered inside the field's own block of the form."""
    block = re.search(rf'<div class="field[^"]*" id="field-{field}">(.*?)</div>', html, re.S)
    assert block, f"no field block for {field} in:\n{html}"
    return re.findall(r"<li>(.*?)</li>", block.group(1))


def create(client: Client, **fields):
    data = {"user_id": "alice", "user_name": "Alice", "password": PASSWORD, "comment": "", **fields}
    return client.post("/users/new/", data)


@pytest.mark.parametrize("path", ["/", "/users/"])
def test_list_shows_the_users_and_who_served_it(client, path):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)

    response = client.get(path)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/users/alice/"' in html
    assert (
        'served by <strong class="instance">test-instance</strong> in '
        '<strong class="az">test-az-1a</strong>' in html
    )


def test_create_stores_a_hash_and_redirects_to_the_user(client):
    response = create(client, comment="hello")

    assert response.status_code == 302 and response["Location"] == "/users/alice/"
    stored = User.objects.get(user_id="alice")
    assert stored.comment == "hello"
    assert check_password(PASSWORD, stored.password)


def test_the_password_and_its_hash_appear_on_no_page(client):
    create(client)
    stored_hash = User.objects.get(user_id="alice").password

    for path in ("/", "/users/alice/", "/users/alice/edit/", "/users/alice/delete/"):
        html = client.get(path).content.decode()
        assert PASSWORD not in html, path
        assert stored_hash not in html, path
        assert stored_hash.split("$")[-1] not in html, path


def test_a_refused_form_does_not_send_the_password_back(client):
    response = create(client, user_name="x" * 11)

    assert response.status_code == 200
    assert PASSWORD not in response.content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"user_id": "a" * 11},
            "user_id",
            "Ensure this value has at most 10 characters (it has 11).",
        ),
        (
            {"user_name": "b" * 11},
            "user_name",
            "Ensure this value has at most 10 characters (it has 11).",
        ),
        (
            {"password": "shortpw"},
            "password",
            "This password is too short. It must contain at least 8 characters.",
        ),
        (
            {"user_id": "a/b"},
            "user_id",
            "Use only letters, digits, &#x27;-&#x27; and &#x27;_&#x27;.",
        ),
    ],
)
def test_validation_errors_are_shown_next_to_their_field(client, fields, field, message):
    response = create(client, **fields)

    assert response.status_code == 200
    assert field_errors(response.content.decode(), field) == [message]
    assert not User.objects.exists()


def test_a_duplicate_user_id_is_shown_next_to_the_user_id(client):
    create(Client())

    response = create(client, user_name="Other")

    assert field_errors(response.content.decode(), "user_id") == [
        "A user with this user ID already exists."
    ]
    assert User.objects.get(user_id="alice").user_name == "Alice"


def test_comments_are_escaped_on_every_page(client):
    create(client, comment='<script>alert("x")</script>')  # signs alice in

    for path in ("/users/", "/users/alice/", "/users/alice/edit/"):
        html = client.get(path).content.decode()
        assert "<script>" not in html, path
        assert "&lt;script&gt;" in html, path


def test_forms_are_protected_against_csrf():
    browser = Client(enforce_csrf_checks=True)

    forged = browser.post(
        "/users/new/", {"user_id": "eve", "user_name": "Eve", "password": PASSWORD}
    )

    assert forged.status_code == 403
    assert not User.objects.exists()
    page = browser.get("/users/new/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    genuine = browser.post(
        "/users/new/",
        {"user_id": "eve", "user_name": "Eve", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert genuine.status_code == 302
    assert User.objects.filter(user_id="eve").exists()


def test_delete_needs_a_csrf_token_too():
    user = user_create(user_id="alice", user_name="Alice", password=PASSWORD)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    response = browser.post("/users/alice/delete/")

    assert response.status_code == 403
    assert User.objects.filter(user_id="alice").exists()


def test_edit_without_a_new_password_keeps_the_old_hash(client):
    create(client)
    old_hash = User.objects.get(user_id="alice").password

    response = client.post(
        "/users/alice/edit/", {"user_name": "Alicia", "password": "", "comment": "new"}
    )

    assert response.status_code == 302
    stored = User.objects.get(user_id="alice")
    assert (stored.user_name, stored.comment, stored.password) == ("Alicia", "new", old_hash)


def test_edit_with_a_new_password_replaces_the_hash(client):
    create(client)

    client.post(
        "/users/alice/edit/", {"user_name": "Alice", "password": "brand-new-pass", "comment": ""}
    )

    assert check_password("brand-new-pass", User.objects.get(user_id="alice").password)


def test_edit_errors_are_shown_next_to_the_field(client):
    create(client)

    response = client.post(
        "/users/alice/edit/", {"user_name": "x" * 11, "password": "", "comment": ""}
    )

    assert field_errors(response.content.decode(), "user_name") == [
        "Ensure this value has at most 10 characters (it has 11)."
    ]
    assert User.objects.get(user_id="alice").user_name == "Alice"


def test_delete_asks_for_confirmation_then_deletes_on_post(client):
    create(client)

    confirmation = client.get("/users/alice/delete/")
    assert confirmation.status_code == 200 and "Delete alice?" in confirmation.content.decode()
    assert User.objects.filter(user_id="alice").exists()

    response = client.post("/users/alice/delete/")

    assert response.status_code == 302 and response["Location"] == "/users/"
    assert not User.objects.filter(user_id="alice").exists()


@pytest.mark.parametrize("path", ["/users/nobody/", "/users/nobody/edit/", "/users/nobody/delete/"])
def test_an_unknown_user_is_a_404_page(client, path):
    client.force_login(user_create(user_id="alice", user_name="Alice", password=PASSWORD))

    response = client.get(path)

    assert response.status_code == 404
    assert "User &#x27;nobody&#x27; was not found." in response.content.decode()


def test_an_unknown_path_is_a_404_page_without_debug_details(client):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert "Traceback" not in response.content.decode()
    assert "URLconf" not in response.content.decode()
