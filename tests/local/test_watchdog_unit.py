"""The watchdog's rounds with the database and supervisord replaced by fakes and time by
a fake clock (nothing sleeps): when it promotes, when it restarts in place, when it
degrades to async and rebuilds; that a rebuild never stops it from watching the
primary; and that only connection-level failures count as "the primary is down"."""

from __future__ import annotations

import threading

import psycopg
import pytest

from threetier.errors import ThreetierError
from threetier.local import replication, watchdog
from threetier.local.layout import Layout
from threetier.local.postgres import PgNode
from threetier.local.replication import Observation, Pair
from threetier.local.watchdog import Timing

IN_SYNC = Observation('"db-1c"', "streaming", "sync", 0, 0.0)
DEGRADED = Observation("", None, None, None, None)
STREAMING_ASYNC = Observation("", "streaming", "async", 0, 0.0)
BUDGET = Timing(rto_seconds=10, interval=0.5, failures=3, probe_timeout=1.0)


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class FakeSupervisor:
    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.states = {"db-1a": "RUNNING", "db-1c": "RUNNING"}
        self.calls: list[tuple[str, str]] = []
        self.at: list[tuple[str, str, float]] = []  # the same calls, with the clock's time
        self.answering = True

    def processes(self):
        if not self.answering:
            raise OSError("supervisord does not answer")
        return {name: {"statename": state, "pid": 0} for name, state in self.states.items()}

    def stop(self, name):
        self.calls.append(("stop", name))
        self.at.append(("stop", name, self.clock.now()))
        self.states[name] = "STOPPED"

    def start(self, name):
        self.calls.append(("start", name))
        self.at.append(("start", name, self.clock.now()))
        self.states[name] = "RUNNING"


class FakeClone:
    """pg_basebackup in the background: done after `ticks` polls (None: never)."""

    def __init__(self, node: PgNode, events: list, ticks: int | None):
        self.node, self.events, self.ticks = node, events, ticks

    def poll(self) -> bool:
        if self.ticks is None:
            return False
        if self.ticks == "fail":
            raise ThreetierError("pg_basebackup of db-1a into db-1c failed (exit 1)")
        self.ticks -= 1
        return self.ticks < 0

    def cancel(self) -> None:
        self.events.append(("cancel", self.node.name))


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def dog(tmp_path, monkeypatch, clock):
    nodes = tuple(PgNode(n, "primary", p, tmp_path / n) for n, p in (("db-1a", 5000), ("db-1c", 5001)))
    pair = Pair(nodes, tmp_path, None, "admin", tmp_path, tmp_path)
    (tmp_path / "db-master-password").write_text("not-a-real-one")
    dog = watchdog.Watchdog(pair, Layout(tmp_path), timing=BUDGET, clock=clock, supervisor=FakeSupervisor(clock))
    dog.events = []
    dog.answers = []  # observations the primary gives, one per call (None = no answer)
    dog.clone_ticks = 0  # polls a clone takes to finish (None: never finishes)
    dog.slot_free = True
    dog.restart_ok = True
    dog.in_recovery = True
    dog.messages = []
    monkeypatch.setattr(watchdog, "log", dog.messages.append)
    monkeypatch.setattr(watchdog, "sql_ready", lambda port, **_: dog.restart_ok)
    monkeypatch.setattr(watchdog, "kill_process", lambda pid, sig: dog.events.append(("kill", pid)))
    monkeypatch.setattr(replication, "postmaster_pid", lambda node: None)
    monkeypatch.setattr(watchdog, "descendants", lambda pid: set())
    monkeypatch.setattr(replication, "segment_in_use", lambda node: False)
    monkeypatch.setattr(replication, "observe", lambda pair, p, s, **_: dog.answers.pop(0) if dog.answers else IN_SYNC)
    monkeypatch.setattr(replication, "is_in_recovery", lambda pair, node, **_: dog.in_recovery)
    monkeypatch.setattr(
        replication, "set_sync_names", lambda pair, node, value: dog.events.append(("sync", node.name, value))
    )
    monkeypatch.setattr(
        replication, "promote", lambda pair, node: dog.events.append(("promote", node.name, clock.now()))
    )

    def reset_slot(pair, primary, slot, log):
        dog.events.append(("slot", slot))
        return dog.slot_free

    def start_clone(pair, node, log):
        dog.events.append(("build", node.name))
        return FakeClone(node, dog.events, dog.clone_ticks)

    monkeypatch.setattr(replication, "reset_slot", reset_slot)
    monkeypatch.setattr(replication, "start_clone", start_clone)
    monkeypatch.setattr(
        replication, "install_clone", lambda pair, clone, log: dog.events.append(("install", clone.node.name))
    )
    return dog


