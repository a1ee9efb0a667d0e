"""The twin's supervised programs as `up`, `status` and `down` read them: a program's
state in supervisord, whether it failed, and the end of its log for an error message."""

from __future__ import annotations

import xmlrpc.client
from pathlib import Path

from threetier.local.layout import Layout
from threetier.local.supervisor import Supervisor

FAILED_STATES = {"FATAL", "BACKOFF", "EXITED"}


def program_state(supervisor: Supervisor, name: str, processes: dict | None = None) -> str:
    """supervisord's statename for `name` ("NOT RUNNING" if unknown to it, "UNKNOWN" if
    supervisord does not answer); `processes` reuses an answer already fetched."""
    try:
        processes = processes if processes is not None else supervisor.processes()
    except (OSError, xmlrpc.client.Error):
        return "UNKNOWN"
    return processes.get(name, {}).get("statename", "NOT RUNNING")


def has_failed(supervisor: Supervisor, name: str) -> bool:
    return program_state(supervisor, name) in FAILED_STATES


def log_tail(layout: Layout, name: str, lines: int = 15) -> list[str]:
    """The last lines of a program's log, for the details of an error message."""
    return tail_lines(layout.log_of(name), lines) or [f"(no output in {layout.log_of(name)})"]


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
