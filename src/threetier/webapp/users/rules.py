"""The registry's rules, shared by the model, the services, the HTML forms and the API."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.validators import RegexValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from threetier.webapp.limits import ATTACHMENT_MAX_BYTES

USER_ID_MAX_LENGTH = 10  # seed 000: user_id varchar(10)
USER_NAME_MAX_LENGTH = 10  # seed 000: user_name varchar(10)
COMMENT_MAX_LENGTH = 2000
PASSWORD_MAX_LENGTH = 128
ATTACHMENT_MAX_MIB = ATTACHMENT_MAX_BYTES // (1024 * 1024)
# Paths that would collide with a user's own URL (/users/new/).
RESERVED_USER_IDS = frozenset({"new"})
# What a user_id may look like in a URL: the same characters as the validator below.
USER_ID_URL_PATTERN = rf"[A-Za-z0-9_-]{{1,{USER_ID_MAX_LENGTH}}}"

# user_id is part of URLs and file paths: keep it to characters that are safe in both.
validate_user_id_characters = RegexValidator(
    r"^[A-Za-z0-9_-]+\Z",
    gettext_lazy("Use only letters, digits, '-' and '_'."),
    code="invalid_characters",
)


def validate_user_id_not_reserved(value: str) -> None:
    if value.lower() in RESERVED_USER_IDS:
        raise ValidationError(_("This user ID is reserved; choose another."), code="reserved")


def password_errors(password: str | None, *, required: bool, user: object = None) -> list[str]:
    """What is wrong with a new raw password (empty list when it is acceptable):
    AUTH_PASSWORD_VALIDATORS (length, similarity to the user's id and name, common and
    all-digit passwords), and a maximum so hashing cost stays bounded."""
    if not password:
        return [_("Enter a password.")] if required else []
    if len(password) > PASSWORD_MAX_LENGTH:
        return [_("Use at most %(count)d characters.") % {"count": PASSWORD_MAX_LENGTH}]
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as error:
        return list(error.messages)
    return []


def attachment_errors(attachment: File | None) -> list[str]:
    """What is wrong with an uploaded attachment (empty list when it is acceptable)."""
    if attachment is None:
        return []
    if attachment.size is not None and attachment.size > ATTACHMENT_MAX_BYTES:
        return [attachment_too_large_message()]
    return []


def attachment_too_large_message() -> str:
    return _("The file is larger than the %(size)d MB limit.") % {"size": ATTACHMENT_MAX_MIB}
