"""What broke, said by the drill: the same project with its sessions on LocMemCache runs
on the twin, and `drill web` reports the sessions the instances lost (409 from the probe,
the reason named) beside the readiness finding that explains it."""

from __future__ import annotations

import json

import pytest
from conftest import app_project

from threetier.cli.main import main
from threetier.local.twin import Twin

pytestmark = pytest.mark.integration


def test_drill_web_reports_sessions_lost_across_instances(monkeypatch, capsys):
    with app_project("appsessions", multi_az=False, local_sessions=True) as project:
        twin = Twin(project.spec, project.state_dir)
        try:
            twin.up()
            monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(project.root))
            monkeypatch.setenv("THREETIER_STATE_DIR", str(twin.layout.root))
            monkeypatch.setenv("THREETIER_ENV", "appsessions")
            main(["drill", "web", "--json"])
            result = json.loads(capsys.readouterr().out)
        finally:
            twin.down(purge=True)
    notes = "\n".join(result["notes"])
    assert "answered 409: the session was lost" in notes, notes
    assert "SESSION_ENGINE" in notes and "logged out" in notes, notes
