"""Changing the registry: every rule is checked here, so the HTML forms and the JSON
API cannot disagree. Failures raise ServiceError with messages per field.

>>> user = user_create(user_id="alice", user_name="Alice", password="correct horse")
>>> user.password.startswith("pbkdf2_sha256$")
True
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy

from threetier.webapp.errors import ServiceError
from threetier.webapp.users import rules
from threetier.webapp.users.models import User

INVALID = gettext_lazy("The user could not be saved; see the fields marked.")
DUPLICATE_USER_ID = gettext_lazy("A user with this user ID already exists.")


def user_create(
    *,
    user_id: str,
    user_name: str,
    password: str,
    comment: str = "",
    attachment: File | None = None,
) -> User:
    """A new user with `password` stored as a Django hash and an optional attachment."""
    user = User(user_id=user_id, user_name=user_name, comment=comment)
    errors = _validate(user, password=password, password_required=True, attachment=attachment)
    if errors:
        raise ServiceError(str(INVALID), field_errors=errors)
    user.set_password(password)
    if attachment is not None:
        user.attachment = attachment  # written to the shared storage by save()
    try:
        with transaction.atomic():
            # force_insert: a same-id user created meanwhile fails instead of being overwritten.
            user.save(force_insert=True)
    except IntegrityError:
        _delete_file(user.attachment.name if user.attachment else "")
        raise ServiceError(str(INVALID), field_errors={"user_id": [str(DUPLICATE_USER_ID)]}) from None
    return user


def user_update(
    *,
    user: User,
    user_name: str | None = None,
    comment: str | None = None,
    password: str | None = None,
    attachment: File | None = None,
    remove_attachment: bool = False,
) -> User:
    """Change the given fields; None keeps a field, and an empty password keeps the old hash.

    A new attachment replaces the old one, whose file is deleted once the change commits.
    """
    if user_name is not None:
        user.user_name = user_name
    if comment is not None:
        user.comment = comment
    errors = _validate(user, password=password, password_required=False, attachment=attachment)
    if errors:
        user.refresh_from_db()  # drop the rejected values from the caller's object
        raise ServiceError(str(INVALID), field_errors=errors)
    if password:
        user.set_password(password)
    old_file = user.attachment.name if user.attachment else ""
    if attachment is not None:
        user.attachment = attachment
    elif remove_attachment:
        user.attachment = ""
    with transaction.atomic():
        user.save()
        if old_file and old_file != (user.attachment.name or ""):
            transaction.on_commit(lambda: _delete_file(old_file))
    return user


def user_delete(*, user: User) -> None:
    """Remove the user, and its attachment file once the deletion commits."""
    old_file = user.attachment.name if user.attachment else ""
    with transaction.atomic():
        user.delete()
        if old_file:
            transaction.on_commit(lambda: _delete_file(old_file))


def _validate(
    user: User, *, password: str | None, password_required: bool, attachment: File | None
) -> dict:
    errors: dict[str, list[str]] = {}
    try:
        # Model validators: lengths, characters, required fields and the unique user_id.
        user.full_clean(exclude=["password", "attachment"])
    except ValidationError as error:
        errors.update(ServiceError.from_validation_error(error).field_errors)
    for field, messages in (
        ("password", rules.password_errors(password, required=password_required, user=user)),
        ("attachment", rules.attachment_errors(attachment)),
    ):
        if messages:
            errors[field] = messages
    return errors


def _delete_file(name: str) -> None:
    if name:
        User.attachment.field.storage.delete(name)  # the field behind the descriptor
