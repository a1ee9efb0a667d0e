"""user_create: every rule of the registry, checked in one place."""

from __future__ import annotations

import pytest
from django.conf import global_settings
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core.files.uploadedfile import SimpleUploadedFile

from threetier.webapp.errors import ServiceError
from threetier.webapp.users.models import User
from threetier.webapp.users.rules import ATTACHMENT_MAX_BYTES
from threetier.webapp.users.services import user_create

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL

GOOD = {"user_id": "alice", "user_name": "Alice", "password": "correct horse"}


def refused(**fields) -> dict[str, list[str]]:
    with pytest.raises(ServiceError) as caught:
        user_create(**{**GOOD, **fields})
    assert caught.value.status == 400
    return caught.value.field_errors


def test_stores_the_user_with_a_django_password_hash():
    user_create(**GOOD, comment="hi")

    stored = User.objects.get(user_id="alice")
    assert stored.user_name == "Alice" and stored.comment == "hi"
    assert stored.password != "correct horse"
    identify_hasher(stored.password)  # raises ValueError for anything that is not a Django hash
    assert check_password("correct horse", stored.password)
    assert not check_password("wrong horse", stored.password)


def test_uses_the_production_hasher_by_default(settings):
    # The test settings use a fast hasher; production keeps Django's default (PBKDF2).
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS

    user = user_create(**GOOD)

    assert user.password.startswith("pbkdf2_sha256$")
    assert check_password("correct horse", user.password)


@pytest.mark.parametrize("field", ["user_id", "user_name"])
def test_refuses_more_than_10_characters(field):
    errors = refused(**{field: "x" * 11})

    assert errors == {field: ["Ensure this value has at most 10 characters (it has 11)."]}
    assert not User.objects.exists()


def test_accepts_exactly_10_characters():
    user_create(**{**GOOD, "user_id": "a" * 10, "user_name": "b" * 10})

    assert User.objects.filter(user_id="a" * 10).exists()


def test_refuses_a_duplicate_user_id():
    user_create(**GOOD)

    errors = refused(user_name="Other")

    assert errors == {"user_id": ["A user with this user ID already exists."]}
    assert User.objects.get(user_id="alice").user_name == "Alice"


@pytest.mark.parametrize("user_id", ["a/b", "a b", "../x", "名前"])
def test_refuses_user_ids_unsafe_in_urls_and_paths(user_id):
    assert "user_id" in refused(user_id=user_id)


def test_refuses_missing_fields_each_by_name():
    errors = refused(user_id="", user_name="", password="")

    assert set(errors) == {"user_id", "user_name", "password"}


def test_refuses_a_short_password():
    assert refused(password="shortpw") == {
        "password": ["This password is too short. It must contain at least 8 characters."]
    }


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("password123", "This password is too common."),
        ("4815162342", "This password is entirely numeric."),
        ("alice0042", "The password is too similar to the user ID."),
    ],
)
def test_refuses_what_djangos_password_validators_refuse(password, message):
    assert message in refused(password=password)["password"]


def test_refuses_an_overlong_password():
    assert refused(password="x" * 129) == {"password": ["Use at most 128 characters."]}


def test_keeps_the_attachment_in_the_shared_storage(media_root):
    user = user_create(**GOOD, attachment=SimpleUploadedFile("notes.txt", b"hello"))

    assert user.attachment.name == "attachments/alice/notes.txt"
    assert (media_root / "attachments" / "alice" / "notes.txt").read_bytes() == b"hello"


def test_refuses_an_attachment_over_the_limit(media_root):
    too_big = SimpleUploadedFile("big.bin", b"\0" * (ATTACHMENT_MAX_BYTES + 1))

    errors = refused(attachment=too_big)

    assert errors == {"attachment": ["The file is larger than the 10 MB limit."]}
    assert not any(media_root.rglob("*.bin"))
