"""Pure functions that turn the environment into Django setting values.

They take the environment as a mapping, so tests call them with a plain dict
instead of patching os.environ and re-importing settings modules.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import zoneinfo
from collections.abc import Mapping
from typing import Any

from threetier.webapp.settings.env import (
    SettingsError,
    env_choice,
    env_int,
    env_list,
    env_secret_or_file,
    env_str,
)

MEDIA_BACKENDS = ("filesystem", "s3")
# Seconds a worker thread keeps its database connection (then it opens a new one, which
# also picks up a moved RDS endpoint). 0 would be a new connection per request.
DEFAULT_CONN_MAX_AGE = 60
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# The one inline <style> of the whole app: templates/500.html, which must render when
# static files are what failed. Its hash goes into the CSP (a test keeps them equal).
ERROR_PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:3rem auto;max-width:40rem;color:#222}small{color:#666}"
)


# Where each AWS region is, for pages shown to the people near it (the seeds: Tokyo).
REGION_TIME_ZONES = {
    "ap-northeast-1": "Asia/Tokyo", "ap-northeast-2": "Asia/Seoul", "ap-northeast-3": "Asia/Tokyo",
    "ap-east-1": "Asia/Hong_Kong", "ap-south-1": "Asia/Kolkata", "ap-south-2": "Asia/Kolkata",
    "ap-southeast-1": "Asia/Singapore", "ap-southeast-2": "Australia/Sydney", "ap-southeast-3": "Asia/Jakarta",
    "ap-southeast-4": "Australia/Melbourne", "ca-central-1": "America/Toronto", "eu-central-1": "Europe/Berlin",
    "eu-central-2": "Europe/Zurich", "eu-north-1": "Europe/Stockholm", "eu-south-1": "Europe/Rome",
    "eu-south-2": "Europe/Madrid", "eu-west-1": "Europe/Dublin", "eu-west-2": "Europe/London",
    "eu-west-3": "Europe/Paris", "me-central-1": "Asia/Dubai", "me-south-1": "Asia/Bahrain",
    "sa-east-1": "America/Sao_Paulo", "us-east-1": "America/New_York", "us-east-2": "America/New_York",
    "us-west-1": "America/Los_Angeles", "us-west-2": "America/Los_Angeles", "af-south-1": "Africa/Johannesburg",
}


def display_time_zone(environ: Mapping[str, str]) -> str:
    """TIME_ZONE: THREETIER_TIME_ZONE if set, else the zone of the parameters' region
    (AWS_DEFAULT_REGION, which every runtime sets: Asia/Tokyo for ap-northeast-1), else UTC."""
    explicit = env_str("THREETIER_TIME_ZONE", "", environ=environ)
    if explicit:
        return time_zone(explicit)
    return REGION_TIME_ZONES.get(env_str("AWS_DEFAULT_REGION", "", environ=environ), "UTC")


def time_zone(name: str) -> str:
    """An IANA zone name this Python knows (Asia/Tokyo, UTC)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"THREETIER_TIME_ZONE={name!r} is not a time zone",
            fix="set THREETIER_TIME_ZONE to an IANA name such as Asia/Tokyo or UTC",
        ) from None
    return name


