"""One attachment per user, in the shared storage, downloaded through the app's view.

Two test clients stand for two instances (different THREETIER_INSTANCE_NAME) sharing
one media directory; the twin's tests do the same with two real gunicorn instances.
"""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from threetier.webapp.middleware import INSTANCE_HEADER
from threetier.webapp.users.models import User
from threetier.webapp.users.rules import ATTACHMENT_MAX_BYTES
from threetier.webapp.users.services import user_create

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL

PASSWORD = "Pa55-word-never-shown"


def as_instance(settings, name: str) -> Client:
    settings.THREETIER_INSTANCE_NAME = name
    return Client()


def download(client: Client, user_id: str) -> tuple[int, bytes, dict]:
    response = client.get(f"/users/{user_id}/attachment")
    body = b"".join(response.streaming_content) if response.status_code == 200 else response.content
    return response.status_code, body, response


def test_a_file_uploaded_through_one_instance_downloads_through_the_other(settings, media_root):
    content = bytes(range(256)) * 100
    uploader = as_instance(settings, "web-1a")
    created = uploader.post(
        "/users/new/",
        {
            "user_id": "alice",
            "user_name": "Alice",
            "password": PASSWORD,
            "attachment": SimpleUploadedFile("report.bin", content),
        },
    )
    assert created.status_code == 302
    assert created[INSTANCE_HEADER] == "web-1a"

    status, body, response = download(as_instance(settings, "web-1c"), "alice")

    assert status == 200
    assert response[INSTANCE_HEADER] == "web-1c"
    assert body == content
    assert response["Content-Disposition"] == 'attachment; filename="report.bin"'
    assert (media_root / "attachments" / "alice" / "report.bin").read_bytes() == content


def test_an_uploaded_html_file_is_downloaded_not_rendered(client):
    user_create(
        user_id="eve",
        user_name="Eve",
        password=PASSWORD,
        attachment=SimpleUploadedFile("page.html", b"<script>alert(1)</script>"),
    )

    status, body, response = download(client, "eve")

    assert status == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_detail_page_links_the_download(client):
    user_create(
        user_id="alice",
        user_name="Alice",
        password=PASSWORD,
        attachment=SimpleUploadedFile("notes.txt", b"hi"),
    )

    html = client.get("/users/alice/").content.decode()

    assert '<a href="/users/alice/attachment">notes.txt</a>' in html


def test_an_upload_over_the_limit_is_an_error_next_to_the_field(client, media_root):
    too_big = SimpleUploadedFile("big.bin", b"\0" * (ATTACHMENT_MAX_BYTES + 1))

    response = client.post(
        "/users/new/",
        {
            "user_id": "alice",
            "user_name": "Alice",
            "password": PASSWORD,
            "attachment": too_big,
        },
    )

    block = re.search(r'id="field-attachment">(.*?)</div>', response.content.decode(), re.S).group(
        1
    )
    assert "The file is larger than the 10 MB limit." in block
    assert not User.objects.exists()
    assert not any(media_root.rglob("*"))


def test_a_file_of_exactly_the_limit_is_accepted(client):
    response = client.post(
        "/users/new/",
        {
            "user_id": "alice",
            "user_name": "Alice",
            "password": PASSWORD,
            "attachment": SimpleUploadedFile("max.bin", b"\1" * ATTACHMENT_MAX_BYTES),
        },
    )

    assert response.status_code == 302
    assert User.objects.get(user_id="alice").attachment.size == ATTACHMENT_MAX_BYTES


def test_an_oversized_upload_on_edit_changes_nothing(client, media_root):
    user_create(
        user_id="alice",
        user_name="Alice",
        password=PASSWORD,
        attachment=SimpleUploadedFile("one.txt", b"1"),
    )
    client.force_login(User.objects.get(user_id="alice"))

    response = client.post(
        "/users/alice/edit/",
        {
            "user_name": "Alicia",
            "password": "",
            "comment": "",
            "attachment": SimpleUploadedFile("big.bin", b"\0" * (ATTACHMENT_MAX_BYTES + 1)),
        },
    )

    assert response.status_code == 200
    assert "The file is larger than the 10 MB limit." in response.content.decode()
    stored = User.objects.get(user_id="alice")
    assert (stored.user_name, stored.attachment_filename) == ("Alice", "one.txt")


def test_edit_replaces_the_attachment(client, media_root):
    user_create(
        user_id="alice",
        user_name="Alice",
        password=PASSWORD,
        attachment=SimpleUploadedFile("one.txt", b"1"),
    )
    client.force_login(User.objects.get(user_id="alice"))

    response = client.post(
        "/users/alice/edit/",
        {
            "user_name": "Alice",
            "password": "",
            "comment": "",
            "attachment": SimpleUploadedFile("two.txt", b"2"),
        },
    )

    assert response.status_code == 302
    assert download(client, "alice")[1] == b"2"


def test_without_an_attachment_the_download_is_a_404(client):
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)

    assert download(client, "alice")[0] == 404


def test_a_file_missing_from_the_storage_is_a_404(client, media_root):
    user_create(
        user_id="alice",
        user_name="Alice",
        password=PASSWORD,
        attachment=SimpleUploadedFile("gone.txt", b"x"),
    )
    (media_root / "attachments" / "alice" / "gone.txt").unlink()

    assert download(client, "alice")[0] == 404


def test_the_api_accepts_a_multipart_upload_and_links_the_download(client):
    response = client.post(
        "/api/users/",
        {
            "user_id": "bob",
            "user_name": "Bob",
            "password": PASSWORD,
            "attachment": SimpleUploadedFile("cv.txt", b"cv"),
        },
    )

    assert response.status_code == 201, response.content
    assert response.json()["attachment"] == {
        "filename": "cv.txt",
        "url": "http://testserver/users/bob/attachment",
    }
    assert download(client, "bob")[1] == b"cv"


def test_the_api_refuses_an_upload_over_the_limit(client):
    response = client.post(
        "/api/users/",
        {
            "user_id": "bob",
            "user_name": "Bob",
            "password": PASSWORD,
            "attachment": SimpleUploadedFile("big.bin", b"\0" * (ATTACHMENT_MAX_BYTES + 1)),
        },
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"attachment": ["The file is larger than the 10 MB limit."]}
