"""Who may change the registry, for the API (the HTML views apply the same rule through
User.can_be_changed_by): reading is open, signing up is open to anonymous visitors and
staff, changing or deleting a record needs its owner or staff."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from threetier.webapp.users.models import User


class RegistryPermission(BasePermission):

    def has_permission(self, request: Request, view: object) -> bool:
        if request.method in SAFE_METHODS:
            return True
        user = request.user
        if request.method == "POST":
            # Sign-up: anonymous visitors; staff create users for others. A signed-in
            # user who is not staff already has an account.
            if user.is_authenticated and not user.is_staff:
                raise PermissionDenied(_("You are signed in already; only staff create users for others."))
            return True
        return user.is_authenticated

    def has_object_permission(self, request: Request, view: object, obj: User) -> bool:
        if request.method in SAFE_METHODS or obj.can_be_changed_by(request.user):
            return True
        raise PermissionDenied(_("You may change only your own record."))
