"""The registry's users are the accounts: sign up (and be signed in), sign in with
user_id and password, sign out; change or delete only your own record; staff any."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from threetier.webapp.users.models import User
from threetier.webapp.users.services import user_create

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL

PASSWORD = "Pa55-word-never-shown"


@pytest.fixture
def alice() -> User:
    return user_create(user_id="alice", user_name="Alice", password=PASSWORD)


@pytest.fixture
def bob() -> User:
    return user_create(user_id="bob", user_name="Bob", password=PASSWORD)


def test_signing_up_signs_the_new_user_in(client):
    response = client.post("/users/new/", {"user_id": "carol", "user_name": "Carol", "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == "/users/carol/"
    assert client.session["_auth_user_id"] == "carol"
    page = client.get("/users/carol/").content.decode()
    assert 'href="/users/carol/edit/"' in page and "Sign out" in page


def test_sign_in_with_user_id_and_password_then_sign_out(client, alice):
    assert "Sign in" in client.get("/accounts/signin/").content.decode()

    wrong = client.post("/accounts/signin/", {"username": "alice", "password": "not-her-pass"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    right = client.post("/accounts/signin/", {"username": "alice", "password": PASSWORD, "next": "/users/alice/"})
    assert right.status_code == 302 and right["Location"] == "/users/alice/"
    assert client.session["_auth_user_id"] == "alice"

    assert client.get("/accounts/signout/").status_code == 405  # a link elsewhere cannot sign you out
    out = client.post("/accounts/signout/")
    assert out.status_code == 302 and "_auth_user_id" not in client.session


@pytest.mark.parametrize("path", ["/users/alice/edit/", "/users/alice/delete/"])
def test_anonymous_visitors_are_sent_to_sign_in_and_change_nothing(client, alice, path):
    shown = client.get(path)
    posted = client.post(path, {"user_name": "Hacked", "password": "", "comment": ""})

    for response in (shown, posted):
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/signin/?next={path}"
    assert User.objects.get(user_id="alice").user_name == "Alice"


@pytest.mark.parametrize("path", ["/users/bob/edit/", "/users/bob/delete/"])
def test_a_user_is_refused_on_someone_elses_record(client, alice, bob, path):
    client.force_login(alice)

    shown = client.get(path)
    posted = client.post(path, {"user_name": "Hacked", "password": "", "comment": ""})

    for response in (shown, posted):
        assert response.status_code == 403
        assert "You may change only your own record." in response.content.decode()
    assert User.objects.get(user_id="bob").user_name == "Bob"


def test_pages_offer_edit_and_delete_only_where_allowed(client, alice, bob):
    anonymous = client.get("/users/").content.decode()
    assert "/edit/" not in anonymous and "/delete/" not in anonymous
    client.force_login(alice)
    signed_in = client.get("/users/").content.decode()
    assert 'href="/users/alice/edit/"' in signed_in and 'href="/users/bob/edit/"' not in signed_in
    assert "/users/bob/edit/" not in client.get("/users/bob/").content.decode()


def test_staff_change_and_delete_anyone(client, bob):
    client.force_login(User.objects.create_superuser("admin", "Admin", "staff-pass-9841"))

    edited = client.post("/users/bob/edit/", {"user_name": "Robert", "password": "", "comment": ""})
    deleted = client.post("/users/bob/delete/")

    assert edited.status_code == 302 and deleted.status_code == 302
    assert not User.objects.filter(user_id="bob").exists()


def test_staff_create_users_without_being_signed_in_as_them(client):
    client.force_login(User.objects.create_superuser("admin", "Admin", "staff-pass-9841"))

    response = client.post("/users/new/", {"user_id": "dave", "user_name": "Dave", "password": PASSWORD})

    assert response.status_code == 302 and User.objects.filter(user_id="dave").exists()
    assert client.session["_auth_user_id"] == "admin"


def test_a_signed_in_user_cannot_sign_up_again(client, alice):
    client.force_login(alice)

    response = client.post("/users/new/", {"user_id": "sock", "user_name": "Sock", "password": PASSWORD})

    assert response.status_code == 403
    assert not User.objects.filter(user_id="sock").exists()


def test_changing_your_own_password_keeps_you_signed_in(client, alice):
    client.force_login(alice)

    client.post("/users/alice/edit/", {"user_name": "Alice", "password": "a-brand-new-pass", "comment": ""})

    assert client.get("/users/alice/edit/").status_code == 200
    fresh = Client()
    assert fresh.post("/accounts/signin/", {"username": "alice", "password": "a-brand-new-pass"}).status_code == 302


def test_deleting_your_own_record_signs_you_out(client, alice):
    client.force_login(alice)

    client.post("/users/alice/delete/")

    assert not User.objects.filter(user_id="alice").exists()
    assert client.get("/users/new/").status_code == 200  # anonymous again: may sign up


def test_createsuperuser_makes_a_staff_account_that_signs_in_to_the_admin(client, monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "staff-pass-9841")
    call_command("createsuperuser", "--noinput", user_id="root1", user_name="Root")

    signed_in = client.post("/admin/login/?next=/admin/", {"username": "root1", "password": "staff-pass-9841"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert client.get("/admin/users/user/").status_code == 200


def test_aria_describedby_points_at_ids_on_the_page_and_help_is_not_repeated(client):
    form = client.get("/users/new/").content.decode()
    refused = client.post("/users/new/", {"user_id": "a" * 11, "user_name": "N", "password": PASSWORD})
    for html in (form, refused.content.decode()):
        for ids in re.findall(r'aria-describedby="([^"]+)"', html):
            for described in ids.split():
                assert f'id="{described}"' in html, described
    errors = refused.content.decode()
    block = re.search(r'id="field-user_id">(.*?)</div>', errors, re.S).group(1)
    assert "Ensure this value has at most 10 characters" in block
    assert "At most 10 characters" not in block  # the help gives way to the error
    assert "At most 10 characters: letters, digits" in form  # the limit is stated up front
