"""Ports: is one free on loopback, and if not, which program holds it.

Checked before anything starts, so a clash is one clear message instead of a
half-started twin with a crash loop in a log file.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from threetier.errors import ThreetierError


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could bind host:port now.

    SO_REUSEADDR as the servers themselves set it: a port held only by TIME_WAIT
    sockets is free for them, a listening socket (also on 0.0.0.0) is not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS considers free right now (tests use it; another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class PortOwner:
    pid: int
    command: str


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def port_owner(port: int, proc: Path = Path("/proc")) -> PortOwner | None:
    """The process listening on `port`, found through /proc (None if not visible to us)."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) in targets:
                    raw = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                    return PortOwner(int(pid_dir.name), raw.decode(errors="replace")[:120])
        except OSError:
            continue
    return None


def check_ports_free(ports: list[tuple[int, str, str]], env: str) -> None:
    """Raise one ThreetierError naming every busy port: [(port, parameter key, what uses it)]."""
    problems = []
    for port, key, purpose in ports:
        if port_is_free(port):
            continue
        owner = port_owner(port)
        holder = f" by pid {owner.pid} ({owner.command})" if owner else ""
        problems.append(f"port {port} ({key}, {purpose}) is already in use{holder}")
    if problems:
        keys = sorted({key.split(" ")[0] for port, key, _ in ports if not port_is_free(port)})
        raise ThreetierError(
            problems[0] if len(problems) == 1 else f"{len(problems)} ports are already in use",
            details=problems if len(problems) > 1 else [],
            fix=f"stop the program holding it, or change {', '.join(keys)} in parameters/{env}.toml",
        )
