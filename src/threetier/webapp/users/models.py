"""Seed 000's test table `users(user_id, user_name, password, comment)`, made safe:
the password column holds a Django password hash, never the password."""

from __future__ import annotations

import posixpath

from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils.text import get_valid_filename

from threetier.webapp.users import rules


def attachment_path(user: User, filename: str) -> str:
    """attachments/<user_id>/<file name>: one folder per user in the shared storage."""
    return posixpath.join(
        "attachments", user.user_id, get_valid_filename(posixpath.basename(filename))
    )


class User(models.Model):
    """One registry entry (not a login account: the admin's accounts are Django's own)."""

    user_id = models.CharField(
        "user ID",
        primary_key=True,
        max_length=rules.USER_ID_MAX_LENGTH,
        validators=[rules.validate_user_id_characters, rules.validate_user_id_not_reserved],
        error_messages={"unique": "A user with this user ID already exists."},
    )
    user_name = models.CharField("user name", max_length=rules.USER_NAME_MAX_LENGTH)
    # A hash from make_password (algorithm$iterations$salt$hash): 128 fits every hasher.
    password = models.CharField(max_length=128)
    comment = models.TextField(
        blank=True, validators=[MaxLengthValidator(rules.COMMENT_MAX_LENGTH)]
    )
    attachment = models.FileField(upload_to=attachment_path, blank=True, max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "users"
        ordering = ["user_id"]
        verbose_name = "registry user"

    def __str__(self) -> str:
        return self.user_id

    @property
    def attachment_filename(self) -> str:
        """The attachment's file name without its folder ("" when there is none)."""
        return posixpath.basename(self.attachment.name) if self.attachment else ""
