"""user_update: change what is given, keep the rest (an empty password keeps the hash)."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password
from django.core.files.uploadedfile import SimpleUploadedFile

from threetier.webapp.errors import ServiceError
from threetier.webapp.users.models import User
from threetier.webapp.users.services import user_create, user_update

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL


@pytest.fixture
def alice() -> User:
    return user_create(
        user_id="alice", user_name="Alice", password="correct horse", comment="first"
    )


@pytest.mark.parametrize("empty", [None, ""])
def test_keeps_the_password_hash_when_no_new_password_is_given(alice, empty):
    old_hash = alice.password

    user_update(user=alice, user_name="Alicia", password=empty)

    stored = User.objects.get(user_id="alice")
    assert stored.user_name == "Alicia"
    assert stored.password == old_hash


def test_hashes_a_new_password(alice):
    user_update(user=alice, password="battery staple")

    stored = User.objects.get(user_id="alice")
    assert check_password("battery staple", stored.password)
    assert not check_password("correct horse", stored.password)


def test_refuses_a_too_long_name_and_changes_nothing(alice):
    with pytest.raises(ServiceError) as caught:
        user_update(user=alice, user_name="x" * 11, comment="changed")

    assert caught.value.field_errors == {
        "user_name": ["Ensure this value has at most 10 characters (it has 11)."]
    }
    stored = User.objects.get(user_id="alice")
    assert (stored.user_name, stored.comment) == ("Alice", "first")
    assert (alice.user_name, alice.comment) == ("Alice", "first")


def test_replacing_the_attachment_deletes_the_old_file(
    alice, media_root, django_capture_on_commit_callbacks
):
    user_update(user=alice, attachment=SimpleUploadedFile("one.txt", b"1"))
    old = media_root / "attachments" / "alice" / "one.txt"
    assert old.exists()

    with django_capture_on_commit_callbacks(execute=True):
        user_update(user=alice, attachment=SimpleUploadedFile("two.txt", b"2"))

    assert not old.exists()
    assert (media_root / "attachments" / "alice" / "two.txt").read_bytes() == b"2"


def test_remove_attachment_clears_it(alice, media_root, django_capture_on_commit_callbacks):
    user_update(user=alice, attachment=SimpleUploadedFile("one.txt", b"1"))

    with django_capture_on_commit_callbacks(execute=True):
        user_update(user=alice, remove_attachment=True)

    assert not User.objects.get(user_id="alice").attachment
    assert not (media_root / "attachments" / "alice" / "one.txt").exists()
