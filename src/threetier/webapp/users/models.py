"""Seed 000's test table `users(user_id, user_name, password, comment)`, made safe and
made the site's accounts: the password column holds a Django password hash, never the
password, and a registry user signs in with user_id and password (AUTH_USER_MODEL).

Staff (`is_staff`) may change any record and use the admin; everyone else only their own.
"""

from __future__ import annotations

import posixpath

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MaxLengthValidator
from django.db import connections, models
from django.contrib.postgres.indexes import OpClass
from django.db.models.functions import Upper
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _

from threetier.webapp.users import rules


def attachment_path(user: User, filename: str) -> str:
    """attachments/<user_id>/<file name>: one folder per user in the shared storage."""
    return posixpath.join(
        "attachments", user.user_id, get_valid_filename(posixpath.basename(filename))
    )


class UserQuerySet(models.QuerySet):
    def count(self) -> int:
        """The number of users; for the whole registry, read from `users_count` (kept by
        triggers, migration 0005) instead of COUNT(*), which reads every entry of the
        primary key: each list page shows the total, and at 100,000 users that count was
        most of a page's cost. Anything filtered, sliced or combined counts as usual."""
        if self._result_cache is None and self._counts_every_row():
            with connections[self.db].cursor() as cursor:
                cursor.execute("SELECT n FROM users_count")
                row = cursor.fetchone()
            if row is not None:
                return int(row[0])
        return super().count()

    def _counts_every_row(self) -> bool:
        query = self.query
        return (
            connections[self.db].vendor == "postgresql"
            and not query.where
            and not query.is_sliced
            and not query.distinct
            and query.combinator is None
            and query.group_by is None
            and len(query.alias_map) <= 1
        )


class UserManager(BaseUserManager):
    """What `createsuperuser` and tests use; the site's pages and API go through services."""

    use_in_migrations = True

    def get_queryset(self) -> UserQuerySet:
        return UserQuerySet(self.model, using=self._db)

    def create_user(self, user_id: str, user_name: str = "", password: str | None = None, **extra: object) -> User:
        user = self.model(user_id=user_id, user_name=user_name or user_id, **extra)
        user.set_password(password)
        user.full_clean(exclude=["password", "attachment"])
        user.save(using=self._db)
        return user

    def create_superuser(self, user_id: str, user_name: str = "", password: str | None = None, **extra: object) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(user_id, user_name, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """One registry entry, which is also a login account (user_id + password)."""

    user_id = models.CharField(
        _("user ID"),
        primary_key=True,
        max_length=rules.USER_ID_MAX_LENGTH,
        validators=[rules.validate_user_id_characters, rules.validate_user_id_not_reserved],
        error_messages={"unique": _("A user with this user ID already exists.")},
    )
    user_name = models.CharField(_("user name"), max_length=rules.USER_NAME_MAX_LENGTH)
    # password (a hash from make_password: algorithm$iterations$salt$hash, 128 fits every
    # hasher) and last_login come from AbstractBaseUser.
    comment = models.TextField(
        _("comment"), blank=True, validators=[MaxLengthValidator(rules.COMMENT_MAX_LENGTH)]
    )
    attachment = models.FileField(_("attachment"), upload_to=attachment_path, blank=True, max_length=255)
    is_staff = models.BooleanField(
        _("staff"), default=False, help_text=_("May change every user and sign in to the admin.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "user_id"
    REQUIRED_FIELDS = ["user_name"]

    class Meta:
        db_table = "users"
        ordering = ["user_id"]
        verbose_name = _("registry user")
        verbose_name_plural = _("registry users")
        indexes = [
            # Search is a case-insensitive prefix match (selectors.user_list), which Django
            # writes as UPPER("col"::text) LIKE UPPER('x%'): these indexes are that
            # expression, and text_pattern_ops lets LIKE use them whatever the collation.
            models.Index(
                OpClass(Upper("user_id"), name="text_pattern_ops"),
                name="users_user_id_prefix",
            ),
            models.Index(
                OpClass(Upper("user_name"), name="text_pattern_ops"),
                name="users_user_name_prefix",
            ),
        ]

    def __str__(self) -> str:
        return self.user_id

    @property
    def attachment_filename(self) -> str:
        """The attachment's file name without its folder ("" when there is none)."""
        return posixpath.basename(self.attachment.name) if self.attachment else ""

    def can_be_changed_by(self, actor: object) -> bool:
        """Whether `actor` (a request's user, maybe anonymous) may edit or delete this record."""
        if not getattr(actor, "is_authenticated", False):
            return False
        return bool(actor.is_staff) or actor.pk == self.pk


class ThrottleWindow(models.Model):
    """How many requests one throttle key (scope and client, or user) made in one fixed
    window; users/throttles.py counts with one atomic upsert, so concurrent requests
    cannot all slip under the limit together."""

    key = models.CharField(max_length=200)
    window_start = models.BigIntegerField()  # Unix seconds
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "threetier_throttle"
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="threetier_throttle_window")]
        indexes = [models.Index(fields=["window_start"], name="threetier_throttle_age")]