def rounds(dog, clock, count: int) -> None:
    """`count` checks, one interval apart, as run() does them."""
    for _ in range(count):
        dog.tick()
        clock.sleep(dog.timing.interval)


def kinds(dog, kind: str) -> list[tuple]:
    return [e[:2] for e in dog.events if e[0] == kind]


# --- failover ---------------------------------------------------------------------------------


def test_a_dead_in_sync_primary_is_fenced_then_the_standby_promoted_and_the_old_node_rebuilt(dog, clock):
    dog.answers = [IN_SYNC]
    dog.tick()  # healthy round: remembers the standby was in sync
    dog.answers = [None, None, None]
    rounds(dog, clock, 3)
    assert [e[:2] for e in dog.events if e[0] in ("promote", "build")][:2] == [("promote", "db-1c"), ("build", "db-1a")]
    assert dog.pair.recorded_primary() == "db-1c"
    assert dog.supervisor.calls[0] == ("stop", "db-1a")  # fenced before the promotion
    dog.answers = [STREAMING_ASYNC] * 3  # db-1c, the new primary, answers; its copy finishes
    rounds(dog, clock, 2)
    assert ("install", "db-1a") in dog.events
    assert ("start", "db-1a") in dog.supervisor.calls  # the rebuilt standby is started
    assert dog.rebuild is None and any("standby db-1a streams from db-1c" in m for m in dog.messages)


def test_the_fence_kills_the_postmaster_first_then_every_process_below_it(dog, monkeypatch):
    monkeypatch.setattr(replication, "postmaster_pid", lambda node: 100 if node.name == "db-1a" else None)
    monkeypatch.setattr(watchdog, "descendants", lambda pid: {101, 102} if pid == 100 else set())
    monkeypatch.setattr(watchdog, "is_alive", lambda pid: False)
    dog.fence(dog.pair.node("db-1a"))
    assert kinds(dog, "kill")[0] == ("kill", 100) and set(kinds(dog, "kill")) == {("kill", p) for p in (100, 101, 102)}
    assert dog.supervisor.calls == [("stop", "db-1a")]


def test_two_failed_rounds_are_not_a_failover(dog, clock):
    dog.answers = [IN_SYNC, None, None, IN_SYNC]
    rounds(dog, clock, 4)
    assert not kinds(dog, "promote")
    assert dog.pair.recorded_primary() == "db-1a"
    assert ("stop", "db-1a") not in dog.supervisor.calls


def test_a_primary_that_dies_while_degraded_is_restarted_not_replaced(dog, clock):
    dog.answers = [DEGRADED]
    dog.supervisor.states["db-1c"] = "EXITED"
    dog.clone_ticks = 0
    dog.tick()  # degrades, then starts rebuilding the missing standby
    dog.answers = [STREAMING_ASYNC, STREAMING_ASYNC]
    dog.tick()  # the copy is in place and started
    dog.tick()  # it streams: rebuilt
    assert dog.rebuild is None
    dog.events.clear()
    dog.supervisor.calls.clear()
    dog.answers = [None, None, None]
    dog.last = DEGRADED
    rounds(dog, clock, 3)
    assert not kinds(dog, "promote")
    assert dog.supervisor.calls[-2:] == [("stop", "db-1a"), ("start", "db-1a")]
    assert dog.pair.recorded_primary() == "db-1a"


def test_a_lost_standby_degrades_commit_at_once_then_is_rebuilt(dog, clock):
    dog.supervisor.states["db-1c"] = "EXITED"
    dog.answers = [Observation('"db-1c"', None, None, None, None)]
    dog.tick()
    assert dog.events == [("sync", "db-1a", ""), ("slot", "db_1c"), ("build", "db-1c")]
    dog.answers = [DEGRADED]
    dog.tick()  # the copy is done: in place, started
    assert dog.events[-1] == ("install", "db-1c")
    assert dog.supervisor.states["db-1c"] == "RUNNING"
    dog.answers = [STREAMING_ASYNC]
    dog.tick()
    assert dog.events[-1] == ("sync", "db-1a", '"db-1c"')  # streams again: synchronous again
    assert dog.rebuild is None


# --- a rebuild never blinds the watchdog --------------------------------------------------------


def lose_the_standby_then_the_primary(dog, clock, *, clone_ticks, standby_rounds: int):
    """The standby is lost (its rebuild starts), `standby_rounds` healthy checks later the
    primary dies; returns the clock's time of the death."""
    dog.supervisor.states["db-1c"] = "EXITED"
    dog.clone_ticks = clone_ticks
    dog.answers = [DEGRADED] * standby_rounds
    rounds(dog, clock, standby_rounds)
    assert dog.rebuild is not None
    died = clock.now()
    dog.answers = [None] * 10
    return died


