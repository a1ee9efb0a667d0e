"""`check` on a user's app: the HA-readiness findings name the setting and the fix. The
project as startproject wrote it (SQLite, DEBUG = True, a key in the code, no ALLOWED_HOSTS)
plus sessions on LocMemCache: `threetier check` names SQLite and LocMemCache and fails;
the project with docs/apps.md's snippet has no readiness error, only Django's default
LocMemCache as a warning."""

from __future__ import annotations

import pytest
from conftest import app_project

from threetier.checks.readiness import app_findings
from threetier.cli.main import main

pytestmark = pytest.mark.integration  # builds the app's venv with pip


def test_the_ready_project_has_no_readiness_error():
    with app_project("appready", multi_az=False) as project:
        findings = app_findings(project.spec)
    assert not [f for f in findings if f.severity == "error"], findings
    # Django's implicit default cache is LocMemCache: a warning (nothing in the project uses it for sessions).
    assert {f.rule for f in findings} == {"local-cache"}, findings


@pytest.mark.synth
def test_check_names_sqlite_and_locmemcache(monkeypatch, capsys):
    with app_project("appsqlite", ready=False, multi_az=False) as project:
        monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(project.root))
        monkeypatch.setenv("THREETIER_STATE_DIR", str(project.state_dir))
        monkeypatch.setenv("THREETIER_ENV", "appsqlite")
        monkeypatch.setenv("COLUMNS", "400")
        monkeypatch.setenv("NO_COLOR", "1")
        code = main(["check"])
        out = capsys.readouterr()
    text = out.out + out.err
    assert code == 1, text
    assert "app-readiness" in text
    assert "DATABASES['default']['ENGINE']" in text and "SQLite" in text and "dj_database_url.config" in text
    assert "CACHES['default']['BACKEND']" in text and "LocMemCache" in text
    assert "SESSION_ENGINE" in text and "logged out" in text
    assert "DEBUG = True" in text and "ALLOWED_HOSTS" in text
