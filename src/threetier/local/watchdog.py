"""The twin's failover agent (what RDS Multi-AZ does for you), run by supervisord as
`python -m threetier.local.watchdog <state>/watchdog.json` when database.multi_az is on.

Every INTERVAL seconds it asks the primary about the pair (replication.observe):
  * primary answers → steer synchronous commit (replication.sync_decision: degrade to
    async while the standby does not stream, re-enable it once it streams again) and
    rebuild the standby if it is not running or has not streamed for REBUILD_AFTER s;
  * FAILURES checks in a row unanswered → fence the old primary (stop it through
    supervisord), then promote the standby if it was in sync at the last check, or
    restart the old primary in place if it was not (see replication.failover_action),
    then rebuild the old primary as the new standby (wipe + pg_basebackup) and start
    it, so the pair is redundant again without a human.

Every action takes the environment's lock (the one `up` and `down` hold), so it never
interleaves with them, and re-checks the situation once it holds it. Every step goes
to stdout = logs/watchdog.log, without secrets.
"""

from __future__ import annotations

import fcntl
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local import replication
from threetier.local.layout import Layout
from threetier.local.postgres import PgNode, sql_ready
from threetier.local.probes import wait_until
from threetier.local.processes import is_alive, kill_process
from threetier.local.replication import Observation, Pair
from threetier.local.services import Probe, Service
from threetier.local.supervisor import RUNNING_STATES, Supervisor

INTERVAL = 0.5  # seconds between checks of the primary
FAILURES = 3  # consecutive failed checks before the primary counts as dead (~1.5 s)
DEGRADE_AFTER = 2  # checks without a streaming standby before commits stop waiting for it
REBUILD_AFTER = 20.0  # seconds a running standby may go without streaming before it is rebuilt
STREAM_TIMEOUT = 30.0  # seconds a freshly started standby gets to start streaming
LOCK_TIMEOUT = 300.0


def log(message: str) -> None:
    now = time.time()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))}.{int(now % 1 * 1000):03d} {message}", flush=True)


class Stopping(Exception):
    """SIGTERM arrived while waiting to act: leave without acting."""


