"""Reading the registry. Views call these; they never query models themselves."""

from __future__ import annotations

from django.core.files import File
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from threetier.webapp.errors import ServiceError
from threetier.webapp.guards import CONTROL_CHARACTERS
from threetier.webapp.users.models import User

SEARCH_MAX_LENGTH = 50


def user_list(*, search: str = "") -> QuerySet[User]:
    """Users ordered by user_id; with `search`, those whose user_id or user_name starts
    with it, in any case (an index serves each: see User.Meta.indexes)."""
    users = User.objects.order_by("user_id")
    search = CONTROL_CHARACTERS.sub("", search).strip()[:SEARCH_MAX_LENGTH]
    if search:
        users = users.filter(Q(user_id__istartswith=search) | Q(user_name__istartswith=search))
    return users


def user_get(*, user_id: str) -> User:
    """The user with this id, or a 404 ServiceError."""
    try:
        return User.objects.get(user_id=user_id)
    except User.DoesNotExist:
        raise ServiceError.not_found(_("User %(user_id)r") % {"user_id": user_id}) from None


def user_attachment_open(*, user: User) -> File:
    """The user's attachment opened for reading from the shared storage, or a 404 ServiceError."""
    if not user.attachment:
        raise ServiceError.not_found(_("An attachment of user %(user_id)r") % {"user_id": user.user_id})
    try:
        return user.attachment.storage.open(user.attachment.name, "rb")
    except FileNotFoundError:
        raise ServiceError.not_found(
            _("The attachment file of user %(user_id)r") % {"user_id": user.user_id}
        ) from None
