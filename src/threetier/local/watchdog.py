"""The twin's failover agent (what RDS Multi-AZ does for you), run by supervisord as
`python -m threetier.local.watchdog <state>/watchdog.json --rto-seconds N` when
database.multi_az is on.

Every INTERVAL seconds it asks the primary about the pair (replication.observe, cut off
after PROBE_TIMEOUT however the primary fails: refused, hung, half-dead):
  * primary answers → steer synchronous commit (replication.sync_decision: degrade to
    async while the standby does not stream, re-enable it once it streams again) and
    rebuild the standby if it is not running or has not streamed for REBUILD_AFTER s;
  * FAILURES checks in a row unanswered (connection-level failures only) → fail over:
    fence the old primary (kill -9, so it cannot come back as a second primary), then
    promote the standby if it was in sync at the last check, or restart the old primary
    in place if it was not or is being rebuilt (replication.failover_action), then
    rebuild the old primary as the new standby, so the pair is redundant again without
    a human.

A rebuild never blocks the checks. It is a small state (`Rebuild`: which node, since
when, which step) that each check advances by one step that does not wait: take a fresh
slot, run pg_basebackup in the background and poll it, put the copy in place and start
the node, see it stream (STREAM_TIMEOUT). A primary that dies mid-rebuild is therefore
seen after FAILURES checks, as always; the half-built standby cannot be promoted, so the
answer is the restart in place.

The time budget is drill.db_rto_seconds (`Timing`, checked when the program is planned):
detection takes at most `Timing.detect_seconds`, and what is left bounds the wait for a
restarted primary before the standby is promoted anyway.

Every action takes the environment's lock (the one `up` and `down` hold), so it never
interleaves with them: a failover waits for it, a rebuild tries again at the next check.
Every step goes to stdout = logs/watchdog.log, without secrets.
"""

from __future__ import annotations

import fcntl
import math
import signal
import sys
import threading
import xmlrpc.client
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from threetier.errors import ThreetierError
from threetier.local import replication
from threetier.local.daemon import run_until_signalled
from threetier.local.layout import Layout
from threetier.local.postgres import PgNode, sql_ready
from threetier.local.probes import Clock, wait_until
from threetier.local.processes import descendants, is_alive, kill_process
from threetier.local.replication import Observation, Pair
from threetier.local.services import Probe, Service
from threetier.local.supervisor import RUNNING_STATES, Supervisor

INTERVAL = 0.5  # seconds between checks of the primary
FAILURES = 3  # consecutive failed checks before the primary counts as dead (~1.5 s)
PROBE_TIMEOUT = 1.0  # a check that has not answered by then has failed
DEGRADE_AFTER = 2  # checks without a streaming standby before commits stop waiting for it
REBUILD_AFTER = 20.0  # seconds a running standby may go without streaming before it is rebuilt
SLOT_TIMEOUT = 15.0  # seconds an old walsender may hold the rebuilt node's slot
CLONE_TIMEOUT = 300.0  # seconds pg_basebackup may take
STREAM_TIMEOUT = 30.0  # seconds a freshly started standby gets to start streaming
RETRY_AFTER = 5.0  # seconds before a failed rebuild is tried again
FENCE_TIMEOUT = 1.0  # seconds for a killed postmaster, then its backends, to be gone
MIN_RESTART_WAIT = 2.0  # a restarted primary always gets at least this long
APP_MARGIN = 1.0  # of the budget, left for the app to reconnect once the database is back
LOCK_TIMEOUT = 300.0
SUPERVISOR_TIMEOUT = 5.0
DEFAULT_RTO_SECONDS = 10.0  # drill.db_rto_seconds' default

T = TypeVar("T")


def log(message: str) -> None:
    import time  # noqa: PLC0415 - wall-clock time for the log only; the logic runs on Clock

    now = time.time()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))}.{int(now % 1 * 1000):03d} {message}", flush=True)


class Stopping(Exception):  # noqa: N818 - a signal to leave, not an error
    """SIGTERM arrived while waiting to act: leave without acting."""


