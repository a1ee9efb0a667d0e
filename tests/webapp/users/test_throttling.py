"""Abuse limits: sign-ups per client and over all clients, API writes per user, failed
sign-ins per account and per client (django-axes) on the site, the admin and the API."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from threetier.webapp.users.models import User
from threetier.webapp.users.services import user_create

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL

PASSWORD = "Pa55-word-never-shown"


@pytest.fixture
def rates(settings, monkeypatch):
    """Small limits, so a test needs only a few requests, and a clock that stands still
    in the middle of a window, so no window ends during a test."""
    from threetier.webapp.users.throttles import WindowThrottle

    monkeypatch.setattr(WindowThrottle, "clock", staticmethod(lambda: 1_800_000_030.0))
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "signup": "3/minute", "signup_all": "5/minute", "api_write": "4/minute",
    }}
    settings.REST_FRAMEWORK = rest
    settings.AXES_FAILURE_LIMIT = 3
    return rest["DEFAULT_THROTTLE_RATES"]


def sign_up_api(client: Client, user_id: str, ip: str = "203.0.113.7"):
    return client.post(
        "/api/users/", data=json.dumps({"user_id": user_id, "user_name": "N", "password": PASSWORD}),
        content_type="application/json", headers={"X-Forwarded-For": ip},
    )


def sign_up_form(client: Client, user_id: str, ip: str = "203.0.113.7"):
    return client.post(
        "/users/new/", {"user_id": user_id, "user_name": "N", "password": PASSWORD},
        headers={"X-Forwarded-For": ip},
    )


def test_sign_ups_from_one_client_are_throttled_on_the_api_and_the_form(rates):
    statuses = [sign_up_api(Client(), f"api{i}").status_code for i in range(2)]
    statuses += [sign_up_form(Client(), f"form{i}").status_code for i in range(2)]

    assert statuses == [201, 201, 302, 429]
    assert User.objects.count() == 3
    refused = sign_up_api(Client(), "late")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0


def test_another_client_may_still_sign_up_until_the_overall_limit(rates):
    for i in range(3):
        assert sign_up_api(Client(), f"a{i}", ip="203.0.113.7").status_code == 201

    assert sign_up_api(Client(), "b0", ip="198.51.100.9").status_code == 201
    assert sign_up_api(Client(), "b1", ip="198.51.100.9").status_code == 201
    # Five sign-ups overall per minute, whoever sends them.
    assert sign_up_api(Client(), "c0", ip="192.0.2.44").status_code == 429


def test_a_forged_x_forwarded_for_entry_does_not_reset_the_count(rates):
    # The client may write anything left of the address our proxy appends.
    for i in range(3):
        spoofed = f"10.9.9.{i}, 203.0.113.7"
        assert sign_up_api(Client(), f"s{i}", ip=spoofed).status_code == 201
    assert sign_up_api(Client(), "s3", ip="10.9.9.9, 203.0.113.7").status_code == 429


def test_staff_are_not_throttled(rates):
    admin = User.objects.create_superuser("admin", "Admin", "staff-pass-9841")
    client = Client()
    client.force_login(admin)

    statuses = {sign_up_form(client, f"st{i}").status_code for i in range(6)}

    assert statuses == {302}


def test_api_writes_are_throttled_per_user(rates):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)
    client = Client()
    token = client.post("/api/auth/login/", {"user_id": "alice", "password": PASSWORD},
                        content_type="application/json").json()["token"]
    headers = {"Authorization": f"Token {token}"}

    statuses = [
        client.patch("/api/users/alice/", data=json.dumps({"comment": str(i)}), content_type="application/json",
                     headers=headers).status_code
        for i in range(5)
    ]

    assert statuses == [200, 200, 200, 200, 429]
    assert client.get("/api/users/alice/", headers=headers).status_code == 200  # reads are not counted


def sign_in(client: Client, user_id: str, password: str, ip: str = "203.0.113.7"):
    return client.post("/accounts/signin/", {"username": user_id, "password": password},
                       headers={"X-Forwarded-For": ip})


def test_failed_sign_ins_pause_the_account_even_with_the_right_password(rates):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)

    wrong = [sign_in(Client(), "alice", "not-her-pass", ip=f"198.51.100.{i}").status_code for i in range(3)]
    paused = sign_in(Client(), "alice", PASSWORD, ip="192.0.2.1")

    # The form again with its error, then the pause from the limit-th failure on.
    assert wrong == [200, 200, 429]
    assert paused.status_code == 429
    assert int(paused["Retry-After"]) == 900
    assert "_auth_user_id" not in paused.client.session


def test_failed_sign_ins_pause_the_client_whatever_the_account(rates):
    for name in ("alice", "bob", "carol"):
        user_create(user_id=name, user_name=name, password=PASSWORD)

    for name in ("alice", "bob", "carol"):
        sign_in(Client(), name, "wrong-password", ip="203.0.113.66")

    assert sign_in(Client(), "alice", PASSWORD, ip="203.0.113.66").status_code == 429
    assert sign_in(Client(), "bob", PASSWORD, ip="198.51.100.1").status_code == 302  # another client, another account


def test_the_admin_sign_in_is_paused_too(rates):
    User.objects.create_superuser("admin", "Admin", "staff-pass-9841")
    client = Client()

    for _ in range(3):
        client.post("/admin/login/", {"username": "admin", "password": "guess"}, headers={"X-Forwarded-For": "1.2.3.4"})
    response = client.post(
        "/admin/login/", {"username": "admin", "password": "staff-pass-9841"}, headers={"X-Forwarded-For": "1.2.3.4"}
    )

    assert response.status_code == 429


def test_the_api_token_login_is_paused_too(rates):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)
    client = Client()

    def login(password: str):
        return client.post("/api/auth/login/", {"user_id": "alice", "password": password},
                           content_type="application/json")

    assert [login("guess").status_code for _ in range(3)] == [400, 400, 429]
    paused = login(PASSWORD)
    assert paused.status_code == 429
    assert "Too many failed sign-ins" in paused.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_sign_ups_cannot_all_slip_under_the_limit(rates):
    # Sixteen requests at once, each on its own database connection, as on two instances.
    import threading

    from django.db import connection
    from django.test import RequestFactory

    from threetier.webapp.users.throttles import SignUpThrottle

    request = RequestFactory().post("/api/users/", headers={"X-Forwarded-For": "203.0.113.99"})
    request.user = None
    allowed, start = [], threading.Barrier(16)

    def one() -> None:
        start.wait()
        try:
            allowed.append(SignUpThrottle().allow_request(request, None))
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(allowed) == [False] * 13 + [True] * 3  # the "signup" rate above: 3/minute
