"""Ports: is one free on loopback, and if not, which program holds it.

Checked before anything starts, so a clash is one clear message instead of a
half-started twin with a crash loop in a log file.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import socket
import tempfile
import threading
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
    """One free loopback port that no other `allocate_ports` call hands out (see there)."""
    return allocate_ports(1, host=host)[0][0]


# Where allocate_ports looks: below the kernel's ephemeral range, so no outgoing
# connection (a test's HTTP client, a psycopg connection) is ever given a port we
# handed out before its server bound it.
ALLOCATION_RANGE = (20000, 32768)
LOCK_FILE = Path(tempfile.gettempdir()) / "threetier-ports.lock"


class PortAllocator:
    """Hands out loopback ports from `span` (low, high: high excluded), remembering what this
    process handed out, with `lock_file` telling the other processes.

    Other processes are other xdist workers and other test sessions on the same machine
    (several people run the suite at once on shared CI hosts). A port range per xdist
    worker (from PYTEST_XDIST_WORKER) would keep two workers apart but not two sessions'
    gw0s, so instead every handed-out port is a one-byte POSIX record lock at offset
    `port` of one shared file, held for the life of the process: the kernel drops it
    when the process exits, however it exits, so no stale reservation survives. POSIX
    locks are per process (two fds of one process never conflict), hence also the
    in-process set, under a thread lock. A record lock is dropped when the process closes
    *any* fd of the file, so the file is opened once and kept open.
    """

    def __init__(self, lock_file: Path, span: tuple[int, int]) -> None:
        self.lock_file, self.span = lock_file, span
        self.handed_out: set[int] = set()
        self.mutex = threading.Lock()
        self.fd: int | None = None
        self.pid = 0

    def lock_fd(self) -> int | None:
        if self.fd is None or self.pid != os.getpid():  # a forked child holds no locks
            self.pid, self.handed_out = os.getpid(), set()
            try:
                self.fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError:  # unwritable (another user's): the port probe alone guards
                self.fd = None
        return self.fd

    def reserve(self, port: int) -> bool:
        fd = self.lock_fd()
        if fd is None:
            return True
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
        except OSError:
            return False
        return True

    def release(self, port: int) -> None:
        if self.fd is not None:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, port)

    def allocate(self, sizes: tuple[int, ...], host: str = "127.0.0.1") -> list[range]:
        """See `allocate_ports`."""
        low, high = self.span
        total = high - low
        blocks: list[range] = []
        with self.mutex:
            self.lock_fd()
            # A random start spreads concurrent processes over the range; the locks, not
            # the randomness, are what keep them apart.
            start = random.randrange(total)  # noqa: S311 - not a secret
            for size in sizes:
                if size < 1 or size > total:
                    raise ValueError(f"a block of {size} ports cannot be allocated")
                for step in range(total):
                    first = low + (start + step) % total
                    block = range(first, first + size)
                    if block.stop <= high and self.take(block, host):
                        blocks.append(block)
                        start = (start + step + size) % total
                        break
                else:
                    for block in blocks:
                        self.give_back(block)
                    raise ThreetierError(
                        f"no {size} consecutive free loopback ports in {low}-{high - 1}",
                        fix="stop leftover test processes (`ss -ltnp` shows who holds the ports)",
                    )
        return blocks

    def take(self, block: range, host: str) -> bool:
        taken: list[int] = []
        for port in block:
            if port in self.handed_out or not self.reserve(port):
                break
            taken.append(port)
            if not port_is_free(port, host):
                break
        else:
            self.handed_out.update(block)
            return True
        for port in taken:
            self.release(port)
        return False

    def give_back(self, block: range) -> None:
        for port in block:
            self.handed_out.discard(port)
            self.release(port)


_allocator = PortAllocator(LOCK_FILE, ALLOCATION_RANGE)


def allocate_ports(*sizes: int, host: str = "127.0.0.1") -> list[range]:
    """One block of consecutive free loopback ports per size, all at once, none overlapping,
    none handed out before by any call in any process still alive (tests, drills, benchmarks).

        http, https, db_pair, apps = allocate_ports(1, 1, 2, 2)
        db_primary, db_standby = db_pair

    The ports stay reserved until the process exits; `port_is_free` still applies, so a
    port something else listens on is never returned.
    """
    return _allocator.allocate(sizes, host)


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