def test_the_primary_dying_mid_clone_is_seen_and_restarted_within_the_budget(dog, clock):
    died = lose_the_standby_then_the_primary(dog, clock, clone_ticks=None, standby_rounds=6)  # 3 s of copying
    assert dog.rebuild.step == "clone"
    rounds(dog, clock, 3)
    restarted = [t for what, name, t in dog.supervisor.at if (what, name) == ("start", "db-1a")]
    assert restarted and restarted[0] - died <= BUDGET.detect_seconds
    assert restarted[0] - died <= BUDGET.rto_seconds
    assert ("cancel", "db-1c") in dog.events  # the half copy is dropped
    assert not kinds(dog, "promote")  # a half copy is never promoted
    assert dog.rebuild is None and dog.pair.recorded_primary() == "db-1a"


def test_a_half_copied_standby_is_not_promoted_even_when_the_restart_fails(dog, clock):
    lose_the_standby_then_the_primary(dog, clock, clone_ticks=None, standby_rounds=2)
    dog.restart_ok = False
    rounds(dog, clock, 3)
    assert not kinds(dog, "promote")
    assert dog.supervisor.calls.count(("stop", "db-1a")) == 2  # fenced again after the failed restart
    assert any("db-1c cannot be promoted" in m for m in dog.messages)


def test_a_restart_waits_for_the_old_backends_to_let_go_of_the_shared_memory(dog, clock, monkeypatch):
    dog.answers = [DEGRADED]
    dog.tick()
    dog.answers = [None] * 3
    freed = clock.now() + 1.0 + 0.3  # 0.3 s after the decision (the third failed check)
    monkeypatch.setattr(replication, "segment_in_use", lambda node: clock.now() < freed)
    rounds(dog, clock, 3)
    started = [t for what, name, t in dog.supervisor.at if (what, name) == ("start", "db-1a")]
    assert started and started[0] >= freed


def test_the_restart_wait_ends_within_the_budget_then_a_complete_copy_is_promoted(dog, clock):
    # The copy is in place and started, not streaming yet, when the primary dies.
    died = lose_the_standby_then_the_primary(dog, clock, clone_ticks=0, standby_rounds=2)
    assert dog.rebuild.step == "stream"
    dog.restart_ok = False
    rounds(dog, clock, 3)
    assert kinds(dog, "promote") == [("promote", "db-1c")]
    promoted = next(e[2] for e in dog.events if e[0] == "promote")
    assert died + BUDGET.detect_seconds < promoted <= died + BUDGET.rto_seconds - watchdog.APP_MARGIN
    assert dog.pair.recorded_primary() == "db-1c"


def test_the_primary_dying_while_the_rebuilt_standby_starts_means_a_restart(dog, clock):
    lose_the_standby_then_the_primary(dog, clock, clone_ticks=0, standby_rounds=2)
    dog.last = IN_SYNC  # even an old "in sync" does not make a standby under rebuild promotable
    rounds(dog, clock, 3)
    assert not kinds(dog, "promote")
    assert ("start", "db-1a") in dog.supervisor.calls
    assert dog.supervisor.states["db-1c"] == "RUNNING"  # a complete copy keeps running: it streams once db-1a is back


def test_a_failover_inside_a_rebuild_does_not_wait_for_its_own_lock(dog, clock):
    died = lose_the_standby_then_the_primary(dog, clock, clone_ticks=None, standby_rounds=2)
    assert dog.lock.holds == 1  # the rebuild holds the environment's lock while it copies
    rounds(dog, clock, 3)
    restarted = [t for what, name, t in dog.supervisor.at if (what, name) == ("start", "db-1a")]
    assert restarted and restarted[0] - died <= BUDGET.detect_seconds
    assert not [m for m in dog.messages if "waiting for a running" in m]
    assert dog.lock.holds == 0


def test_a_busy_slot_is_tried_again_next_round_without_waiting(dog, clock):
    dog.supervisor.states["db-1c"] = "EXITED"
    dog.slot_free = False
    dog.answers = [DEGRADED] * 3
    rounds(dog, clock, 2)
    assert kinds(dog, "slot") == [("slot", "db_1c")] * 2 and not kinds(dog, "build")
    dog.slot_free = True
    rounds(dog, clock, 1)
    assert kinds(dog, "build") == [("build", "db-1c")]


def test_a_failed_copy_is_tried_again_after_a_pause(dog, clock):
    dog.supervisor.states["db-1c"] = "EXITED"
    dog.clone_ticks = "fail"
    dog.answers = [DEGRADED] * 40
    rounds(dog, clock, 2)
    assert dog.rebuild is None and len(kinds(dog, "build")) == 1
    assert dog.lock.holds == 0
    rounds(dog, clock, int(watchdog.RETRY_AFTER / BUDGET.interval) + 1)
    assert len(kinds(dog, "build")) == 2


