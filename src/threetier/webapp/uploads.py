"""Refuse oversized uploads while they arrive, not after they are spooled to disk.

`SizeLimitUploadHandler` runs before Django's own handlers: once a file passes the
attachment limit it skips the rest of that file (the request's other fields still
parse) and remembers the field, and `refuse_oversized_uploads` turns that into the
usual field error. The services check the size again for callers that are not HTTP.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

from threetier.webapp.errors import ServiceError
from threetier.webapp.users.rules import ATTACHMENT_MAX_BYTES, attachment_too_large_message

_OVERSIZED = "threetier_oversized_uploads"


class SizeLimitUploadHandler(FileUploadHandler):
    """Passes chunks on until a file exceeds ATTACHMENT_MAX_BYTES, then skips that file."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > ATTACHMENT_MAX_BYTES:
            oversized = getattr(self.request, _OVERSIZED, set())
            oversized.add(self.field_name)
            setattr(self.request, _OVERSIZED, oversized)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) builds the file


def refuse_oversized_uploads(request: HttpRequest) -> None:
    """Raise the field error for every file SizeLimitUploadHandler skipped in `request`."""
    oversized = getattr(request, _OVERSIZED, set())
    if oversized:
        raise ServiceError(
            "An uploaded file is too large.",
            field_errors={name: [attachment_too_large_message()] for name in sorted(oversized)},
        )
