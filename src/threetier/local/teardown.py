"""`down`: stop every program through supervisord (SIGTERM to each group, a bounded wait,
then SIGKILL), make sure no process of the twin is left, and purge on request. Also the
pid record `up` leaves, so a `down` after a crashed supervisord still finds its programs."""

from __future__ import annotations

import json
import shutil
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from threetier.errors import ThreetierError
from threetier.local import watchdog
from threetier.local.envlock import exclusive
from threetier.local.probes import wait_until
from threetier.local.processes import is_alive, kill_group, kill_process, program_processes

if TYPE_CHECKING:
    from threetier.local.twin import Twin

Progress = Callable[[str], None]


@dataclass
class DownResult:
    was_running: bool
    stopped_pids: list[int]
    leftovers: list[int]  # killed with SIGKILL after the bounded wait
    purged: bool


def down(twin: Twin, purge: bool, progress: Progress) -> DownResult:
    """Stop every program, then supervisord; check no process of the twin is left.
    Data is kept unless `purge`."""
    layout = twin.layout
    if not layout.is_state_dir():
        if purge and layout.root.exists():
            raise ThreetierError(
                f"{layout.root} does not look like a threetier state directory (no {layout.marker.name})",
                fix="remove it yourself if you are sure",
            )
        return DownResult(False, [], [], False)
    with exclusive(layout.root, twin.spec.env_name, twin.clock):
        result = _down(twin, progress)
    if purge:
        progress(f"removing {layout.root}")
        shutil.rmtree(layout.root)
        result.purged = True
    return result


def _down(twin: Twin, progress: Progress) -> DownResult:
    was_running = twin.is_running()
    pids: list[int] = []
    leftovers: list[int] = []
    if was_running:
        progress("stopping the load balancer, the instances and the database")
        pids, leftovers = shutdown_supervisor(twin)
    else:
        # A crashed supervisord can leave programs behind: the pids recorded at `up` tell.
        pids = _kill_recorded_leftovers(twin)
        leftovers = list(pids)
    return DownResult(was_running, pids, leftovers, False)


def _tracked_pids(twin: Twin) -> tuple[list[int], list[int]]:
    """(every pid of the twin, the process groups): supervisord and each program's group."""
    groups = []
    pids = []
    sup_pid = twin.supervisor.pid()
    if sup_pid:
        pids.append(sup_pid)
    try:
        processes = twin.supervisor.processes()
    except (OSError, xmlrpc.client.Error):
        processes = {}
    for info in processes.values():
        if info.get("pid"):
            groups.append(info["pid"])
            pids.extend(program_processes(info["pid"]))
    return sorted(set(pids)), groups


def shutdown_supervisor(twin: Twin) -> tuple[list[int], list[int]]:
    """Stop everything through supervisord; return (every pid seen, those that needed SIGKILL)."""
    layout = twin.layout
    pids, groups = _tracked_pids(twin)
    if twin.spec.database.multi_az:
        # supervisord signals every program at once; the watchdog goes first so that
        # databases stopping never look like a failure to it.
        try:
            twin.supervisor.stop(watchdog.watchdog_service(layout).name)
        except (ThreetierError, OSError, xmlrpc.client.Error):
            pass  # shutdown below stops it anyway
    twin.supervisor.shutdown()
    # Each program gets its stopwaitsecs; supervisord then exits. Bounded, then SIGKILL.
    budget = sum(s.stop_wait_seconds for s in twin.services()) + 10
    wait_until(lambda: not any(is_alive(p) for p in pids), timeout=budget, interval=0.1, clock=twin.clock)
    left = [p for p in pids if is_alive(p)]
    # Only what is still alive: a finished group's id may already belong to someone else.
    for pgid in {g for g in groups if is_alive(g)}:
        kill_group(pgid)
    for pid in left:
        kill_process(pid)
    wait_until(lambda: not any(is_alive(p) for p in left), timeout=5, interval=0.1, clock=twin.clock)
    for stale in (layout.supervisor_socket, layout.supervisord_pidfile, layout.pids_file):
        stale.unlink(missing_ok=True)
    return pids, left


def record_pids(twin: Twin) -> None:
    """Written at the end of `up`, read by a `down` that finds supervisord gone."""
    pids, groups = _tracked_pids(twin)
    twin.layout.pids_file.write_text(json.dumps({"pids": pids, "groups": groups}))


def _kill_recorded_leftovers(twin: Twin) -> list[int]:
    try:
        record = json.loads(twin.layout.pids_file.read_text())
    except (OSError, ValueError):
        return []
    alive = [pid for pid in record.get("pids", []) if is_alive(pid) and _is_ours(pid, twin.layout.root)]
    for pid in alive:
        kill_process(pid)
    twin.layout.pids_file.unlink(missing_ok=True)
    return alive


def _is_ours(pid: int, root: Path) -> bool:
    """Guard against pid reuse: only a process whose command line mentions our state dir."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(root) in cmdline or "threetier.webapp" in cmdline
