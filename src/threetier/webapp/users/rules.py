"""The registry's rules, shared by the model, the services, the HTML forms and the API."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.validators import RegexValidator

USER_ID_MAX_LENGTH = 10  # seed 000: user_id varchar(10)
USER_NAME_MAX_LENGTH = 10  # seed 000: user_name varchar(10)
COMMENT_MAX_LENGTH = 2000
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
# Paths that would collide with a user's own URL (/users/new/).
RESERVED_USER_IDS = frozenset({"new"})

# user_id is part of URLs and file paths: keep it to characters that are safe in both.
validate_user_id_characters = RegexValidator(
    r"^[A-Za-z0-9_-]+\Z",
    "Use only letters, digits, '-' and '_'.",
    code="invalid_characters",
)


def validate_user_id_not_reserved(value: str) -> None:
    if value.lower() in RESERVED_USER_IDS:
        raise ValidationError("This user ID is reserved; choose another.", code="reserved")


def password_errors(password: str | None, *, required: bool) -> list[str]:
    """What is wrong with a new raw password (empty list when it is acceptable)."""
    if not password:
        return ["Enter a password."] if required else []
    if len(password) < PASSWORD_MIN_LENGTH:
        return [f"Use at least {PASSWORD_MIN_LENGTH} characters."]
    if len(password) > PASSWORD_MAX_LENGTH:
        return [f"Use at most {PASSWORD_MAX_LENGTH} characters."]
    return []


def attachment_errors(attachment: File | None) -> list[str]:
    """What is wrong with an uploaded attachment (empty list when it is acceptable)."""
    if attachment is None:
        return []
    if attachment.size is not None and attachment.size > ATTACHMENT_MAX_BYTES:
        return [attachment_too_large_message()]
    return []


def attachment_too_large_message() -> str:
    return f"The file is larger than the {ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB limit."
