"""SizeLimitUploadHandler: an oversized file is dropped while it arrives."""

from __future__ import annotations

import pytest
from django.core.files.uploadhandler import SkipFile
from django.test import RequestFactory

from threetier.webapp.errors import ServiceError
from threetier.webapp.uploads import SizeLimitUploadHandler, refuse_oversized_uploads
from threetier.webapp.users.rules import ATTACHMENT_MAX_BYTES

CHUNK = 64 * 1024


def feed(size: int):
    request = RequestFactory().post("/")
    handler = SizeLimitUploadHandler(request)
    handler.new_file("attachment", "f.bin", "application/octet-stream", size)
    received = 0
    for start in range(0, size, CHUNK):
        chunk = b"\0" * min(CHUNK, size - start)
        assert handler.receive_data_chunk(chunk, start) == chunk
        received += len(chunk)
    return request, received


def test_a_file_up_to_the_limit_passes_through_unchanged():
    request, received = feed(ATTACHMENT_MAX_BYTES)

    assert received == ATTACHMENT_MAX_BYTES
    refuse_oversized_uploads(request)  # nothing to refuse


def test_the_chunk_that_crosses_the_limit_skips_the_file_and_marks_the_field():
    with pytest.raises(SkipFile):
        feed(ATTACHMENT_MAX_BYTES + 1)


def test_a_marked_request_is_refused_with_a_field_error():
    request = RequestFactory().post("/")
    handler = SizeLimitUploadHandler(request)
    handler.new_file("attachment", "f.bin", "application/octet-stream", None)
    with pytest.raises(SkipFile):
        handler.receive_data_chunk(b"\0" * (ATTACHMENT_MAX_BYTES + 1), 0)

    with pytest.raises(ServiceError) as caught:
        refuse_oversized_uploads(request)

    assert caught.value.field_errors == {"attachment": ["The file is larger than the 10 MB limit."]}
