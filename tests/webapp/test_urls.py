"""Django's admin is enabled at /admin/ and never shows the registry's password hashes."""

from __future__ import annotations

import pytest

from threetier.webapp.users.services import user_create

pytestmark = pytest.mark.integration  # the session's PostgreSQL


@pytest.mark.django_db
def test_the_admin_is_enabled_behind_its_login(client):
    assert client.get("/admin/").status_code == 302
    login = client.get("/admin/login/")
    assert login.status_code == 200 and "csrfmiddlewaretoken" in login.content.decode()


@pytest.mark.django_db
def test_a_logged_in_admin_sees_the_registry_without_password_hashes(admin_client):
    user = user_create(user_id="alice", user_name="Alice", password="Pa55-word-1")

    page = admin_client.get("/admin/users/user/alice/change/").content.decode()

    assert "Alice" in page and user.password not in page
