"""The twin's live programs: supervisord's view of each (state, pid), the end of a
program's log for an error message, and the load balancer's view of target health.

`Programs` is the one live collaborator `up`, `status`, `down` and the drills share
with the plan; its health reader is thread-safe (a drill polls it while the twin's
helpers read it too).
"""

from __future__ import annotations

import threading
import xmlrpc.client
from pathlib import Path

from threetier.local.caddy import TargetHealthReader
from threetier.local.layout import Layout
from threetier.local.supervisor import Supervisor

FAILED_STATES = {"FATAL", "BACKOFF", "EXITED"}
HEALTH_WORDS = {True: "healthy", False: "unhealthy", None: "unknown"}


class Programs:
    """One twin's supervised programs.

    >>> programs = Programs(layout, {"web-1a": 8101, "web-1c": 8102})
    >>> programs.state("web-1a")            # 'RUNNING' | 'NOT RUNNING' | 'UNKNOWN' ...
    >>> programs.target_health_states()     # {'web-1a': 'healthy', 'web-1c': 'unknown'}
    """

    def __init__(self, layout: Layout, instance_ports: dict[str, int], *, supervisor: Supervisor | None = None):
        self.layout = layout
        self.supervisor = supervisor or Supervisor(layout)
        self.instance_ports = dict(instance_ports)
        self._names_by_port = {port: name for name, port in instance_ports.items()}
        self._health = TargetHealthReader(layout.lb_health_log, list(instance_ports.values()))
        self._health_lock = threading.Lock()

    # --- supervisord ------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.supervisor.is_running()

    def processes(self) -> dict[str, dict]:
        """name → supervisord's process info; empty when supervisord does not answer."""
        try:
            return self.supervisor.processes() if self.supervisor.is_running() else {}
        except (OSError, xmlrpc.client.Error):
            return {}

    def state(self, name: str, processes: dict | None = None) -> str:
        """supervisord's statename for `name` ("NOT RUNNING" if unknown to it, "UNKNOWN" if
        supervisord does not answer); `processes` reuses an answer already fetched."""
        try:
            processes = processes if processes is not None else self.supervisor.processes()
        except (OSError, xmlrpc.client.Error):
            return "UNKNOWN"
        return processes.get(name, {}).get("statename", "NOT RUNNING")

    def states(self) -> dict[str, str]:
        """name → statename; empty when the twin is down or does not answer."""
        return {name: info.get("statename", "") for name, info in self.processes().items()}

    def failed(self, name: str) -> bool:
        return self.state(name) in FAILED_STATES

    def pid(self, name: str) -> int | None:
        return self.processes().get(name, {}).get("pid") or None

    def start(self, name: str, *, spawn_error_ok: bool = False) -> None:
        self.supervisor.start(name, spawn_error_ok=spawn_error_ok)

    def stop(self, name: str) -> None:
        self.supervisor.stop(name)

    def log_tail(self, name: str, lines: int = 15) -> list[str]:
        """The last lines of a program's log, for the details of an error message."""
        path = self.layout.log_of(name)
        return tail_lines(path, lines) or [f"(no output in {path})"]

    # --- the load balancer's view ----------------------------------------------------------

    def target_health_states(self) -> dict[str, str]:
        """name → 'healthy' | 'unhealthy' | 'unknown', as the load balancer's health checks decided."""
        with self._health_lock:
            by_port = self._health.read()
        return {name: HEALTH_WORDS[by_port[port]] for name, port in self.instance_ports.items()}

    def health_events_since(self, wall_time: float) -> list[tuple[float, str, bool]]:
        """(Caddy's epoch time, instance name, healthy) for each change after `wall_time`."""
        with self._health_lock:
            self._health.read()
            transitions = list(self._health.transitions)
        return [(ts, self._names_by_port[port], ok) for ts, port, ok in transitions if ts >= wall_time]


def tail_lines(path: Path, count: int, *, max_bytes: int = 512 * 1024) -> list[str]:
    """The last `count` lines of a file (reads at most max_bytes from its end)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-count:] if count > 0 else []
