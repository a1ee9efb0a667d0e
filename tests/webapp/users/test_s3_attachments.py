"""THREETIER_MEDIA_BACKEND=s3: the same upload and download path with django-storages'
S3 backend, against moto's in-process S3 (no network)."""

from __future__ import annotations

import boto3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from moto import mock_aws

from threetier.webapp.settings.builders import storages_config

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL

BUCKET = "threetier-media-test"


@pytest.fixture
def s3_media(settings, monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # In-process moto answers AWS's own URLs; tests/conftest.py points the rest elsewhere.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="ap-northeast-1")
        s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
        )
        settings.STORAGES = storages_config(
            {"THREETIER_MEDIA_BACKEND": "s3", "THREETIER_MEDIA_BUCKET": BUCKET},
            default_media_root=None,
            static_backend=settings.STORAGES["staticfiles"]["BACKEND"],
        )
        yield s3


def test_an_upload_lands_in_the_bucket_and_downloads_through_the_view(s3_media, settings):
    settings.THREETIER_INSTANCE_NAME = "web-1a"
    created = Client().post(
        "/users/new/",
        {
            "user_id": "alice",
            "user_name": "Alice",
            "password": "Pa55-word-1",
            "attachment": SimpleUploadedFile("notes.txt", b"from s3"),
        },
    )
    assert created.status_code == 302

    stored = s3_media.get_object(Bucket=BUCKET, Key="media/attachments/alice/notes.txt")
    assert stored["Body"].read() == b"from s3"

    settings.THREETIER_INSTANCE_NAME = "web-1c"
    response = Client().get("/users/alice/attachment")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"from s3"
    assert response["X-Threetier-Instance"] == "web-1c"


def test_a_missing_object_is_a_404(s3_media, client):
    client.post(
        "/users/new/",
        {
            "user_id": "bob",
            "user_name": "Bob",
            "password": "Pa55-word-1",
            "attachment": SimpleUploadedFile("gone.txt", b"x"),
        },
    )
    s3_media.delete_object(Bucket=BUCKET, Key="media/attachments/bob/gone.txt")

    assert client.get("/users/bob/attachment").status_code == 404
