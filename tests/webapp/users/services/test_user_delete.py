"""user_delete: the row goes, and its attachment file once the deletion commits."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from threetier.webapp.users.models import User
from threetier.webapp.users.services import user_create, user_delete

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL


def test_deletes_the_user_and_its_attachment(media_root, django_capture_on_commit_callbacks):
    user = user_create(
        user_id="bob",
        user_name="Bob",
        password="correct horse",
        attachment=SimpleUploadedFile("cv.pdf", b"%PDF"),
    )
    file = media_root / "attachments" / "bob" / "cv.pdf"
    assert file.exists()

    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=user)

    assert not User.objects.filter(user_id="bob").exists()
    assert not file.exists()
