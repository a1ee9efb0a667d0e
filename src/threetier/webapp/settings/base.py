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
  THREETIER_DB_CONN_MAX_AGE      seconds a worker thread keeps its connection (default 60;
                                 0 = a new connection per request)
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
  THREETIER_TIME_ZONE            IANA zone pages show times in (default: the zone of
                                 AWS_DEFAULT_REGION, e.g. Asia/Tokyo, else UTC; the API is UTC)
  THREETIER_PROXY_COUNT          proxies in front that append to X-Forwarded-For (default 1:
                                 the twin's Caddy or an ALB; 2 for ALB → nginx), used to find
                                 the client's address for throttling and lockouts
  THREETIER_HSTS_SECONDS         Strict-Transport-Security max-age on HTTPS (default 1 year)
  THREETIER_PAGE_SIZE            users per page on /users/ and /api/users/ (default 25)
  THREETIER_SIGNUP_RATE          sign-ups per client address (default 10/minute)
  THREETIER_SIGNUP_RATE_ALL      sign-ups over all clients together (default 60/minute)
  THREETIER_API_WRITE_RATE       API writes per signed-in user (default 60/minute)
  THREETIER_SIGNIN_FAILURES      failed sign-ins per account or per client before a pause
                                 (default 5; the pause is 15 minutes)

Every connection asks for `target_session_attrs=read-write` and a connect timeout, so
after a database failover the app finds the new primary by itself; a kept connection is
checked in each request to still be on a node that takes writes (threetier.webapp.postgresql). Migrations are not
run here nor in wsgi: `threetier up` / the boot script runs `python -m threetier.webapp
migrate` once.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from datetime import timedelta

from django.utils.translation import gettext_lazy as _

from threetier.webapp.settings.builders import (
    LOG_LEVELS,
    csp_header,
    database_config,
    logging_config,
    display_time_zone,
    storages_config,
)
from threetier.webapp.settings.env import env_bool, env_choice, env_int, env_list, env_rate, env_str
from threetier.webapp.limits import BODY_MAX, MULTIPART_BODY_MAX

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
    "knox",
    "axes",
    "drf_spectacular",
    "threetier.webapp.users",
]

AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = [
    # First: counts failed sign-ins (site, admin and API) and refuses a paused account or client.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "signin"
LOGIN_REDIRECT_URL = "users:list"
LOGOUT_REDIRECT_URL = "users:list"

MIDDLEWARE = [
    # Outermost, so every response (errors and health checks too) names its instance
    # and carries the Content-Security-Policy.
    "threetier.webapp.middleware.InstanceHeadersMiddleware",
    "threetier.webapp.middleware.ContentSecurityPolicyMiddleware",
    # Before host validation and redirects: health checks come with the instance's
    # own address as Host, which ALLOWED_HOSTS need not list.
    "threetier.webapp.middleware.HealthCheckMiddleware",
    # Before anything reads the body or resolves the path: 404 for a NUL byte in the
    # path, 413 from Content-Length alone.
    "threetier.webapp.guards.MalformedPathMiddleware",
    "threetier.webapp.guards.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "threetier.webapp.errors.ServiceErrorMiddleware",
    # Last: turns a paused sign-in into its 429 page.
    "axes.middleware.AxesMiddleware",
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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {"default": database_config(os.environ)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A database table every instance shares, so anything cached is the same whichever
# instance a request lands on (a per-process cache would differ between them).
# users/migrations/0003 creates the table, so `migrate` is all a deployment runs.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "threetier_cache",
        "OPTIONS": {"MAX_ENTRIES": 50_000, "CULL_FREQUENCY": 4},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("user_id", "user_name")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# English and Japanese (the seeds' readers), chosen by Accept-Language or the switcher.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
# Stored in UTC; pages show the parameters' zone (Asia/Tokyo for ap-northeast-1).
USE_TZ = True
TIME_ZONE = display_time_zone(os.environ)

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
# The body caps (every hop: load balancer, nginx, here): a multipart request may carry
# one attachment plus the form's other fields; anything else is JSON or a small form.
# guards.BodySizeLimitMiddleware answers 413 from Content-Length before reading a byte.
THREETIER_MULTIPART_BODY_MAX = MULTIPART_BODY_MAX  # 11 MiB
THREETIER_BODY_MAX = BODY_MAX
DATA_UPLOAD_MAX_MEMORY_SIZE = THREETIER_BODY_MAX
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100

# Behind a TLS-terminating load balancer (ALB / Caddy), which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = False
SESSION_COOKIE_SECURE = env_bool("THREETIER_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sent on HTTPS responses only (Django checks X-Forwarded-Proto); no includeSubDomains
# or preload: the app does not know what else lives under its domain.
SECURE_HSTS_SECONDS = env_int("THREETIER_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
SECURE_HSTS_PRELOAD = False
# No inline script or style anywhere (the 500 page's one <style> is allowed by its hash).
THREETIER_CSP = csp_header()

# The client's address, for throttles and sign-in lockouts: X-Forwarded-For as the
# proxies in front wrote it (see threetier.webapp.clients).
THREETIER_PROXY_COUNT = env_int("THREETIER_PROXY_COUNT", default=1)
THREETIER_PAGE_SIZE = env_int("THREETIER_PAGE_SIZE", default=25, minimum=1)

REST_FRAMEWORK = {
    # Scripts: a token from POST /api/auth/login/ (django-rest-knox: hashed at rest,
    # expiring, one per client, revocable). Browsers: their session, with CSRF; an
    # anonymous write from a browser is CSRF-checked too (users/authentication.py).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "threetier.webapp.users.authentication.AnonymousBrowserCsrf",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON (nesting bounded) and multipart for attachments; no urlencoded forms, which a
    # cross-origin page could post without the browser asking first.
    "DEFAULT_PARSER_CLASSES": [
        "threetier.webapp.parsers.BoundedJSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "signup": env_rate("THREETIER_SIGNUP_RATE", default="10/minute"),
        "signup_all": env_rate("THREETIER_SIGNUP_RATE_ALL", default="60/minute"),
        "api_write": env_rate("THREETIER_API_WRITE_RATE", default="60/minute"),
    },
    "NUM_PROXIES": THREETIER_PROXY_COUNT,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "threetier.webapp.errors.api_exception_handler",
}
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=7),
    "TOKEN_LIMIT_PER_USER": 10,
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_PREFIX": "tt_",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "threetier users registry",
    "DESCRIPTION": "The seeds' users table as a JSON API. Reads are public; writes need "
    "a token (POST /api/auth/login/) or a browser session with its CSRF token; "
    "sign-up (POST /api/users/) is open but throttled.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# Failed sign-ins (site, admin, API): per account and per client address, paused for
# 15 minutes after THREETIER_SIGNIN_FAILURES. A failure during the pause does not
# extend it, so nobody can keep another person's account locked forever.
AXES_FAILURE_LIMIT = env_int("THREETIER_SIGNIN_FAILURES", default=5, minimum=1)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Django's sign-in forms (ours, the admin's) and authenticate() call the user ID "username".
AXES_USERNAME_FORM_FIELD = "username"
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "threetier.webapp.clients.client_ip"
AXES_LOCKOUT_CALLABLE = "threetier.webapp.errors.signin_paused"
AXES_VERBOSE = False

THREETIER_LOG_LEVEL = env_choice("THREETIER_LOG_LEVEL", LOG_LEVELS, default="info")
LOGGING = logging_config(THREETIER_LOG_LEVEL, THREETIER_INSTANCE_NAME)