class ProbeTimeoutError(Exception):
    """A check of the primary did not return within its time."""


@dataclass(frozen=True)
class Timing:
    """How often the watchdog checks and the budget it acts within (the RTO)."""

    rto_seconds: float = DEFAULT_RTO_SECONDS
    interval: float = INTERVAL
    failures: int = FAILURES
    probe_timeout: float = PROBE_TIMEOUT

    @property
    def detect_seconds(self) -> float:
        """Worst case from the primary's death to the decision: it dies just after a
        check, then every check runs into its timeout."""
        return self.interval + self.failures * max(self.interval, self.probe_timeout)

    @property
    def needed_seconds(self) -> float:
        """The smallest budget the watchdog can keep: detect, fence, restart, reconnect."""
        return self.detect_seconds + 2 * FENCE_TIMEOUT + MIN_RESTART_WAIT + APP_MARGIN

    def restart_deadline(self, first_failure: float) -> float:
        """When a restarted primary must answer, or the standby is promoted anyway."""
        return first_failure + self.rto_seconds - self.interval - APP_MARGIN

    def check(self) -> None:
        if self.rto_seconds < self.needed_seconds:
            raise ThreetierError(
                f"drill.db_rto_seconds = {self.rto_seconds:g} is shorter than the database watchdog needs "
                f"to detect a dead primary and act ({self.needed_seconds:g} s: {self.failures} checks "
                f"{self.interval:g} s apart, each cut off after {self.probe_timeout:g} s, then fence and restart)",
                fix=f"set drill.db_rto_seconds to at least {math.ceil(self.needed_seconds)} in the parameters file",
            )


@dataclass
class Rebuild:
    """A standby being rebuilt, one step per check: 'slot' (a fresh replication slot)
    → 'clone' (pg_basebackup runs) → 'stream' (started on its copy, not streaming yet)."""

    node: str
    since: float
    step: str = "slot"
    clone: replication.Clone | None = None
    started: float = 0.0  # when the node was started on its new copy
    holds_lock: bool = True  # through 'slot' and 'clone': `up`/`down` must not touch the copy

    @property
    def promotable(self) -> bool:
        """Only as a last resort, and only a complete copy that runs (it may lag); never a half copy."""
        return self.step == "stream"


