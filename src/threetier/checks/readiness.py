"""HA-readiness of a user's app (`threetier check`, the drills' report): what breaks when
an app runs on two instances behind a load balancer with a failover database, found in
its settings as evaluated under the contract (threetier.apps.inspect). Each finding
names the setting (`where`) and says what breaks and the fix (docs/apps.md has the
settings snippet every fix comes from).

>>> readiness_findings(facts, spec)   # [Finding("error", "app-readiness", "sqlite", ...), ...]
"""

from __future__ import annotations

from pathlib import Path

from threetier.checks.findings import Finding
from threetier.spec import Spec

SOURCE = "app-readiness"
SNIPPET = "see docs/apps.md, 'The settings snippet'"
LOCAL_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.filebased.FileBasedCache")
FILE_STORAGE = "django.core.files.storage.FileSystemStorage"
CACHE_SESSIONS = ("django.contrib.sessions.backends.cache",)
FILE_SESSIONS = "django.contrib.sessions.backends.file"


def _finding(severity: str, rule: str, where: str, message: str) -> Finding:
    return Finding(severity, SOURCE, rule, where, message)  # type: ignore[arg-type]


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Django's own ALLOWED_HOSTS matching (django.http.request.validate_host), without Django."""
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern == "*" or pattern == host or (pattern.startswith(".") and (
                host.endswith(pattern) or host == pattern[1:])):
            return True
    return False


def _inside(path: str, directory: str) -> bool:
    return bool(path and directory) and Path(path).is_relative_to(directory)


def readiness_findings(facts: dict, spec: Spec) -> list[Finding]:
    if facts.get("error"):
        return [_finding("error", "settings-import", spec.app.settings or "app.settings",
                         f"the app's settings do not import under the contract's environment: {facts['error']}; "
                         f"fix the settings so they read the environment ({SNIPPET})")]
    if not facts.get("django"):
        return [_finding("info", "not-django", "app.wsgi",
                         "not a Django app: threetier cannot read its settings; make sure it reads DATABASE_URL, "
                         "THREETIER_ALLOWED_HOSTS and THREETIER_SECRET_KEY, and keeps no state on the instance")]
    return [*_database(facts), *_caches_and_sessions(facts), *_hosts_and_secrets(facts, spec),
            *_files(facts, spec)]


def _database(facts: dict) -> list[Finding]:
    found = []
    probe = facts["probe"]["db"]
    for alias, db in facts["databases"].items():
        where = f"DATABASES[{alias!r}]"
        engine = db.get("ENGINE", "")
        if engine.endswith("sqlite3"):
            found.append(_finding(
                "error", "sqlite", f"{where}['ENGINE']",
                f"SQLite (file {db.get('NAME')}): each instance writes its own file, so users see different data "
                "depending on the instance, and the failover database is never used; fix: "
                "DATABASES = {'default': dj_database_url.config(conn_max_age=60, conn_health_checks=True)} "
                f"(reads DATABASE_URL; {SNIPPET})"))
            continue
        if "postgresql" not in engine:
            found.append(_finding("warning", "database-engine", f"{where}['ENGINE']",
                                  f"{engine}: threetier's database tier is PostgreSQL; read DATABASE_URL ({SNIPPET})"))
            continue
        if alias == "default" and (db.get("HOST") != probe["host"] or db.get("NAME") != probe["name"]):
            found.append(_finding(
                "error", "database-url", where,
                f"does not read the contract's database (HOST {db.get('HOST')!r}, NAME {db.get('NAME')!r}): the "
                "instances would not reach the system's database; fix: dj_database_url.config() reads DATABASE_URL "
                f"({SNIPPET})"))
        age, checks = db.get("CONN_MAX_AGE", 0), db.get("CONN_HEALTH_CHECKS", False)
        if (age is None or age > 0) and not checks:
            found.append(_finding(
                "warning", "stale-connections", f"{where}['CONN_HEALTH_CHECKS']",
                f"CONN_MAX_AGE = {age} without CONN_HEALTH_CHECKS: after a database failover every thread's "
                "first request fails on its dead connection (500); fix: CONN_HEALTH_CHECKS = True "
                "(dj_database_url.config(conn_health_checks=True))"))
        elif age == 0:
            found.append(_finding(
                "info", "connection-per-request", f"{where}['CONN_MAX_AGE']",
                "CONN_MAX_AGE = 0: a new database connection per request (safe across a failover, slower); "
                "CONN_MAX_AGE = 60 with CONN_HEALTH_CHECKS = True keeps both"))
    if facts["databases"] and not facts.get("postgres_driver"):
        found.append(_finding("error", "postgres-driver", "app.requirements",
                              "no PostgreSQL driver in the app's requirements; fix: add psycopg[binary]"))
    return found


