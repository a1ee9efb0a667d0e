"""A developer's machine: `python -m threetier.webapp runserver` with DEBUG on.

The secret key here is a fixed, public development value: never use this module in
front of real users (production refuses to start without THREETIER_SECRET_KEY).
"""

from __future__ import annotations

from threetier.webapp.settings.base import *  # noqa: F403
from threetier.webapp.settings.env import env_bool, env_list, env_str

DEBUG = True
SECRET_KEY = env_str("THREETIER_SECRET_KEY", "local-development-only-not-a-secret")
ALLOWED_HOSTS = env_list("THREETIER_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
# runserver speaks plain HTTP.
SESSION_COOKIE_SECURE = env_bool("THREETIER_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
