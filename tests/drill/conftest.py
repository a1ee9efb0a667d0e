"""A real twin for the drills: two instances, a primary and a standby database, short
health checks (an instance is out after 2 × 0.5 s), a short Route 53 stage (2 × 0.5 s,
TTL 1 s), free loopback ports, a temp state directory; always purged at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.twin_helpers import HEALTH, TwinEnv, point_cli_at, throwaway_twin

from threetier.local.twin import Twin

ENV = "drilltest"
# Two failed checks, not one: a kill -9 then costs requests for 0.5-1 s, enough to count.
DRILL_HEALTH = {**HEALTH, "unhealthy_threshold": 2}


@pytest.fixture(scope="session")
def drill_twin() -> Iterator[Twin]:
    with throwaway_twin(ENV, multi_az=True, local={"health_check": DRILL_HEALTH}) as env:
        env.twin.up()
        yield env.twin


@pytest.fixture
def cli_env(drill_twin: Twin, monkeypatch) -> Twin:
    return point_cli_at(drill_twin, ENV, monkeypatch)


@pytest.fixture(scope="module")
def ideal_env() -> Iterator[TwinEnv]:
    """A twin with lb_semantics = "ideal" (retries, passive health, the sorry page at the
    LB): the twin as first built, kept to compare. A single database."""
    with throwaway_twin("drillideal", lb_semantics="ideal", local={"health_check": DRILL_HEALTH}) as env:
        env.twin.up()
        yield env