class EnvLock:
    """The environment's lock (<state>/.lock, the one `up` and `down` take, see envlock),
    counted, so a failover during a rebuild that holds it does not wait for itself."""

    def __init__(self, path: Path):
        self.path = path
        self.holds = 0
        self.handle: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self.holds:
            self.holds += 1
            return True
        handle = open(self.path, "w")  # noqa: SIM115 - held across checks, closed in release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.handle, self.holds = handle, 1
        return True

    def release(self) -> None:
        if self.holds == 0:
            return
        self.holds -= 1
        if self.holds == 0 and self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def call_within(fn: Callable[[], T], seconds: float) -> T:
    """fn() in a helper thread; ProbeTimeoutError if it has not returned after `seconds`.

    A hung server accepts a connection and never answers, and psycopg has no timeout
    for a query: the thread is left to end on its own (it holds only its own connection,
    which the fence's kill -9 of that server breaks)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="watchdog-probe", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise ProbeTimeoutError(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


class Watchdog:
    """Watches the pair; `tick()` is one check, `run()` checks until SIGTERM.

    >>> Watchdog(pair, layout, timing=Timing(rto_seconds=10)).run()
    """

    def __init__(
        self, pair: Pair, layout: Layout, *, timing: Timing | None = None, clock: Clock | None = None,
        supervisor: Supervisor | None = None,
    ):
        self.pair = pair
        self.layout = layout
        self.timing = timing or Timing()
        self.clock = clock or Clock()
        self.supervisor = supervisor or Supervisor(layout, timeout=SUPERVISOR_TIMEOUT)
        self.lock = EnvLock(layout.root / ".lock")
        self.failures = 0  # consecutive checks the primary did not answer
        self.down_since: float | None = None  # the first of them
        self.misses = 0  # consecutive checks without a streaming standby
        self.last: Observation | None = None  # the last answer of the primary
        self.rebuild: Rebuild | None = None
        self.retry_at = 0.0  # no rebuild before this (after a failed one)
        self.lock_busy = False  # a rebuild waits for `up`/`down` (logged once)
        self.stopping = False

    # --- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        primary, standby, t = self.pair.primary(), self.pair.standby(), self.timing
        log(f"watching the pair: primary {primary.name} (127.0.0.1:{primary.port}), "
            f"standby {standby.name} (127.0.0.1:{standby.port}); check every {t.interval:g} s, "
            f"failover after {t.failures} failed checks; RTO budget {t.rto_seconds:g} s")
        try:
            while not self.stopping:
                began = self.clock.now()
                try:
                    self.tick()
                except Stopping:
                    break
                except Exception as exc:  # noqa: BLE001 - the watchdog must outlive one bad round
                    log(f"error in this round (not counted as a failed check; retrying next round): "
                        f"{_describe(exc)}")
                self.clock.sleep(max(0.0, t.interval - (self.clock.now() - began)))
        finally:
            self.abandon_rebuild("the watchdog stops")
        log("stopped")

    def tick(self) -> None:
        """One check, and at most one step that does not wait (a failover waits, bounded)."""
        now = self.clock.now()
        primary, standby = self.pair.primary(), self.pair.standby()
        observation = self.probe(primary, standby)
        if observation is None:
            self.no_answer(primary, now)
            return
        if self.failures or self.down_since is not None:
            log(f"primary {primary.name} answers again")
        self.failures, self.down_since = 0, None
        self.last = observation
        if self.rebuild is not None:
            self.advance_rebuild(now, observation)
        state = self._state(standby.name)
        standby_running = state in RUNNING_STATES
        self.misses = 0 if observation.streaming else self.misses + 1
        if not standby_running and state != "UNKNOWN":
            self.misses = max(self.misses, DEGRADE_AFTER)  # certainly gone: stop waiting for it now
        self.steer_sync(primary, standby, observation)
        if self.rebuild is not None or state == "UNKNOWN" or now < self.retry_at:
            return  # rebuilding already, supervisord did not answer, or a failed rebuild cools down
        if not standby_running:
            self.begin_rebuild(standby, "is not running", now)
        elif self.misses * self.timing.interval >= REBUILD_AFTER:
            self.begin_rebuild(standby, f"has not streamed for {self.misses * self.timing.interval:.0f} s", now)

    def probe(self, primary: PgNode, standby: PgNode) -> Observation | None:
        """The primary's answer, or None when it gave none in time (connection-level
        failures only: any other error propagates and is not counted)."""
        timeout = self.timing.probe_timeout
        try:
            return call_within(lambda: replication.observe(self.pair, primary, standby, timeout=timeout), timeout)
        except ProbeTimeoutError:
            return None

    def no_answer(self, primary: PgNode, now: float) -> None:
        self.failures += 1
        if self.down_since is None:
            self.down_since = now
        log(f"primary {primary.name} did not answer ({self.failures}/{self.timing.failures})")
        if self.failures < self.timing.failures:
            return
        self.failures = 0
        with self.locked() as waited:
            # Waiting for `up`/`down` took a while: look again before acting.
            if waited and self.probe(self.pair.primary(), self.pair.standby()) is not None:
                log("the primary answers again; nothing to do")
                self.down_since = None
                return
            self.fail_over(self.pair.primary(), self.pair.standby())

    def steer_sync(self, primary: PgNode, standby: PgNode, observation: Observation) -> None:
        value = replication.sync_decision(
            standby=standby.name, streaming=observation.streaming, current=observation.sync_names,
            misses=self.misses, degrade_after=DEGRADE_AFTER,
        )
        if value is None:
            return
        replication.set_sync_names(self.pair, primary, value)
        if value:
            log(f"standby {standby.name} streams again: synchronous commit re-enabled "
                f"(synchronous_standby_names = {value})")
        else:
            log(f"standby {standby.name} is not streaming: degraded to asynchronous commit "
                "(writes continue on the primary alone until the standby is back)")

    # --- failover ---------------------------------------------------------------------

    def fail_over(self, primary: PgNode, standby: PgNode) -> None:
        rebuild = self.rebuild
        action = replication.failover_action(self.last, standby_rebuilding=rebuild is not None)
        promotable = rebuild is None or rebuild.promotable
        if rebuild is not None:
            why = f"standby {standby.name} is being rebuilt (step {rebuild.step}), so not in sync"
        else:
            why = f"standby {standby.name} was {'in sync' if self.last and self.last.in_sync else 'not in sync'} " \
                "at the last check"
        log(f"primary {primary.name} is down (state {self._state(primary.name)}); {why}: {action}")
        if rebuild is not None:
            self.abandon_rebuild(f"its primary {primary.name} is down")
        self.fence(primary)
        if action == "restart":
            if self.restart(primary):
                return
            self.fence(primary)  # a start that succeeds later must not make a second primary
            if not promotable or self._state(standby.name) not in RUNNING_STATES:
                log(f"{standby.name} cannot be promoted (not running, or its copy was not complete): "
                    f"{primary.name} is restarted again after the next failed checks")
                return
            log(f"{primary.name} did not come back: promoting {standby.name} anyway "
                "(writes acknowledged while degraded to async may be missing)")
        self.promote(standby, primary)

    def promote(self, standby: PgNode, old_primary: PgNode) -> None:
        import psycopg  # noqa: PLC0415 - keeps `threetier --help` fast (plan.py imports this module)

        began = self.clock.now()
        log(f"promoting {standby.name}")
        try:
            replication.promote(self.pair, standby)
        except (ThreetierError, psycopg.Error) as exc:
            if replication.is_in_recovery(self.pair, standby) is not False:
                log(f"promotion of {standby.name} failed: {_describe(exc)}; restarting {old_primary.name} instead")
                self.restart(old_primary)
                return
            log(f"{standby.name} finished its promotion after all ({_describe(exc)})")
        self.pair.record_primary(standby.name)
        self.last, self.misses = None, 0
        log(f"{standby.name} is the primary now (promoted in {self.clock.now() - began:.1f} s); "
            "asynchronous commit until its new standby streams")
        self.begin_rebuild(old_primary, "is the old primary", self.clock.now())

    def fence(self, node: PgNode) -> None:
        """Make sure `node` runs no more: kill -9 its postmaster and every process below
        it (as a failed host is powered off), so an old primary cannot come back as a
        second one, and no frozen backend keeps serving an old connection."""
        postmasters = {pid for pid in (replication.postmaster_pid(node), self._pid(node.name)) if pid}
        pids = postmasters.union(*(descendants(pid) for pid in postmasters))
        for pid in sorted(pids, key=lambda p: p not in postmasters):  # the postmaster first: it forks no more
            kill_process(pid, signal.SIGKILL)
        gone = wait_until(
            lambda: not any(is_alive(p) for p in pids), timeout=FENCE_TIMEOUT, interval=0.05, clock=self.clock
        )
        try:
            self.supervisor.stop(node.name)
        except (ThreetierError, OSError, xmlrpc.client.Error) as exc:
            log(f"stopping {node.name} through supervisord failed: {_describe(exc)}")
        log(f"{node.name} fenced ({'its postmaster is gone' if gone else 'its postmaster did not die'})")

    def restart(self, node: PgNode) -> bool:
        """Start `node` again in place; wait for it as long as the budget allows."""
        # Orphaned backends of the killed postmaster let go of its shared memory within
        # moments; a start before that fails and costs supervisord's 1 s backoff.
        if not wait_until(
            lambda: not replication.segment_in_use(node), timeout=FENCE_TIMEOUT, interval=0.05, clock=self.clock
        ):
            log(f"old backends of {node.name} still hold its shared memory: supervisord retries the start")
        now = self.clock.now()
        deadline = self.timing.restart_deadline(self.down_since if self.down_since is not None else now)
        wait = max(MIN_RESTART_WAIT, deadline - now)
        log(f"restarting {node.name} in place (crash recovery keeps every acknowledged commit); "
            f"waiting up to {wait:.1f} s for it")
        try:
            self.supervisor.start(node.name)
        except (ThreetierError, OSError, xmlrpc.client.Error) as exc:
            log(f"supervisord could not start {node.name}: {_describe(exc)}")
            return False
        master = self.pair.master()
        ok = wait_until(lambda: sql_ready(node.port, **master), timeout=wait, interval=0.1, clock=self.clock)
        log(f"{node.name} {'is back as the primary' if ok else f'did not accept logins within {wait:.1f} s'}")
        return ok

    # --- the standby --------------------------------------------------------------------

    def begin_rebuild(self, node: PgNode, reason: str, now: float) -> None:
        if not self.lock.try_acquire():
            if not self.lock_busy:
                log(f"standby {node.name} {reason}: rebuilding it once the running `threetier up`/`down` is done")
            self.lock_busy = True
            return
        self.lock_busy = False
        log(f"standby {node.name} {reason}: rebuilding it")
        self.rebuild = Rebuild(node.name, since=now)
        self.fence(node)  # a copy replaces its data: nothing may run on it
        self.advance_rebuild(now, None)

    def advance_rebuild(self, now: float, observation: Observation | None) -> None:
        """One step of the rebuild, none of which waits."""
        import psycopg  # noqa: PLC0415

        rebuild = self.rebuild
        if rebuild is None:
            return
        node = self.pair.node(rebuild.node)
        try:
            if rebuild.step == "slot":
                if replication.reset_slot(self.pair, self.pair.primary(), node.slot_name, log):
                    rebuild.clone = replication.start_clone(self.pair, node, log)
                    rebuild.step = "clone"
                elif now - rebuild.since > SLOT_TIMEOUT:
                    raise ThreetierError(f"its replication slot is still in use after {SLOT_TIMEOUT:.0f} s")
            elif rebuild.step == "clone":
                if rebuild.clone is not None and rebuild.clone.poll():
                    replication.install_clone(self.pair, rebuild.clone, log)
                    rebuild.clone = None
                    self.supervisor.start(node.name)
                    rebuild.step, rebuild.started = "stream", now
                    if rebuild.holds_lock:  # the copy is in place: `up`/`down` may run again
                        rebuild.holds_lock = False
                        self.lock.release()
                elif now - rebuild.since > CLONE_TIMEOUT:
                    raise ThreetierError(f"pg_basebackup is still running after {CLONE_TIMEOUT:.0f} s")
            elif observation is not None and observation.streaming:
                self.rebuild = None
                log(f"standby {node.name} streams from {self.pair.primary().name}: "
                    f"rebuilt in {now - rebuild.since:.1f} s")
            elif (state := self._state(node.name)) not in {*RUNNING_STATES, "UNKNOWN"}:
                raise ThreetierError(f"{node.name} stopped right after its start (state {state})")
            elif now - rebuild.started > STREAM_TIMEOUT:
                self.rebuild, self.misses = None, 0
                log(f"standby {node.name} started but does not stream yet after {STREAM_TIMEOUT:.0f} s")
        except (ThreetierError, OSError, psycopg.Error, xmlrpc.client.Error) as exc:
            log(f"rebuilding {node.name} failed (tried again in {RETRY_AFTER:.0f} s): {_describe(exc)}")
            self.abandon_rebuild(None)
            self.retry_at = now + RETRY_AFTER

    def abandon_rebuild(self, why: str | None) -> None:
        """Stop a rebuild where it is: a running pg_basebackup is killed and its half copy
        removed (the node's old data stays, and it stays stopped); a node already started
        on a complete copy keeps running."""
        rebuild, self.rebuild = self.rebuild, None
        if rebuild is None:
            return
        if rebuild.clone is not None:
            rebuild.clone.cancel()
        if rebuild.holds_lock:
            self.lock.release()
        if why:
            log(f"rebuild of {rebuild.node} stopped at step {rebuild.step}: {why}")

    # --- helpers ------------------------------------------------------------------------

    def _info(self, name: str) -> dict | None:
        try:
            return self.supervisor.processes().get(name, {})
        except (OSError, xmlrpc.client.Error):
            return None

    def _state(self, name: str) -> str:
        info = self._info(name)
        return "UNKNOWN" if info is None else info.get("statename", "UNKNOWN")

    def _pid(self, name: str) -> int | None:
        info = self._info(name)
        return (info or {}).get("pid") or None

    @contextmanager
    def locked(self) -> Iterator[bool]:
        """The environment's lock for the block; yields whether it had to wait for it."""
        waited = not self.lock.try_acquire()
        if waited:
            log("waiting for a running `threetier up`/`down` to finish")
            # A `down` holds the lock while it stops us: give up at once when told to stop.
            wait_until(
                lambda: self.stopping or self.lock.try_acquire(), timeout=LOCK_TIMEOUT, interval=0.1,
                clock=self.clock,
            )
            if self.stopping:
                self.lock.release()
                raise Stopping()
            if not self.lock.holds:
                raise ThreetierError(
                    f"could not take the environment's lock within {LOCK_TIMEOUT:.0f} s",
                    fix="a `threetier up` or `down` seems stuck: let it finish or stop it",
                )
        try:
            yield waited
        finally:
            self.lock.release()


def _describe(exc: BaseException) -> str:
    # Messages only, never a traceback or a connection string (they could carry a password).
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]


