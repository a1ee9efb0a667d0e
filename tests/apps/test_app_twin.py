"""A user's Django project (startproject + one app with a model and a page) on the twin:
`up` builds its venv, copies its code, migrates once and collects its static files, and
serves it through the load balancer on both instances; threetier's middleware answers
/healthz and /readyz; `drill web`, `drill db` and `drill outage` pass against it and say what broke."""

from __future__ import annotations

import json
import ssl
import urllib.request

import pytest

from threetier.apps.probes import COOKIE
from threetier.cli.main import main
from threetier.local.probes import wait_until

pytestmark = pytest.mark.integration


def fetch(twin, path: str, *, cookie: str = "") -> tuple[int, dict, str]:
    context = ssl.create_default_context(cafile=str(twin.layout.caddy_ca_root))
    request = urllib.request.Request(twin.plan.lb_url + path, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310 - the twin's LB
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_up_serves_the_users_page_on_both_instances(app_twin):
    project, twin = app_twin
    served = set()
    for _ in range(12):
        status, headers, body = fetch(twin, "/")
        assert status == 200, body
        assert "<h1>notes</h1>" in body
        served.add(headers["X-Threetier-Instance"])
    assert served == {i.name for i in twin.plan.instances}, served
    # Its own venv under the state dir, its code from the release copy, not the tool's or the checkout.
    assert (twin.layout.root / "app" / "venv" / "bin" / "python").is_file()
    assert (twin.layout.root / "app" / "release" / "manage.py").is_file()
    assert (twin.layout.logs / "migrate.log").read_text().count("Applying notes.0001_initial") == 1
    assert list(twin.layout.static.rglob("admin/css/base.css")), "collectstatic did not run"


def test_the_middleware_answers_health_and_readiness(app_twin):
    _, twin = app_twin
    assert fetch(twin, "/healthz")[0] == 200
    status, _, body = fetch(twin, "/readyz")
    assert status == 200 and "database: ok" in body, body


def test_sessions_are_shared_by_the_instances(app_twin):
    """The project's default db sessions: a session made on one instance is known to the other."""
    _, twin = app_twin
    status, headers, _ = fetch(twin, "/.threetier/session")
    assert status == 200
    cookie = headers["Set-Cookie"].split(";")[0]
    assert cookie.startswith(COOKIE)
    seen = set()
    for _ in range(6):
        status, headers, body = fetch(twin, "/.threetier/session", cookie=cookie)
        assert status == 200, body
        seen.add(headers["X-Threetier-Instance"])
    assert len(seen) == 2


def point_cli(project, twin, monkeypatch) -> None:
    monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(project.root))
    monkeypatch.setenv("THREETIER_STATE_DIR", str(twin.layout.root))
    monkeypatch.setenv("THREETIER_ENV", project.spec.env_name)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    assert wait_until(lambda: all(twin.target_health().values()), timeout=30), twin.target_health()
    assert wait_until(lambda: (twin.failover_state() or {}).get("route") == "lb", timeout=30)


def run_drill(name: str, app_twin, monkeypatch, capsys) -> dict:
    project, twin = app_twin
    point_cli(project, twin, monkeypatch)
    code = main(["drill", name, "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, json.dumps(result)
    return result


def test_drill_web_passes_against_the_users_app(app_twin, monkeypatch, capsys):
    result = run_drill("web", app_twin, monkeypatch, capsys)
    assert result["requests"] > 20
    # The project's sessions are in its database: no instance loses them (409 would say so).
    assert not any("409" in note for note in result["notes"]), result["notes"]


def test_drill_db_passes_against_the_users_app(app_twin, monkeypatch, capsys):
    result = run_drill("db", app_twin, monkeypatch, capsys)
    assert result["lost_writes"] == 0 and result["acknowledged_writes"] > 10, json.dumps(result)
    assert result["rto_seconds"] is not None


def test_drill_outage_passes_against_the_users_app(app_twin, monkeypatch, capsys):
    """The reloading user reads the app's own session probe, not the registry's /users/
    (which a user's app does not have): the sorry page comes, then the app again."""
    result = run_drill("outage", app_twin, monkeypatch, capsys)
    assert result["detect_seconds"] is not None and result["recover_seconds"] is not None, json.dumps(result)
    assert any("sorry page" in note for note in result["notes"]), result["notes"]


def test_manage_runs_the_users_manage_py_commands(app_twin, monkeypatch, capfd):
    project, twin = app_twin
    point_cli(project, twin, monkeypatch)
    code = main(["manage", "showmigrations", "notes"])
    out = capfd.readouterr().out
    assert code == 0 and "[X] 0001_initial" in out, out
