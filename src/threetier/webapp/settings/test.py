"""pytest: the database server is started by tests/webapp/conftest.py, which fills in
HOST/PORT/USER/PASSWORD; everything else as in production except the secret, the
password hasher (fast, tests hash many passwords) and plain static storage."""

from __future__ import annotations

from threetier.webapp.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-not-a-secret"  # noqa: S105 - a fixed value for tests
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
THREETIER_INSTANCE_NAME = "test-instance"
THREETIER_AZ = "test-az-1a"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Static files come straight from the app's folder (no collectstatic in unit tests).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
