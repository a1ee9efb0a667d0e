"""The watchdog's rounds with the database and supervisord replaced by fakes: when it
promotes, when it restarts in place, when it degrades to async and rebuilds."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from threetier.local import replication, watchdog
from threetier.local.layout import Layout
from threetier.local.postgres import PgNode
from threetier.local.replication import Observation, Pair

IN_SYNC = Observation('"db-1c"', "streaming", "sync", 0, 0.0)
DEGRADED = Observation("", None, None, None, None)


class FakeSupervisor:
    def __init__(self):
        self.states = {"db-1a": "RUNNING", "db-1c": "RUNNING"}
        self.calls: list[tuple[str, str]] = []

    def processes(self):
        return {name: {"statename": state} for name, state in self.states.items()}

    def stop(self, name):
        self.calls.append(("stop", name))
        self.states[name] = "STOPPED"

    def start(self, name):
        self.calls.append(("start", name))
        self.states[name] = "RUNNING"


@pytest.fixture
def dog(tmp_path, monkeypatch):
    nodes = tuple(PgNode(n, "primary", p, tmp_path / n) for n, p in (("db-1a", 5000), ("db-1c", 5001)))
    pair = Pair(nodes, tmp_path, None, "admin", tmp_path, tmp_path)
    (tmp_path / "db-master-password").write_text("not-a-real-one")
    dog = watchdog.Watchdog(pair, Layout(tmp_path), interval=0.01)
    dog.supervisor = FakeSupervisor()
    dog.locked = nullcontext  # no lock file needed
    dog.events = []
    dog.answers = []  # observations the primary gives, one per call (None = no answer)
    monkeypatch.setattr(watchdog, "log", lambda message: None)
    monkeypatch.setattr(watchdog, "sql_ready", lambda port, **_: True)
    monkeypatch.setattr(watchdog, "wait_until", lambda check, **_: check())
    monkeypatch.setattr(replication, "observe", lambda pair, p, s, **_: dog.answers.pop(0) if dog.answers else IN_SYNC)
    monkeypatch.setattr(replication, "set_sync_names", lambda pair, node, value: dog.events.append(("sync", node.name, value)))
    monkeypatch.setattr(replication, "promote", lambda pair, node: dog.events.append(("promote", node.name)))
    monkeypatch.setattr(replication, "build_standby", lambda pair, node, log: dog.events.append(("build", node.name)))
    return dog


def test_a_dead_in_sync_primary_is_fenced_then_the_standby_promoted_and_the_old_node_rebuilt(dog):
    dog.answers = [IN_SYNC]
    dog.tick()  # healthy round: remembers the standby was in sync
    dog.answers = [None, None, None, None]  # 3 failed rounds + the re-check under the lock
    for _ in range(3):
        dog.tick()
    assert dog.events[:2] == [("promote", "db-1c"), ("build", "db-1a")]
    assert dog.pair.recorded_primary() == "db-1c"
    assert dog.supervisor.calls[0] == ("stop", "db-1a")  # fenced before the promotion
    assert ("start", "db-1a") in dog.supervisor.calls  # the rebuilt standby is started


def test_two_failed_rounds_are_not_a_failover(dog):
    dog.answers = [IN_SYNC, None, None, IN_SYNC]
    for _ in range(4):
        dog.tick()
    assert not [e for e in dog.events if e[0] == "promote"]
    assert dog.pair.recorded_primary() == "db-1a"


def test_a_primary_that_dies_while_degraded_is_restarted_not_replaced(dog):
    dog.answers = [DEGRADED]
    dog.supervisor.states["db-1c"] = "EXITED"
    dog.tick()  # degrades, then rebuilds the missing standby
    dog.events.clear()
    dog.answers = [None, None, None, None]
    dog.supervisor.states["db-1c"] = "RUNNING"
    dog.last = DEGRADED
    for _ in range(3):
        dog.tick()
    assert not [e for e in dog.events if e[0] == "promote"]
    assert dog.supervisor.calls[-2:] == [("stop", "db-1a"), ("start", "db-1a")]
    assert dog.pair.recorded_primary() == "db-1a"


def test_a_lost_standby_degrades_commit_at_once_then_is_rebuilt(dog):
    dog.supervisor.states["db-1c"] = "EXITED"
    dog.answers = [Observation('"db-1c"', None, None, None, None), DEGRADED]
    dog.tick()
    assert dog.events == [("sync", "db-1a", ""), ("build", "db-1c")]
    assert dog.supervisor.states["db-1c"] == "RUNNING"
    dog.answers = [Observation("", "streaming", "async", 0, 0.0)]
    dog.tick()
    assert dog.events[-1] == ("sync", "db-1a", '"db-1c"')  # streams again: synchronous again
