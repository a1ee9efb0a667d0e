"""Processes as /proc sees them: alive or not, and who is in a process group.

`down` uses these to prove nothing is left. Every program runs in its own process
group (gunicorn workers share their master's), but PostgreSQL puts each child in a
session of its own, so a program's processes are its group plus its descendants.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    command: tuple[str, ...]


def _stat_fields(pid: int, proc: Path = PROC) -> list[str] | None:
    try:
        raw = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2:].split()


def is_alive(pid: int, proc: Path = PROC) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as gone."""
    fields = _stat_fields(pid, proc)
    return fields is not None and fields[0] not in ("Z", "X")


def group_members(pgid: int, proc: Path = PROC) -> set[int]:
    """Live processes whose process group is `pgid`."""
    members = set()
    for entry in proc.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name), proc)
            if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                members.add(int(entry.name))
    return members


def descendants(pid: int, proc: Path = PROC) -> set[int]:
    """Live processes below `pid` in the parent tree."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name), proc)
            if fields and fields[0] not in ("Z", "X"):
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def program_processes(pid: int, proc: Path = PROC) -> set[int]:
    """A supervised program's processes: its leader, its process group and its descendants."""
    return {pid} | group_members(pid, proc) | descendants(pid, proc)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_process(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def marked_processes(variable: str, value: str, proc: Path = PROC) -> list[ProcessInfo]:
    """Live processes whose environment holds `variable=value` (what every process of one
    twin inherits), and their descendants: PostgreSQL's children overwrite their
    environment with their process titles, so only the tree finds them. Processes we may
    not inspect (another user's, as non-root) are skipped."""
    wanted = f"{variable}={value}".encode()
    marked: set[int] = set()
    info: dict[int, ProcessInfo] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid, proc)
        if fields is None or fields[0] in ("Z", "X"):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            environ = b""
            cmdline = b""
        command = tuple(part.decode(errors="replace") for part in cmdline.split(b"\0") if part)
        info[pid] = ProcessInfo(pid, int(fields[1]), command)
        if wanted in environ.split(b"\0"):
            marked.add(pid)
    children: dict[int, list[int]] = {}
    for process in info.values():
        children.setdefault(process.ppid, []).append(process.pid)
    found, todo = set(marked), list(marked)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return [info[pid] for pid in sorted(found)]