def test_a_rebuild_waits_for_a_running_up_or_down(dog, clock):
    other = watchdog.EnvLock(dog.layout.root / ".lock")
    assert other.try_acquire()  # `threetier up` holds the lock
    dog.supervisor.states["db-1c"] = "EXITED"
    dog.answers = [DEGRADED] * 4
    rounds(dog, clock, 3)
    assert not kinds(dog, "slot") and dog.rebuild is None
    assert len([m for m in dog.messages if "once the running `threetier up`/`down` is done" in m]) == 1
    other.release()
    rounds(dog, clock, 1)
    assert kinds(dog, "build") == [("build", "db-1c")]


def test_a_standby_that_does_not_stream_in_time_is_left_to_the_usual_rules(dog, clock):
    dog.supervisor.states["db-1c"] = "EXITED"
    dog.answers = [DEGRADED] * 200
    rounds(dog, clock, 2)
    assert dog.rebuild is not None and dog.rebuild.step == "stream"
    rounds(dog, clock, int(watchdog.STREAM_TIMEOUT / BUDGET.interval) + 1)
    assert dog.rebuild is None
    assert any("does not stream yet" in m for m in dog.messages)


def test_stopping_the_watchdog_stops_a_running_copy(dog, clock):
    dog.supervisor.states["db-1c"] = "EXITED"
    dog.clone_ticks = None
    dog.answers = [DEGRADED] * 10
    original_sleep = clock.sleep

    def sleep(seconds):
        original_sleep(seconds)
        dog.stopping = clock.now() > 1002  # a few rounds, then SIGTERM

    clock.sleep = sleep
    dog.run()
    assert ("cancel", "db-1c") in dog.events and dog.rebuild is None and dog.lock.holds == 0


def test_supervisord_not_answering_is_no_reason_to_rebuild(dog, clock):
    dog.supervisor.answering = False
    dog.answers = [DEGRADED] * 3
    rounds(dog, clock, 3)
    assert not kinds(dog, "slot") and dog.rebuild is None


# --- what counts as "the primary is down" ------------------------------------------------------


def test_an_error_that_is_not_a_connection_failure_is_logged_and_not_counted(dog, clock, monkeypatch):
    def broken(pair, primary, standby, **_):
        raise psycopg.errors.UndefinedFunction("function pg_is_in_recovery() does not exist")

    monkeypatch.setattr(replication, "observe", broken)
    original_sleep = clock.sleep

    def sleep(seconds):
        original_sleep(seconds)
        dog.stopping = clock.now() > 1005  # ten rounds, far more than FAILURES

    clock.sleep = sleep
    dog.run()
    assert dog.failures == 0
    assert not dog.supervisor.calls and not kinds(dog, "promote")  # never fenced, never demoted
    assert len([m for m in dog.messages if "not counted as a failed check" in m and "UndefinedFunction" in m]) >= 10


def test_a_hung_primary_is_a_failed_check(dog, clock, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(replication, "observe", lambda *a, **k: release.wait(5) and IN_SYNC)
    dog.timing = Timing(rto_seconds=10, interval=0.5, failures=3, probe_timeout=0.05)
    try:
        dog.tick()
        assert dog.failures == 1
    finally:
        release.set()


def test_call_within_returns_raises_or_gives_up():
    assert watchdog.call_within(lambda: 42, 1) == 42
    with pytest.raises(ZeroDivisionError):
        watchdog.call_within(lambda: 1 / 0, 1)
    release = threading.Event()
    with pytest.raises(watchdog.ProbeTimeoutError):
        watchdog.call_within(lambda: release.wait(5), 0.05)
    release.set()


# --- the budget ---------------------------------------------------------------------------------


def test_the_default_timing_detects_and_acts_within_the_default_rto():
    timing = Timing()
    assert timing.detect_seconds == 0.5 + 3 * 1.0
    assert timing.needed_seconds <= timing.rto_seconds == 10
    timing.check()


def test_an_rto_the_watchdog_cannot_keep_is_refused_with_a_fix(tmp_path):
    with pytest.raises(ThreetierError) as caught:
        watchdog.watchdog_service(Layout(tmp_path), rto_seconds=3)
    assert "drill.db_rto_seconds" in caught.value.fix


def test_the_program_carries_its_budget(tmp_path):
    service = watchdog.watchdog_service(Layout(tmp_path), rto_seconds=12)
    assert service.command[-2:] == ["--rto-seconds", "12"]
    config, timing = watchdog.parse_args(service.command[3:])
    assert config == watchdog.config_path(Layout(tmp_path)) and timing.rto_seconds == 12
    assert watchdog.parse_args([str(config)])[1] == Timing()
    assert watchdog.parse_args([str(config), "--rto-seconds", "soon"]) is None
    assert watchdog.parse_args([]) is None
