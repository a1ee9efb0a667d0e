"""Reading the registry. Views call these; they never query models themselves."""

from __future__ import annotations

from django.core.files import File
from django.db.models import QuerySet

from threetier.webapp.errors import ServiceError
from threetier.webapp.users.models import User


def user_list() -> QuerySet[User]:
    """Every user, ordered by user_id."""
    return User.objects.order_by("user_id")


def user_get(*, user_id: str) -> User:
    """The user with this id, or a 404 ServiceError."""
    try:
        return User.objects.get(user_id=user_id)
    except User.DoesNotExist:
        raise ServiceError.not_found(f"User {user_id!r}") from None


def user_attachment_open(*, user: User) -> File:
    """The user's attachment opened for reading from the shared storage, or a 404 ServiceError."""
    if not user.attachment:
        raise ServiceError.not_found(f"An attachment of user {user.user_id!r}")
    try:
        return user.attachment.storage.open(user.attachment.name, "rb")
    except FileNotFoundError:
        raise ServiceError.not_found(f"The attachment file of user {user.user_id!r}") from None
