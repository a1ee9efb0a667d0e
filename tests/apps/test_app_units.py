"""The parts of a user's app that need no process: the [app] rules, the contract's app
identity and DATABASE_URL, the health middleware, the readiness rules on facts, the
release's record of what the app wrote, and the drills' routes."""

from __future__ import annotations

import copy

import pytest

from threetier.apps.health import HealthMiddleware
from threetier.apps.release import copy_release, unexpected_writes
from threetier.apps.routes import BUNDLED_ROUTES, PROBE_ROUTES, drill_routes, what_broke
from threetier.checks.readiness import readiness_findings
from threetier.runtime import contract
from threetier.spec import SpecError, load_spec, parse_spec


def spec_with(app: dict, **sections):
    data = copy.deepcopy(load_spec("default").model_dump(mode="json", exclude={"env_name", "base_dir"}))
    data["app"] = app
    data.update(sections)
    return parse_spec(data)


def test_the_default_is_the_bundled_registry_unchanged():
    spec = load_spec("default")
    assert spec.app.bundled and spec.app_source() is None
    env = contract.app_environment(contract.AppConfig(
        db_host="h", db_port="5432", db_name="d", allowed_hosts=["a"], csrf_trusted_origins=[], secure_cookies=True,
        static_root="/s", media_root="/m"))
    assert env[contract.SETTINGS] == contract.SETTINGS_MODULE and env[contract.APP_WSGI] == ""
    assert contract.gunicorn_command("py", bind="unix:/s", name="n")[3] == contract.WSGI_APP
    assert contract.app_identity(env) == contract.BUNDLED_APP


def test_app_keys_without_source_and_source_without_a_callable_are_refused():
    with pytest.raises(SpecError, match="app: wsgi set without source"):
        spec_with({"wsgi": "mysite.wsgi:application"})
    with pytest.raises(SpecError, match="neither wsgi nor settings"):
        spec_with({"source": "."})


def test_a_django_app_defaults_to_its_settings_packages_wsgi_and_resolves_its_source(tmp_path):
    spec = spec_with({"source": "mysite", "settings": "mysite.settings"})
    assert spec.app.wsgi_callable() == "mysite.wsgi:application"
    assert spec.app_source().name == "mysite" and spec.app_source().is_absolute()


def test_an_own_health_path_must_be_the_load_balancers():
    with pytest.raises(SpecError, match="set load_balancer.health_check.path = \"/health/\" too"):
        spec_with({"source": ".", "settings": "s.settings", "health_path": "/health/"})


def test_identity_travels_through_the_environment():
    app = contract.AppIdentity(wsgi="m.wsgi:application", settings="m.settings", directory="/srv/app",
                               migrate="", collectstatic=False, health_path="/h")
    assert contract.app_identity(contract.identity_environment(app)) == app
    assert contract.migrate_command("py", app) is None and contract.collectstatic_command("py", app) is None
    own = contract.AppIdentity(wsgi="m:a", settings="", directory="/x", migrate="python manage.py migrate")
    assert contract.migrate_command("/v/python", own) == [
        "/v/python", "-m", "threetier.runtime", "run", "--", "/v/python", "manage.py", "migrate"]
    assert contract.gunicorn_command("py", bind="b", name="n", app=own)[3] == contract.APP_WRAPPER


def test_database_url_from_the_discrete_variables_and_the_password_file(tmp_path):
    (tmp_path / "pw").write_text("p@ss/word\n")
    env = {contract.DB_HOST: "db.example", contract.DB_PORT: "5432", contract.DB_NAME: "app",
           contract.DB_USER: "uda_app", contract.DB_SSLMODE: "require",
           contract.DB_PASSWORD.variable: str(tmp_path / "pw")}
    added = contract.process_environment(env)
    assert added[contract.DATABASE_URL] == "postgres://uda_app:p%40ss%2Fword@db.example:5432/app?sslmode=require"
    assert added["PGPASSWORD"] == "p@ss/word" and added["PGTARGETSESSIONATTRS"] == "read-write"
    pair = contract.process_environment({**env, contract.DB_HOST: "127.0.0.1,127.0.0.1", contract.DB_PORT: "1,2"})
    # A URL holds one host: the pair is in libpq's own variables.
    assert pair[contract.DATABASE_URL].startswith("postgres://uda_app:p%40ss%2Fword@/app")
    assert (pair["PGHOST"], pair["PGPORT"]) == ("127.0.0.1,127.0.0.1", "1,2")


def call(app, path: str) -> tuple[str, dict, bytes]:
    seen = {}

    def start(status, headers, exc_info=None):  # noqa: ARG001 - WSGI's signature
        seen.update(status=status, headers=dict(headers))

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, start))
    return seen["status"], seen["headers"], body


