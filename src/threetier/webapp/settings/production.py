"""gunicorn behind the load balancer: secret, hosts, static root and (for the
filesystem backend) the shared media root are required; DEBUG off; secure cookies
unless THREETIER_SECURE_COOKIES=false; hashed, compressed static files."""

from __future__ import annotations

import os

from threetier.webapp.settings.base import *  # noqa: F403
from threetier.webapp.settings.builders import storages_config
from threetier.webapp.settings.env import SettingsError, env_list, env_secret, env_str

DEBUG = False
SECRET_KEY = env_secret("THREETIER_SECRET_KEY")

ALLOWED_HOSTS = env_list("THREETIER_ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    # Without it every request is refused with 400: the seeds' server_name trap.
    raise SettingsError(
        "THREETIER_ALLOWED_HOSTS is not set, so Django would refuse every request",
        fix="set THREETIER_ALLOWED_HOSTS to the names clients use, "
        "e.g. the load balancer's DNS name",
    )

STATIC_ROOT = env_str("THREETIER_STATIC_ROOT")
STORAGES = storages_config(
    os.environ,
    default_media_root=None,
    # Hashed, compressed file names that browsers may cache forever; needs collectstatic.
    static_backend="threetier.webapp.staticfiles.CompressedManifestStorage",
)
MEDIA_ROOT = STORAGES["default"]["OPTIONS"].get("location", "")