def _caches_and_sessions(facts: dict) -> list[Finding]:
    found = []
    local = {alias for alias, cache in facts["caches"].items() if cache["BACKEND"] in LOCAL_CACHES}
    for alias in sorted(local):
        backend = facts["caches"][alias]["BACKEND"].rsplit(".", 1)[-1]
        found.append(_finding(
            "warning", "local-cache", f"CACHES[{alias!r}]['BACKEND']",
            f"{backend}: each instance caches on its own, so instances answer differently and an invalidation "
            "reaches one of them; fix: a shared cache (django.core.cache.backends.db.DatabaseCache, "
            "`manage.py createcachetable` in app.migrate, or Redis/ElastiCache)"))
    engine = facts["session_engine"]
    if engine in CACHE_SESSIONS and facts["session_cache_alias"] in local:
        found.append(_finding(
            "error", "local-sessions", "SESSION_ENGINE",
            f"{engine} on the instance-local cache {facts['session_cache_alias']!r}: a session lives on one "
            "instance, so users are logged out whenever the load balancer sends them to another (and when an "
            "instance is replaced); fix: SESSION_ENGINE = 'django.contrib.sessions.backends.db' (the default)"))
    elif engine == FILE_SESSIONS:
        found.append(_finding(
            "error", "local-sessions", "SESSION_ENGINE",
            f"{engine}: sessions in files on the instance's own disk ({facts['session_file_path'] or 'the temp dir'}) "
            "are lost across instances; fix: SESSION_ENGINE = 'django.contrib.sessions.backends.db'"))
    return found


def _hosts_and_secrets(facts: dict, spec: Spec) -> list[Finding]:
    found = []
    if facts["debug"]:
        found.append(_finding(
            "error", "debug", "DEBUG",
            "DEBUG = True: every error page shows settings and code to visitors, and each worker keeps every "
            "query in memory; fix: DEBUG = os.environ.get('DJANGO_DEBUG') == '1' (never set on the system)"))
    hosts = facts["allowed_hosts"]
    if not host_allowed(facts["probe"]["host"], hosts):
        found.append(_finding(
            "error", "allowed-hosts", "ALLOWED_HOSTS",
            f"{hosts} refuses the Host the load balancer and the domain send: every request 400; fix: "
            "ALLOWED_HOSTS = os.environ['THREETIER_ALLOWED_HOSTS'].split(',')"))
    if spec.app.health_path and "*" not in hosts:
        found.append(_finding(
            "error", "health-check-host", "ALLOWED_HOSTS",
            f"the load balancer's health checker requests {spec.app.health_path} with the instance's private address "
            f"as Host, which {hosts} refuses (400): every target unhealthy; fix: unset app.health_path (threetier's "
            "/healthz answers before ALLOWED_HOSTS) or exempt the health path from host validation"))
    if not facts["secret_key_from_contract"]:
        found.append(_finding(
            "warning", "secret-key", "SECRET_KEY",
            "does not read THREETIER_SECRET_KEY: a key in the code is in every copy of it, and instances with "
            "different keys reject each other's sessions and signed cookies; fix: "
            "SECRET_KEY = os.environ['THREETIER_SECRET_KEY']"))
    return found


