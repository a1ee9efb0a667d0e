"""A real twin for the drills: two instances, a primary and a standby database, short
health checks, free loopback ports, a temp state directory; always purged at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.twin_helpers import throwaway_twin

from threetier.local.layout import STATE_DIR_VARIABLE
from threetier.local.probes import wait_until
from threetier.local.twin import Twin

ENV = "drilltest"


@pytest.fixture(scope="session")
def drill_twin() -> Iterator[Twin]:
    with throwaway_twin(ENV, multi_az=True) as env:
        env.twin.up()
        yield env.twin


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
