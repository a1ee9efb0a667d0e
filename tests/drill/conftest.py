"""A real twin for the drills: two instances, a primary and a standby database, short
health checks, free loopback ports, a temp state directory; always purged at the end."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "local"))  # the twin tests' helpers
from twin_helpers import HEALTH, free_ports, traversable_tempdir, write_project  # noqa: E402

from threetier.local.layout import STATE_DIR_VARIABLE  # noqa: E402
from threetier.local.probes import wait_until  # noqa: E402
from threetier.local.twin import Twin  # noqa: E402
from threetier.spec import load_spec  # noqa: E402

ENV = "drilltest"


@pytest.fixture(scope="session")
def drill_twin() -> Iterator[Twin]:
    http, https = free_ports(2)
    db = free_ports(1, consecutive=2)[0]  # primary and standby
    first_app = free_ports(1, consecutive=2)[0]
    root = traversable_tempdir("tt-drill-")
    project, state = root / "project", root / "state"
    write_project(project, ENV, {
        "http_port": http, "https_port": https, "first_app_port": first_app, "db_port": db,
        "lb_try_duration_seconds": 5, "health_check": HEALTH,
    })
    parameters = project / "parameters" / f"{ENV}.toml"
    text = parameters.read_text()
    assert "multi_az = false" in text
    parameters.write_text(text.replace("multi_az = false", "multi_az = true"))
    twin = Twin(load_spec(ENV, path=parameters), state)
    try:
        twin.up()
        yield twin
    finally:
        try:
            twin.down(purge=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cli_env(drill_twin: Twin, monkeypatch) -> Twin:
    """The environment a `threetier --env drilltest ...` call needs to reach the twin."""
    project = drill_twin.layout.root.parent / "project"
    monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(project))
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(drill_twin.layout.root))
    monkeypatch.setenv("THREETIER_ENV", ENV)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    assert wait_until(lambda: all(drill_twin.target_health().values()), timeout=30), drill_twin.target_health()
    return drill_twin