def _files(facts: dict, spec: Spec) -> list[Finding]:
    found = []
    probe, app_dir = facts["probe"], facts.get("app_dir", "")
    if spec.app.collectstatic and not facts["static_root"]:
        found.append(_finding("error", "static-root", "STATIC_ROOT",
                              "not set: collectstatic has nowhere to write; fix: "
                              "STATIC_ROOT = os.environ.get('THREETIER_STATIC_ROOT')"))
    elif facts["static_root"] != probe["static_root"]:
        found.append(_finding("warning", "static-root", "STATIC_ROOT",
                              f"{facts['static_root']} is not THREETIER_STATIC_ROOT, where nginx serves /static/ "
                              "from; fix: STATIC_ROOT = os.environ.get('THREETIER_STATIC_ROOT')"))
    if facts["static_url"].strip("/") != "static":
        found.append(_finding("warning", "static-url", "STATIC_URL",
                              f"{facts['static_url']!r}: nginx serves the collected files at /static/; "
                              "fix: STATIC_URL = '/static/'"))
    backend = facts["storage_backend"]
    if spec.storage.media_backend == "s3" and backend.endswith("FileSystemStorage"):
        found.append(_finding(
            "error", "media-on-local-disk", "STORAGES['default']",
            "uploads go to the instance's local disk while storage.media_backend = 's3': each instance keeps its "
            "own and a replaced instance loses them; fix: STORAGES['default'] = {'BACKEND': "
            "'storages.backends.s3.S3Storage', 'OPTIONS': {'bucket_name': os.environ['THREETIER_MEDIA_BUCKET']}} "
            "(django-storages[s3])"))
    elif backend.endswith("FileSystemStorage") and facts["media_root"] != probe["media_root"]:
        found.append(_finding(
            "warning", "media-root", "MEDIA_ROOT",
            f"{facts['media_root'] or '(unset)'} is not the shared media root (THREETIER_MEDIA_ROOT: EFS on AWS, the "
            "twin's shared directory): an upload is only on the instance that took it; "
            "fix: MEDIA_ROOT = os.environ.get('THREETIER_MEDIA_ROOT')"))
    writes = [("LOGGING handler", path) for path in facts["log_files"]]
    writes += [(f"CACHES[{a!r}]['LOCATION']", c["LOCATION"]) for a, c in facts["caches"].items()
               if c["BACKEND"].endswith("FileBasedCache")]
    if facts["session_engine"] == FILE_SESSIONS:
        writes.append(("SESSION_FILE_PATH", facts["session_file_path"]))
    writes += [(f"DATABASES[{a!r}]['NAME']", d.get("NAME", "")) for a, d in facts["databases"].items()
               if d.get("ENGINE", "").endswith("sqlite3")]
    for where, path in writes:
        if _inside(path, app_dir):
            found.append(_finding(
                "warning", "writes-in-app-dir", where,
                f"writes {path}, under the app's directory and outside the media root: on EC2 the release is "
                "read-only to the app and each instance has its own; fix: logs to stdout (the log group), state "
                "in the database or under THREETIER_MEDIA_ROOT"))
    return found


def app_findings(spec: Spec) -> list[Finding]:
    """`check`'s part: the user's app inspected in its venv (the twin's, under its state
    directory: built once when missing); nothing for the bundled registry."""
    from threetier.apps.identity import AppSource  # noqa: PLC0415 - only with a user's app
    from threetier.apps.readiness import inspect_app  # noqa: PLC0415
    from threetier.errors import ThreetierError  # noqa: PLC0415
    from threetier.local.layout import resolve_state_dir  # noqa: PLC0415

    source = AppSource.of(spec)
    if source is None:
        return []
    try:
        facts = inspect_app(source, resolve_state_dir(spec.env_name, spec.local.state_dir) / "app",
                            settings=spec.app.settings or "")
    except ThreetierError as error:
        details = " / ".join(error.details)
        return [_finding("error", "inspect", "app", f"{error.message} {details}; fix: {error.fix}")]
    return readiness_findings(facts, spec)


def drill_notes(spec: Spec) -> list[str]:
    """The drills' report on a user's app: its HA-readiness findings (from the facts `up`
    saved) and the files it wrote under its own directory during the run."""
    from threetier.apps.readiness import load_facts  # noqa: PLC0415 - only with a user's app
    from threetier.apps.release import release_dir, unexpected_writes  # noqa: PLC0415
    from threetier.local.layout import resolve_state_dir  # noqa: PLC0415

    if spec.app.bundled:
        return []
    app_state = resolve_state_dir(spec.env_name, spec.local.state_dir) / "app"
    facts = load_facts(app_state)
    notes = [f"app readiness {f.severity}: {f.where}: {f.message}"
             for f in readiness_findings(facts, spec) if f.severity != "info"] if facts else []
    written = unexpected_writes(release_dir(app_state))
    if written:
        shown = ", ".join(written[:5]) + (f" and {len(written) - 5} more" if len(written) > 5 else "")
        notes.append(f"the app wrote under its own directory (lost with the instance, not seen by the others): {shown}")
    return notes
