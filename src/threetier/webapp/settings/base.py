"""Settings shared by every environment, read only from environment variables.

The environment-variable contract (the local twin and the AWS user data set these):

  DJANGO_SETTINGS_MODULE         threetier.webapp.settings.production (or .local, .test)
  THREETIER_SECRET_KEY           Django's SECRET_KEY; required in production, no default
  THREETIER_DB_HOST              host, or comma list for libpq multi-host ("h1,h2")
  THREETIER_DB_PORT              port, or a comma list matching the hosts ("54320,54321")
  THREETIER_DB_NAME              database name (default uda_psql_db, the seeds' name)
  THREETIER_DB_USER              role the app logs in as
  THREETIER_DB_PASSWORD          its password, or
  THREETIER_DB_PASSWORD_FILE     a file holding it (read at start-up; keep it mode 0600)
  THREETIER_DB_SSLMODE           optional libpq sslmode (e.g. require on RDS)
  THREETIER_DB_CONNECT_TIMEOUT   seconds per host attempt (default 3)
  THREETIER_ALLOWED_HOSTS        comma list of Host names (required in production)
  THREETIER_CSRF_TRUSTED_ORIGINS comma list of origins, e.g. https://app.example.com
  THREETIER_INSTANCE_NAME        shown on every page and in X-Threetier-Instance (default: hostname)
  THREETIER_AZ                   shown on every page and in X-Threetier-AZ (default: unknown)
  THREETIER_MEDIA_BACKEND        filesystem (default) or s3
  THREETIER_MEDIA_ROOT           shared upload directory for filesystem (EFS / the twin's dir)
  THREETIER_MEDIA_BUCKET         S3 bucket for s3 (credentials from the instance role)
  THREETIER_STATIC_ROOT          where `collectstatic` writes; whitenoise serves from there
  THREETIER_SECURE_COOKIES       true/false: cookies only over HTTPS (production default true)
  THREETIER_LOG_LEVEL            debug/info/warning/error (default info)

Every connection asks for `target_session_attrs=read-write` and a connect timeout, so
after a database failover the app finds the new primary by itself. Migrations are not
run here nor in wsgi: `threetier up` / the boot script runs `python -m threetier.webapp
migrate` once.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from threetier.webapp.settings.builders import (
    LOG_LEVELS,
    database_config,
    logging_config,
    storages_config,
)
from threetier.webapp.settings.env import env_bool, env_choice, env_list, env_str

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Where a developer's uploads and collected static files go unless the environment says
# otherwise; production requires both variables (see production.py).
LOCAL_DATA_DIR = Path.home() / ".local" / "share" / "threetier-webapp"

# No secret and no DEBUG=True here: environments that need them set them.
DEBUG = False
SECRET_KEY: str  # set by each environment module

ALLOWED_HOSTS = env_list("THREETIER_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list("THREETIER_CSRF_TRUSTED_ORIGINS")

# Who served this request: shown on every page and in the X-Threetier-* headers.
THREETIER_INSTANCE_NAME = env_str("THREETIER_INSTANCE_NAME", socket.gethostname())
THREETIER_AZ = env_str("THREETIER_AZ", "unknown")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles, so runserver also serves static files through whitenoise.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "threetier.webapp.users",
]

MIDDLEWARE = [
    # Outermost, so every response (errors and health checks too) names its instance.
    "threetier.webapp.middleware.InstanceHeadersMiddleware",
    # Before host validation and redirects: health checks come with the instance's
    # own address as Host, which ALLOWED_HOSTS need not list.
    "threetier.webapp.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "threetier.webapp.errors.ServiceErrorMiddleware",
]

ROOT_URLCONF = "threetier.webapp.urls"
WSGI_APPLICATION = "threetier.webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "threetier.webapp.instance.served_by",
            ],
        },
    },
]

DATABASES = {"default": database_config(os.environ)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env_str("THREETIER_STATIC_ROOT", str(LOCAL_DATA_DIR / "static"))
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
STORAGES = storages_config(
    os.environ,
    default_media_root=str(LOCAL_DATA_DIR / "media"),
    static_backend="django.contrib.staticfiles.storage.StaticFilesStorage",
)
# Uploads are downloaded through a view (users/<id>/attachment), never from MEDIA_URL.
MEDIA_URL = "/media-is-served-by-the-attachment-view/"
MEDIA_ROOT = STORAGES["default"]["OPTIONS"].get("location", "")
# Small request bodies in memory, larger uploads spool to a temp file; files over the
# attachment limit are skipped as they arrive (uploads.py).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_HANDLERS = [
    "threetier.webapp.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Behind a TLS-terminating load balancer (ALB / Caddy), which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = False
SESSION_COOKIE_SECURE = env_bool("THREETIER_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    # The registry is an open demo like the seed's test app: no authentication, so a
    # non-browser client can POST without a CSRF token (see users/api.py).
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "threetier.webapp.errors.api_exception_handler",
}

THREETIER_LOG_LEVEL = env_choice("THREETIER_LOG_LEVEL", LOG_LEVELS, default="info")
LOGGING = logging_config(THREETIER_LOG_LEVEL, THREETIER_INSTANCE_NAME)
