"""`down`: stop every program through supervisord (SIGTERM to each group, a bounded wait,
then SIGKILL), then stop every process that still carries the twin's marker — whatever
restarted it, and even when supervisord or the state directory is gone — and purge on
request. `stop_twin_processes` is also how `up` clears the orphans of a dead supervisord."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass

from threetier.errors import ThreetierError
from threetier.local.envlock import exclusive
from threetier.local.plan import MARKER_VARIABLE, TwinPlan
from threetier.local.probes import Clock, wait_until
from threetier.local.processes import ProcessInfo, kill_process, marked_processes
from threetier.local.programs import Programs

Progress = Callable[[str], None]
# Programs that act on what they see (a dead primary, a dead instance): stopped before
# anything else, so the others stopping never looks like a failure to them.
ACTORS = ("asg", "db-watchdog")


@dataclass
class DownResult:
    was_running: bool
    stopped_pids: list[int]
    leftovers: list[int]  # killed with SIGKILL after the bounded wait
    purged: bool
    orphans: int = 0  # processes found by the marker that supervisord no longer managed


def twin_processes(plan: TwinPlan) -> list[ProcessInfo]:
    """Every live process of this twin (supervisord, its programs and their children,
    one-off steps), found by the marker in its environment."""
    return marked_processes(MARKER_VARIABLE, plan.marker)


def component_of(process: ProcessInfo, plan: TwinPlan) -> str | None:
    """The program a process is the leader of (its command line is the program's), or None."""
    return next((s.name for s in plan.services if tuple(s.command) == process.command), None)


def down(plan: TwinPlan, programs: Programs, *, clock: Clock, purge: bool, progress: Progress) -> DownResult:
    layout = plan.layout
    if not layout.is_state_dir():
        if purge and layout.root.exists():
            raise ThreetierError(
                f"{layout.root} does not look like a threetier state directory (no {layout.marker.name})",
                fix="remove it yourself if you are sure",
            )
        # The state directory may have been deleted under a running twin.
        pids, killed = stop_twin_processes(plan, clock, progress)
        return DownResult(bool(pids), pids, killed, False, orphans=len(pids))
    with exclusive(layout.root, plan.env_name, clock):
        result = _down(plan, programs, clock, progress)
    if purge:
        progress(f"removing {layout.root}")
        shutil.rmtree(layout.root)
        result.purged = True
    return result


def _down(plan: TwinPlan, programs: Programs, clock: Clock, progress: Progress) -> DownResult:
    was_running = programs.is_running()
    pids: list[int] = []
    leftovers: list[int] = []
    if was_running:
        progress("stopping the load balancer, the instances and the database")
        pids, leftovers = shutdown_supervisor(plan, programs, clock)
    orphans, killed = stop_twin_processes(plan, clock, progress)
    for stale in (plan.layout.supervisor_socket, plan.layout.supervisord_pidfile):
        stale.unlink(missing_ok=True)
    return DownResult(
        was_running or bool(orphans), sorted({*pids, *orphans}), sorted({*leftovers, *killed}), False,
        orphans=len(orphans),
    )


def shutdown_supervisor(plan: TwinPlan, programs: Programs, clock: Clock) -> tuple[list[int], list[int]]:
    """Stop everything through supervisord; return (every pid seen, those that needed SIGKILL)."""
    pids = {p.pid for p in twin_processes(plan)}
    for name in ACTORS:
        if plan.service(name) is not None:
            try:
                programs.stop(name)
            except (ThreetierError, OSError):
                pass  # shutdown below stops it anyway
    programs.supervisor.shutdown()
    # Each program gets its stopwaitsecs; supervisord then exits. Bounded, then SIGKILL.
    budget = sum(s.stop_wait_seconds for s in plan.services) + 10
    left = _kill_what_outlives(plan, clock, budget)
    return sorted(pids | left), sorted(left)


def stop_twin_processes(
    plan: TwinPlan, clock: Clock, progress: Progress, *, reason: str = "supervisord no longer manages"
) -> tuple[list[int], list[int]]:
    """Stop every process that carries the twin's marker: each tree's top process gets its
    program's stop signal (PostgreSQL: SIGINT, a fast shutdown; the rest SIGTERM), a
    bounded wait, then SIGKILL for whatever is left. Returns (pids found, pids killed)."""
    found = twin_processes(plan)
    if not found:
        return [], []
    progress(f"stopping {len(found)} processes of the twin that {reason}")
    pids = {p.pid for p in found}
    stop_signals = {tuple(s.command): s.stop_signal for s in plan.services}
    for process in found:
        if process.ppid not in pids:  # the top of a tree: it stops its own children
            kill_process(process.pid, getattr(signal, f"SIG{stop_signals.get(process.command, 'TERM')}"))
    budget = max((s.stop_wait_seconds for s in plan.services), default=10) + 5
    left = _kill_what_outlives(plan, clock, budget)
    return sorted(pids | left), sorted(left)


def _kill_what_outlives(plan: TwinPlan, clock: Clock, budget: float) -> set[int]:
    """Wait up to `budget` s for every process of the twin to end, SIGKILL the rest, wait a
    little for those too; return the pids that needed SIGKILL."""
    wait_until(lambda: not twin_processes(plan), timeout=budget, interval=0.1, clock=clock)
    left = {p.pid for p in twin_processes(plan)}
    for pid in left:
        kill_process(pid, signal.SIGKILL)
    wait_until(lambda: not twin_processes(plan), timeout=5, interval=0.1, clock=clock)
    return left