def inner(environ, start_response):  # noqa: ARG001 - a WSGI app
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app"]


ENV = {contract.INSTANCE_NAME: "web-1a", contract.AZ: "ap-northeast-1a", contract.SETTINGS: "m.settings"}


def test_the_middleware_answers_health_names_the_instance_and_passes_the_rest():
    app = HealthMiddleware(inner, environ=ENV, ready=lambda: (False, "database: OperationalError"))
    assert call(app, "/healthz")[0] == "200 OK"
    status, headers, body = call(app, "/readyz")
    assert status.startswith("503") and headers["Retry-After"] and b"OperationalError" in body
    status, headers, body = call(app, "/page")
    assert body == b"app" and headers["X-Threetier-Instance"] == "web-1a" and headers["X-Threetier-AZ"]


def test_an_own_health_path_goes_to_the_app():
    app = HealthMiddleware(inner, environ={**ENV, contract.APP_HEALTH_PATH: "/healthz"}, ready=lambda: (True, ""))
    assert call(app, "/healthz")[2] == b"app"


def facts(**overrides) -> dict:
    base = {
        "django": True, "app_dir": "/srv/app",
        "probe": {"host": "threetier-probe.example", "static_root": "/p/static", "media_root": "/p/media",
                  "db": {"host": "probe-db", "name": "probe_db"}},
        "databases": {"default": {"ENGINE": "django.db.backends.postgresql", "HOST": "probe-db", "NAME": "probe_db",
                                  "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}},
        "caches": {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "t"}},
        "session_engine": "django.contrib.sessions.backends.db", "session_cache_alias": "default",
        "session_file_path": "", "debug": False, "allowed_hosts": ["threetier-probe.example"],
        "secret_key_from_contract": True, "static_root": "/p/static", "static_url": "/static/",
        "media_root": "/p/media", "storage_backend": "django.core.files.storage.FileSystemStorage",
        "log_files": [], "postgres_driver": True,
    }
    return {**base, **overrides}


APP = {"source": ".", "settings": "m.settings"}


def test_a_ready_app_has_no_finding():
    assert readiness_findings(facts(), spec_with(APP)) == []


def test_each_trap_names_its_setting():
    found = readiness_findings(facts(
        databases={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/app/db.sqlite3"}},
        caches={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": ""}},
        session_engine="django.contrib.sessions.backends.cache", debug=True, allowed_hosts=[],
        secret_key_from_contract=False, log_files=["/srv/app/debug.log"],
    ), spec_with(APP))
    where = {f.rule: f.where for f in found}
    assert where["sqlite"] == "DATABASES['default']['ENGINE']"
    assert where["local-cache"] == "CACHES['default']['BACKEND']"
    assert where["local-sessions"] == "SESSION_ENGINE" and where["debug"] == "DEBUG"
    assert where["allowed-hosts"] == "ALLOWED_HOSTS" and where["secret-key"] == "SECRET_KEY"
    in_app_dir = {f.where for f in found if f.rule == "writes-in-app-dir"}
    assert in_app_dir == {"LOGGING handler", "DATABASES['default']['NAME']"}
    assert all("fix:" in f.message for f in found if f.severity != "info")


def test_stale_connections_and_uploads_on_local_disk_with_s3():
    stale = {"default": {**facts()["databases"]["default"], "CONN_HEALTH_CHECKS": False}}
    spec = spec_with(APP, storage={"media_backend": "s3", "efs": True, "media_versioning": False})
    rules = {f.rule for f in readiness_findings(facts(databases=stale), spec)}
    assert {"stale-connections", "media-on-local-disk"} <= rules


def test_the_release_records_what_the_app_wrote(tmp_path):
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "manage.py").write_text("x")
    (source / ".git").mkdir()
    release = copy_release(source, tmp_path / "app")
    assert not (release / ".git").exists() and unexpected_writes(release) == []
    (release / "db.sqlite3").write_text("state")
    (release / "media").mkdir()
    (release / "media" / "up.png").write_text("x")
    assert unexpected_writes(release, allowed=(release / "media",)) == ["db.sqlite3"]


def test_drills_use_the_registrys_pages_or_the_probes():
    assert drill_routes(load_spec("default")) is BUNDLED_ROUTES
    assert drill_routes(spec_with(APP)) is PROBE_ROUTES
    assert PROBE_ROUTES.write("d1", "c") == ("/.threetier/writes/d1", None)
    assert BUNDLED_ROUTES.written("d1") == "/api/users/d1/"
    assert "session was lost" in what_broke([409, 200], PROBE_ROUTES)[0] and what_broke([409], BUNDLED_ROUTES) == []
