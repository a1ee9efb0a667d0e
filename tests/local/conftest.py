"""One real twin for the whole tests/local run: PostgreSQL, two gunicorn instances and
Caddy on free loopback ports, in a temporary state directory, with short health checks.

It is started once (session scope) and always taken down and purged at the end.
Tests that break it (stop instances, `down`) restore what they broke, or the next
user calls `running_twin`, which runs an idempotent `up`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from twin_helpers import HEALTH, free_ports, traversable_tempdir, write_project

from threetier.local.layout import STATE_DIR_VARIABLE
from threetier.local.probes import wait_until
from threetier.local.twin import Twin
from threetier.spec import Spec, load_spec

ENV = "twintest"


@dataclass
class TwinEnv:
    """The test twin and what a CLI call needs to reach it."""

    twin: Twin
    spec: Spec
    project: Path
    state_dir: Path

    def cli_env(self, monkeypatch) -> None:
        monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(self.project))
        monkeypatch.setenv(STATE_DIR_VARIABLE, str(self.state_dir))
        monkeypatch.setenv("THREETIER_ENV", ENV)
        monkeypatch.setenv("COLUMNS", "120")
        monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture(scope="session")
def twin_env() -> Iterator[TwinEnv]:
    http, https, db = free_ports(3)
    first_app = free_ports(1, consecutive=2)[0]
    root = traversable_tempdir("tt-twin-")
    project, state = root / "project", root / "state"
    write_project(project, ENV, {
        "http_port": http, "https_port": https, "first_app_port": first_app, "db_port": db,
        "lb_try_duration_seconds": 5, "health_check": HEALTH,
    })
    spec = load_spec(ENV, path=project / "parameters" / f"{ENV}.toml")
    twin = Twin(spec, state)
    try:
        yield TwinEnv(twin, spec, project, state)
    finally:
        try:
            twin.down(purge=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def running_twin(twin_env: TwinEnv) -> Twin:
    """The session's twin, started (or restarted) if needed, every instance healthy."""
    twin = twin_env.twin
    twin.up()
    assert wait_until(lambda: all(twin.target_health().values()), timeout=20), twin.target_health()
    return twin