class Watchdog:
    def __init__(self, pair: Pair, layout: Layout, *, interval: float = INTERVAL, failures: int = FAILURES):
        self.pair = pair
        self.layout = layout
        self.supervisor = Supervisor(layout, timeout=30)
        self.interval = interval
        self.threshold = failures
        self.failures = 0
        self.misses = 0
        self.last: Observation | None = None
        self.stopping = False

    # --- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        primary, standby = self.pair.primary(), self.pair.standby()
        log(f"watching the pair: primary {primary.name} (127.0.0.1:{primary.port}), "
            f"standby {standby.name} (127.0.0.1:{standby.port}); check every {self.interval:g} s, "
            f"failover after {self.threshold} failed checks")
        while not self.stopping:
            began = time.monotonic()
            try:
                self.tick()
            except Stopping:
                break
            except Exception as exc:  # noqa: BLE001 - the watchdog must outlive one bad round
                log(f"error in this round (retrying next round): {_describe(exc)}")
            time.sleep(max(0.0, self.interval - (time.monotonic() - began)))
        log("stopped")

    def tick(self) -> None:
        primary, standby = self.pair.primary(), self.pair.standby()
        observation = replication.observe(self.pair, primary, standby)
        if observation is None:
            self.failures += 1
            log(f"primary {primary.name} did not answer ({self.failures}/{self.threshold})")
            if self.failures >= self.threshold:
                with self.locked():
                    self.failures = 0
                    if replication.observe(self.pair, self.pair.primary(), self.pair.standby()) is None:
                        self.handle_primary_failure(self.pair.primary(), self.pair.standby())
                    else:
                        log("the primary answers again; nothing to do")
            return
        if self.failures:
            log(f"primary {primary.name} answers again")
        self.failures = 0
        self.last = observation
        standby_running = self._state(standby.name) in RUNNING_STATES
        self.misses = 0 if observation.streaming else self.misses + 1
        if not standby_running:
            self.misses = max(self.misses, DEGRADE_AFTER)  # certainly gone: stop waiting for it now
        self.steer_sync(primary, standby, observation)
        if not standby_running or self.misses * self.interval >= REBUILD_AFTER:
            with self.locked():
                self.rebuild_if_still_needed()

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

    def handle_primary_failure(self, primary: PgNode, standby: PgNode) -> None:
        action = replication.failover_action(self.last)
        state = "in sync" if self.last and self.last.in_sync else "not in sync"
        log(f"primary {primary.name} is down (state {self._state(primary.name)}); "
            f"standby {standby.name} was {state} at the last check: {action}")
        self.fence(primary)
        if action == "restart":
            if self.restart(primary):
                return
            log(f"{primary.name} did not come back: promoting {standby.name} anyway "
                "(writes acknowledged while degraded to async may be missing)")
        began = time.monotonic()
        log(f"promoting {standby.name}")
        try:
            replication.promote(self.pair, standby)
        except Exception as exc:  # noqa: BLE001
            log(f"promotion of {standby.name} failed: {_describe(exc)}; restarting {primary.name} instead")
            self.restart(primary)
            return
        self.pair.record_primary(standby.name)
        self.last, self.misses = None, 0
        log(f"{standby.name} is the primary now (promoted in {time.monotonic() - began:.1f} s); "
            "asynchronous commit until its new standby streams")
        self.rebuild(primary)

    def fence(self, node: PgNode) -> None:
        """Make sure the old primary cannot come back as a second primary."""
        try:
            self.supervisor.stop(node.name)
        except (ThreetierError, OSError) as exc:
            log(f"stopping {node.name} through supervisord failed: {_describe(exc)}")
        postmaster = _postmaster_pid(node)
        if postmaster and is_alive(postmaster):
            kill_process(postmaster)
        wait_until(lambda: not (postmaster and is_alive(postmaster)), timeout=10, interval=0.1)
        log(f"{node.name} fenced (its postmaster is gone)")

    def restart(self, node: PgNode) -> bool:
        log(f"restarting {node.name} in place (crash recovery keeps every acknowledged commit)")
        try:
            self.supervisor.start(node.name)
        except (ThreetierError, OSError) as exc:
            log(f"supervisord could not start {node.name}: {_describe(exc)}")
            return False
        master = self.pair.master()
        ok = wait_until(lambda: sql_ready(node.port, **master), timeout=20, interval=0.2)
        log(f"{node.name} {'is back as the primary' if ok else 'did not accept logins within 20 s'}")
        return ok

    # --- the standby --------------------------------------------------------------------

    def rebuild_if_still_needed(self) -> None:
        standby = self.pair.standby()
        observation = replication.observe(self.pair, self.pair.primary(), standby)
        if observation is None:
            return  # the primary is the problem; the next round handles it
        running = self._state(standby.name) in RUNNING_STATES
        if running and observation.streaming:
            self.misses = 0
            return
        reason = "is not running" if not running else f"has not streamed for {self.misses * self.interval:.0f} s"
        log(f"standby {standby.name} {reason}: rebuilding it")
        self.rebuild(standby)

    def rebuild(self, node: PgNode) -> None:
        """Wipe `node`, clone it from the primary, start it, wait until it streams."""
        began = time.monotonic()
        try:
            self.supervisor.stop(node.name)
            replication.build_standby(self.pair, node, log)
            self.supervisor.start(node.name)
        except Exception as exc:  # noqa: BLE001
            log(f"rebuilding {node.name} failed (next round retries): {_describe(exc)}")
            return
        primary = self.pair.primary()
        streaming = wait_until(
            lambda: (o := replication.observe(self.pair, primary, node)) is not None and o.streaming,
            timeout=STREAM_TIMEOUT, interval=0.2,
        )
        self.misses = 0
        if streaming:
            log(f"standby {node.name} streams from {primary.name}: rebuilt in {time.monotonic() - began:.1f} s")
        else:
            log(f"standby {node.name} started but does not stream yet after {STREAM_TIMEOUT:.0f} s")

    # --- helpers ------------------------------------------------------------------------

    def _state(self, name: str) -> str:
        try:
            return self.supervisor.processes().get(name, {}).get("statename", "UNKNOWN")
        except Exception:  # noqa: BLE001
            return "UNKNOWN"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The environment's lock, shared with `up` and `down` (see envlock.exclusive)."""
        with open(self.layout.root / ".lock", "w") as handle:
            def take() -> bool:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    return False

            if not take():
                log("waiting for a running `threetier up`/`down` to finish")
                # A `down` holds the lock while it stops us: give up at once when told to stop.
                wait_until(lambda: self.stopping or take(), timeout=LOCK_TIMEOUT, interval=0.1)
                if self.stopping:
                    raise Stopping()
                if not take():
                    raise ThreetierError("could not take the environment's lock")
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _postmaster_pid(node: PgNode) -> int | None:
    try:
        return int((node.data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _describe(exc: BaseException) -> str:
    # Messages only, never a traceback or a connection string (they could carry a password).
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]


def config_path(layout: Layout) -> Path:
    return layout.root / "watchdog.json"


def watchdog_service(layout: Layout) -> Service:
    """The supervisord program; started by `up` once the pair is in sync."""
    return Service(
        name="db-watchdog",
        kind="watchdog",
        command=[sys.executable, "-m", "threetier.local.watchdog", str(config_path(layout))],
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


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m threetier.local.watchdog <state>/watchdog.json", file=sys.stderr)
        return 2
    path = Path(argv[0])
    watchdog = Watchdog(Pair.from_json(path.read_text()), Layout(path.parent))

    def stop(signum, frame) -> None:  # noqa: ANN001, ARG001
        watchdog.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watchdog.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