def config_path(layout: Layout) -> Path:
    return layout.root / "watchdog.json"


def watchdog_service(layout: Layout, *, rto_seconds: float = DEFAULT_RTO_SECONDS) -> Service:
    """The supervisord program; started by `up` once the pair is in sync. `rto_seconds`
    (drill.db_rto_seconds) is its budget: ThreetierError if it cannot be kept."""
    Timing(rto_seconds=rto_seconds).check()
    return Service(
        name="db-watchdog",
        kind="watchdog",
        command=[
            sys.executable, "-m", "threetier.local.watchdog", str(config_path(layout)),
            "--rto-seconds", f"{rto_seconds:g}",
        ],
        env={"PYTHONUNBUFFERED": "1"},
        port=0,  # listens on nothing
        port_key="",
        probe=Probe("none", 0),
        directory=str(layout.root),
        # It holds no state worth protecting: a crashed watchdog is simply started again.
        autorestart=True,
        stop_signal="TERM",
        stop_wait_seconds=10,
        start_seconds=1,
        # Started last and stopped first (supervisord stops higher priorities first),
        # so `down` never looks like a dead primary to it.
        priority=90,
    )


USAGE = "usage: python -m threetier.local.watchdog <state>/watchdog.json [--rto-seconds N]"


def parse_args(argv: list[str]) -> tuple[Path, Timing] | None:
    """(config path, timing) from the command line; None when it does not parse."""
    if len(argv) == 1:
        return Path(argv[0]), Timing()
    if len(argv) == 3 and argv[1] == "--rto-seconds":
        try:
            rto = float(argv[2])
        except ValueError:
            return None
        return (Path(argv[0]), Timing(rto_seconds=rto)) if rto > 0 else None
    return None


def main(argv: list[str]) -> int:
    parsed = parse_args(argv)
    if parsed is None:
        print(USAGE, file=sys.stderr)
        return 2
    path, timing = parsed
    try:
        pair = Pair.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"cannot read the pair from {path}: {_describe(exc)} (run `threetier up` to write it)", file=sys.stderr)
        return 2
    try:
        timing.check()
    except ThreetierError as exc:
        log(f"warning: {exc.message}; watching anyway")
    watchdog = Watchdog(pair, Layout(path.parent), timing=timing)
    return run_until_signalled(watchdog)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
