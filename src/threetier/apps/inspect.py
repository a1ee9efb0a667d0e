"""`python -m threetier.apps.inspect`, run in the app's own venv: its Django settings,
evaluated under a probe environment of the contract (made-up values: a database URL, a
host, a secret key, static and media roots), printed as one JSON object of facts. The
HA-readiness rules (threetier.checks.readiness) compare the facts with the probe: a
setting that does not take the probe's value does not read the contract.

Nothing connects anywhere: only the settings module is imported (no django.setup()).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

from threetier.runtime import contract

PROBE_HOST = "threetier-probe.example"
PROBE_DB = {"host": "probe-db.threetier.internal", "port": "5432", "name": "probe_db", "user": "probe_user"}
PROBE_SECRET = "threetier-probe-secret-key-not-a-real-one-0123456789"  # noqa: S105 - a made-up value
PROBE_STATIC = "/threetier-probe/static"
PROBE_MEDIA = "/threetier-probe/media"


def probe_environment(app_dir: str, settings: str) -> dict[str, str]:
    """The contract's variables with made-up values, as an instance's process would see them."""
    env = contract.app_environment(contract.AppConfig(
        db_host=PROBE_DB["host"], db_port=PROBE_DB["port"], db_name=PROBE_DB["name"],
        allowed_hosts=[PROBE_HOST], csrf_trusted_origins=[f"https://{PROBE_HOST}"], secure_cookies=True,
        static_root=PROBE_STATIC, media_root=PROBE_MEDIA, db_sslmode="require",
        app=contract.AppIdentity(wsgi="probe:application", settings=settings, directory=app_dir),
    ))
    env.update({contract.DB_USER: PROBE_DB["user"], contract.DB_PASSWORD.value_variable: "probe-password",
                contract.SECRET_KEY.value_variable: PROBE_SECRET,
                **contract.instance_environment("probe-1a", "probe-az-1a")})
    env.update(contract.process_environment(env))
    return env


def _storage_backend(settings: object) -> str:
    storages = getattr(settings, "STORAGES", None) or {}
    default = storages.get("default", {}) if isinstance(storages, dict) else {}
    return default.get("BACKEND") or getattr(settings, "DEFAULT_FILE_STORAGE", "") or ""


def _log_files(logging: object) -> list[str]:
    handlers = logging.get("handlers", {}) if isinstance(logging, dict) else {}
    return sorted(str(h["filename"]) for h in handlers.values() if isinstance(h, dict) and h.get("filename"))


def facts() -> dict:
    from django.conf import settings  # noqa: PLC0415 - the app's Django, in its venv

    databases = {
        alias: {k: (str(v) if k == "NAME" else v) for k, v in db.items()
                if k in ("ENGINE", "NAME", "HOST", "PORT", "USER", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}
        for alias, db in settings.DATABASES.items()
    }
    caches = {alias: {"BACKEND": c.get("BACKEND", ""), "LOCATION": str(c.get("LOCATION", ""))}
              for alias, c in getattr(settings, "CACHES", {}).items()}
    return {
        "django": True,
        "databases": databases,
        "caches": caches,
        "session_engine": settings.SESSION_ENGINE,
        "session_cache_alias": getattr(settings, "SESSION_CACHE_ALIAS", "default"),
        "session_file_path": str(getattr(settings, "SESSION_FILE_PATH", None) or ""),
        "debug": bool(settings.DEBUG),
        "allowed_hosts": list(settings.ALLOWED_HOSTS),
        "secret_key_from_contract": settings.SECRET_KEY == PROBE_SECRET,
        "static_root": str(settings.STATIC_ROOT or ""),
        "static_url": str(settings.STATIC_URL or ""),
        "media_root": str(settings.MEDIA_ROOT or ""),
        "storage_backend": _storage_backend(settings),
        "log_files": _log_files(getattr(settings, "LOGGING", {})),
        "postgres_driver": bool(importlib.util.find_spec("psycopg") or importlib.util.find_spec("psycopg2")),
    }


def main() -> int:
    app_dir, settings_module = os.environ.get(contract.APP_DIR, ""), os.environ.get(contract.SETTINGS, "")
    os.environ.update(probe_environment(app_dir, settings_module))
    if app_dir and app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    result = {"app_dir": app_dir, "probe": {"host": PROBE_HOST, "db": PROBE_DB, "static_root": PROBE_STATIC,
                                            "media_root": PROBE_MEDIA}}
    try:
        result.update(facts() if settings_module else {"django": False})
    except Exception as exc:  # noqa: BLE001 - a settings module that fails to import is itself a finding
        result["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