def csp_header(inline_styles: tuple[str, ...] = (ERROR_PAGE_STYLE,)) -> str:
    """The Content-Security-Policy of every response: only this origin's scripts, styles,
    images and forms; no plugins, no framing, no <base> rewriting; `inline_styles` by hash."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()}'"
        for style in inline_styles
    )
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        f"style-src 'self' {hashes}".rstrip(),
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class ExpectedErrorFilter(logging.Filter):
    """Errors that are expected in production are logged as one line, not a traceback:
    the database unreachable during a failover (its traceback names hosts and ports),
    and a client's malformed request (a wrong Host header, too many fields)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from django.core.exceptions import SuspiciousOperation  # noqa: PLC0415 - settings load first
        from django.db import InterfaceError, OperationalError  # noqa: PLC0415

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, (OperationalError, InterfaceError, SuspiciousOperation)):
            first_line = (str(error).strip().splitlines() or [""])[0]
            what = "database unavailable" if isinstance(error, (OperationalError, InterfaceError)) else "refused"
            record.msg = f"{record.getMessage()}: {what} ({type(error).__name__}: {first_line})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def database_config(
    environ: Mapping[str, str], *, default_name: str = "uda_psql_db"
) -> dict[str, Any]:
    """DATABASES["default"] from THREETIER_DB_*.

    HOST and PORT may be comma lists ("10.0.1.5,10.0.2.5" / "5432,5432"): psycopg hands
    them to libpq, which tries each host in turn; `target_session_attrs=read-write`
    makes it skip a standby, so after a failover the next connection finds the new
    primary by itself.

    Connections persist (THREETIER_DB_CONN_MAX_AGE seconds, default 60; 0 = one per
    request, Django's default): opening one costs TCP, a SCRAM login and a new backend
    process (TLS too on RDS), over half of a small page's server CPU. They stay correct
    through a failover because CONN_HEALTH_CHECKS runs the ENGINE's check before a
    reused connection's first query in each request and after a failed one, and
    threetier.webapp.postgresql's check also asks that the node still takes writes: a
    connection to an old primary that came back read-only is closed, and the next one
    goes to the new primary.
    """
    hosts = env_list("THREETIER_DB_HOST", ["127.0.0.1"], environ=environ)
    ports = env_list("THREETIER_DB_PORT", ["5432"], environ=environ)
    if len(ports) not in (1, len(hosts)):
        raise SettingsError(
            f"THREETIER_DB_PORT lists {len(ports)} ports for the {len(hosts)} hosts "
            "in THREETIER_DB_HOST",
            fix="give one port for all hosts, or one port per host in the same order",
        )
    for port in ports:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(
                f"THREETIER_DB_PORT has {port!r}, not a port number", fix="use e.g. 5432"
            )
    options: dict[str, Any] = {
        "target_session_attrs": "read-write",
        "connect_timeout": env_int(
            "THREETIER_DB_CONNECT_TIMEOUT", default=3, minimum=1, environ=environ
        ),
        "application_name": "threetier-webapp",
    }
    sslmode = env_str("THREETIER_DB_SSLMODE", "", environ=environ)
    if sslmode:
        options["sslmode"] = sslmode
    return {
        "ENGINE": "threetier.webapp.postgresql",
        "HOST": ",".join(hosts),
        "PORT": ",".join(ports),
        "NAME": env_str("THREETIER_DB_NAME", default_name, environ=environ),
        "USER": env_str("THREETIER_DB_USER", "postgres", environ=environ),
        "PASSWORD": env_secret_or_file("THREETIER_DB_PASSWORD", environ=environ),
        "OPTIONS": options,
        "CONN_MAX_AGE": env_int(
            "THREETIER_DB_CONN_MAX_AGE", default=DEFAULT_CONN_MAX_AGE, minimum=0, environ=environ
        ),
        "CONN_HEALTH_CHECKS": True,
        "ATOMIC_REQUESTS": False,
    }


def storages_config(
    environ: Mapping[str, str], *, default_media_root: str | None, static_backend: str
) -> dict[str, Any]:
    """STORAGES: uploads on a shared file system (EFS / the twin's directory) or in S3.

    With `default_media_root=None`, THREETIER_MEDIA_ROOT is required for the filesystem
    backend (production: a silent local default would break sharing between instances).

    Both instances must see the same files, so a file uploaded through one downloads
    through the other.
    """
    backend = env_choice(
        "THREETIER_MEDIA_BACKEND", MEDIA_BACKENDS, default="filesystem", environ=environ
    )
    if backend == "s3":
        default = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": env_str("THREETIER_MEDIA_BUCKET", environ=environ),
                "location": "media",
                # Private bucket: never make objects public; downloads go through the app.
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
            },
        }
    else:
        default = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {
                "location": env_str("THREETIER_MEDIA_ROOT", default_media_root, environ=environ),
                "file_permissions_mode": 0o640,
                "directory_permissions_mode": 0o750,
            },
        }
    return {"default": default, "staticfiles": {"BACKEND": static_backend}}


def logging_config(level: str, instance: str) -> dict[str, Any]:
    """Everything to stderr, one line per event, tagged with the instance name.

    Nothing here logs request bodies or settings, so passwords and the secret key
    never reach a log line.
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {"format": f"%(asctime)s %(levelname)s {instance} %(name)s: %(message)s"},
        },
        "filters": {
            "expected_errors": {"()": "threetier.webapp.settings.builders.ExpectedErrorFilter"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
                "filters": ["expected_errors"],
            },
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "django": {"handlers": ["stderr"], "level": level, "propagate": False},
            # SQL with its parameters (password hashes) only ever at DEBUG with DEBUG=True.
            "django.db.backends": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
