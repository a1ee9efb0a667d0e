"""One real twin for the whole tests/local run: PostgreSQL, two gunicorn instances and
Caddy on free loopback ports, in a temporary state directory, with short health checks.

It is started once (session scope) and always taken down and purged at the end.
Tests that break it (stop instances, `down`) restore what they broke, or the next
user calls `running_twin`, which runs an idempotent `up`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.twin_helpers import TwinEnv, throwaway_twin

from threetier.local.probes import wait_until
from threetier.local.twin import Twin

ENV = "twintest"


@pytest.fixture(scope="session")
def twin_env() -> Iterator[TwinEnv]:
    with throwaway_twin(ENV) as env:
        yield env


@pytest.fixture
def running_twin(twin_env: TwinEnv) -> Twin:
    """The session's twin, started (or restarted) if needed, every instance healthy."""
    twin = twin_env.twin
    twin.up()
    assert wait_until(lambda: all(twin.target_health().values()), timeout=20), twin.target_health()
    return twin
