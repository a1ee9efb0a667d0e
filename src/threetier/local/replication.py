"""The database pair of a multi-AZ twin (the RDS Multi-AZ analog): roles, the
replication login, slots, base backups, synchronous commit and lag.

Roles are dynamic. The node named in <state>/postgres/roles.json is the primary, the
other one the standby (it has standby.signal and streams from its peer through the
`primary_conninfo` in its threetier.conf). A failover rewrites roles.json; `up`,
`status` and the watchdog all read it, and the live truth is pg_is_in_recovery().

A standby is (re)built by wiping it and taking a fresh base backup of the primary
(pg_basebackup through a physical replication slot), never with pg_rewind: after a
kill -9 the old primary's directory may hold anything (RDS replaces the standby host
too), pg_rewind needs wal_log_hints or checksums and every WAL segment since the
fork, and the twin's database is small, so the copy takes about a second. The price
is a full copy for a large database.

Writes while the standby is down or rebuilding: the primary keeps accepting them, as
RDS does. With `synchronous_commit = on` and the standby listed in
`synchronous_standby_names`, every commit would hang until the standby returns, so
the watchdog *degrades to asynchronous commit* (empty synchronous_standby_names +
reload) once the standby has not streamed for a moment, and re-lists it as soon as
it streams again. The window: commits acknowledged while degraded exist on the
primary only. To keep that window from turning into lost writes, the watchdog
promotes the standby only if it was a streaming *synchronous* standby at the last
check before the primary died; otherwise it restarts the old primary in place (crash
recovery keeps every acknowledged commit) and promotes only if that fails — the one
case where writes acknowledged while degraded can be lost (both nodes failing). A
standby being rebuilt is never promoted.

"The primary did not answer" means a connection-level failure only (psycopg's
OperationalError: refused, timed out, shutting down, starting up, connection lost).
Any other error is a bug or a misconfiguration, not a dead primary: it propagates,
so it can never fence and demote a healthy primary.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from threetier.errors import ThreetierError
from threetier.local import postgres
from threetier.local.postgres import PgNode, chown_to
from threetier.local.processes import descendants, is_alive, kill_process
from threetier.local.secrets import DB_MASTER_PASSWORD, DB_REPLICATION_PASSWORD, read_secret

REPLICATION_USER = "threetier_replicator"
ROLES_FILE = "roles.json"
CLONE_PIDFILE = "basebackup.pid"  # in the node's directory: the pg_basebackup copying into it

if TYPE_CHECKING:
    import psycopg

Log = Callable[[str], None]


def sync_names(standby: str) -> str:
    """synchronous_standby_names for one standby; quoted, node names hold hyphens."""
    return f'"{standby}"'


def sync_decision(*, standby: str, streaming: bool, current: str, misses: int, degrade_after: int) -> str | None:
    """What the primary's synchronous_standby_names should become now (None: leave it).

    Streaming standby → synchronous commit with it. A standby that has missed
    `degrade_after` consecutive checks → asynchronous (''), so commits stop waiting
    for a node that is not there. In between, leave it: a blip costs a short wait,
    not a degraded pair.
    """
    wanted = sync_names(standby)
    if streaming:
        return wanted if current != wanted else None
    if current and misses >= degrade_after:
        return ""
    return None


@dataclass(frozen=True)
class Observation:
    """The primary's view of the pair at one check."""

    sync_names: str  # the primary's synchronous_standby_names ('' = degraded/async)
    standby_state: str | None  # pg_stat_replication.state ('streaming', 'catchup'...) or None
    sync_state: str | None  # 'sync' | 'async' | 'potential' ... or None
    lag_bytes: int | None
    lag_seconds: float | None

    @property
    def streaming(self) -> bool:
        return self.standby_state == "streaming"

    @property
    def in_sync(self) -> bool:
        """Every acknowledged commit is also on the standby: the standby may be promoted."""
        return self.streaming and self.sync_state == "sync" and bool(self.sync_names)


def failover_action(last: Observation | None, *, standby_rebuilding: bool = False) -> str:
    """When the primary is dead: 'promote' the standby only if it was in sync at the
    last check; otherwise 'restart' the old primary (no acknowledged write is lost).
    A standby being rebuilt (cloned, or started but not yet streaming) is never in sync."""
    return "promote" if last is not None and last.in_sync and not standby_rebuilding else "restart"


@dataclass(frozen=True)
class Pair:
    """Everything needed to operate the pair; also the watchdog's config (JSON)."""

    nodes: tuple[PgNode, PgNode]
    bin_dir: Path
    os_user: str | None
    master_user: str
    secrets_dir: Path
    postgres_dir: Path

    # --- roles ----------------------------------------------------------------------

    @property
    def roles_file(self) -> Path:
        return self.postgres_dir / ROLES_FILE

    def recorded_primary(self) -> str:
        try:
            name = json.loads(self.roles_file.read_text())["primary"]
        except (OSError, ValueError, KeyError, TypeError):
            return self.nodes[0].name
        return name if name in {n.name for n in self.nodes} else self.nodes[0].name

    def record_primary(self, name: str) -> None:
        """Write roles.json atomically (a crash leaves the old or the new file, never half)."""
        tmp = self.roles_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"primary": name}) + "\n")
        os.replace(tmp, self.roles_file)

    def primary(self) -> PgNode:
        return self.node(self.recorded_primary())

    def standby(self) -> PgNode:
        primary = self.recorded_primary()
        return next(n for n in self.nodes if n.name != primary)

    def node(self, name: str) -> PgNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ThreetierError(
            f"the database pair has no node named {name!r}",
            fix=f"use one of: {', '.join(n.name for n in self.nodes)}",
        )

    def peer(self, node: PgNode) -> PgNode:
        return next(n for n in self.nodes if n.name != node.name)

    # --- credentials ----------------------------------------------------------------

    def master(self) -> dict[str, str]:
        return {"user": self.master_user, "password": read_secret(self.secrets_dir / DB_MASTER_PASSWORD)}

    def connect(self, node: PgNode, timeout: float = 2) -> psycopg.Connection:
        return postgres.connect(node.port, timeout=timeout, **self.master())

    # --- serialisation (the watchdog's config) -----------------------------------------

    def to_json(self) -> str:
        return json.dumps({
            "nodes": [{**asdict(n), "directory": str(n.directory)} for n in self.nodes],
            "bin_dir": str(self.bin_dir), "os_user": self.os_user, "master_user": self.master_user,
            "secrets_dir": str(self.secrets_dir), "postgres_dir": str(self.postgres_dir),
        }, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Pair:
        raw = json.loads(text)
        nodes = tuple(PgNode(**{**n, "directory": Path(n["directory"])}) for n in raw["nodes"])
        return cls(
            nodes=nodes, bin_dir=Path(raw["bin_dir"]), os_user=raw["os_user"], master_user=raw["master_user"],
            secrets_dir=Path(raw["secrets_dir"]), postgres_dir=Path(raw["postgres_dir"]),
        )


# --- setup ------------------------------------------------------------------------------


def node_standby_lines(pair: Pair, node: PgNode) -> list[str]:
    return postgres.standby_lines(node, pair.peer(node), REPLICATION_USER)


def write_passfiles(pair: Pair) -> None:
    """Each node's pgpass for the replication login: 0600, owned by the database's OS user."""
    password = read_secret(pair.secrets_dir / DB_REPLICATION_PASSWORD)
    for node in pair.nodes:
        node.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(node.directory, 0o700)
        chown_to(node.directory, pair.os_user)
        path = node.replication_passfile
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"127.0.0.1:*:replication:{REPLICATION_USER}:{_pgpass_escape(password)}\n")
        os.chmod(path, 0o600)
        chown_to(path, pair.os_user)


def _pgpass_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def ensure_replication_role(pair: Pair) -> None:
    """The standby's login: LOGIN REPLICATION only, password sent as a SCRAM verifier."""
    from psycopg import sql  # noqa: PLC0415

    verifier = postgres.scram_verifier(read_secret(pair.secrets_dir / DB_REPLICATION_PASSWORD))
    with pair.connect(pair.primary()) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (REPLICATION_USER,)).fetchone()
        verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
        conn.execute(sql.SQL("{} {} WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            verb, sql.Identifier(REPLICATION_USER), sql.Literal(verifier)
        ))


def needs_base_backup(pair: Pair, node: PgNode) -> bool:  # noqa: ARG001 - callers pass the pair
    """A standby-to-be with no cluster, or one that is not a standby (an ex-primary
    after a failover, or a half-finished rebuild): it must be cloned again."""
    return not node.initialized or not (node.data_dir / "standby.signal").is_file()


def reset_slot(pair: Pair, primary: PgNode, slot: str, log: Log) -> bool:
    """A fresh physical slot for the standby being rebuilt (an old one may pin WAL from
    long ago); never waits. False while an old walsender of that node still holds the
    slot: it is told to stop (the node is being rebuilt, nothing else may use its slot),
    so a call a moment later succeeds."""
    with pair.connect(primary) as conn:
        row = conn.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
        if row is not None and row[0] is not None:
            conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
            return False
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        )
        conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", (slot,))
    log(f"replication slot {slot} created on {primary.name}")
    return True


@dataclass
class Clone:
    """A pg_basebackup of the primary into <node>/data.new, running in the background:
    poll() it (the watchdog does, once per check), or wait() for it."""

    node: PgNode
    primary: PgNode
    process: subprocess.Popen
    began: float = field(default_factory=time.monotonic)

    @property
    def staging(self) -> Path:
        return self.node.directory / "data.new"

    @property
    def log_path(self) -> Path:
        return self.node.directory / "basebackup.log"

    def poll(self) -> bool:
        """True once the copy is complete; False while it runs; ThreetierError if it failed."""
        code = self.process.poll()
        if code is None:
            return False
        if code != 0:
            shutil.rmtree(self.staging, ignore_errors=True)
            try:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-10:]
            except OSError:
                tail = []
            raise ThreetierError(
                f"pg_basebackup of {self.primary.name} into {self.node.name} failed (exit {code})",
                details=tail,
                fix=f"check that {self.primary.name} runs and accepts replication logins "
                "(see its log); `threetier down --purge` starts the pair over",
            )
        return True

    def wait(self, timeout: float) -> None:
        """Block until the copy is complete (ThreetierError if it fails or takes longer than `timeout`)."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.cancel()
            raise ThreetierError(
                f"pg_basebackup of {self.primary.name} into {self.node.name} took longer than {timeout:.0f} s",
                fix=f"see the log of {self.primary.name}; a large database needs a longer rebuild",
            ) from None
        self.poll()

    def cancel(self) -> None:
        """Stop the copy (pg_basebackup and its WAL-streaming child) and drop the half copy."""
        if self.process.poll() is None:
            for pid in descendants(self.process.pid) | {self.process.pid}:
                kill_process(pid, signal.SIGKILL)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass  # unkillable (D state): the rmtree below still frees the node
        shutil.rmtree(self.staging, ignore_errors=True)


def start_clone(pair: Pair, node: PgNode, log: Log) -> Clone:
    """Start a pg_basebackup of the primary into `node`'s data.new (through `node`'s slot,
    which reset_slot made fresh); returns at once."""
    primary = pair.primary()
    if node.name == primary.name:
        raise ThreetierError(
            f"refusing to rebuild {node.name}: it is the primary",
            fix=f"check {pair.roles_file}: it should name the node that runs as the primary",
        )
    staging = node.directory / "data.new"
    stop_leftover_clone(node, log)
    shutil.rmtree(staging, ignore_errors=True)
    log(f"pg_basebackup of {primary.name} (127.0.0.1:{primary.port}) into {node.name}")
    conninfo = (
        f"host=127.0.0.1 port={primary.port} user={REPLICATION_USER} "
        f"passfile={node.replication_passfile} application_name={node.name}-basebackup connect_timeout=3"
    )
    # Output to a file, not a pipe: nobody reads a pipe while the watchdog polls.
    with open(node.directory / "basebackup.log", "w") as output:
        process = subprocess.Popen(
            [
                str(pair.bin_dir / "pg_basebackup"), "-D", str(staging), "-d", conninfo, "--no-password",
                "-X", "stream", "-S", node.slot_name, "-c", "fast", "--no-sync",
            ],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, cwd=node.directory,
            **postgres.demote_kwargs(pair.os_user),
        )
    (node.directory / CLONE_PIDFILE).write_text(f"{process.pid}\n")
    return Clone(node, primary, process)


def stop_leftover_clone(node: PgNode, log: Log) -> None:
    """A pg_basebackup left running by a watchdog that was killed mid-copy would keep
    writing into data.new (and delete it when it fails): stop it before a new copy."""
    from threetier.local.probes import wait_until  # noqa: PLC0415

    try:
        pid = int((node.directory / CLONE_PIDFILE).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"pg_basebackup" not in cmdline or str(node.directory / "data.new").encode() not in cmdline:
        return  # gone, and its pid reused by another program
    pids = descendants(pid) | {pid}
    for each in pids:
        kill_process(each, signal.SIGKILL)
    wait_until(lambda: not any(is_alive(p) for p in pids), timeout=2, interval=0.05)
    log(f"stopped a pg_basebackup into {node.name} left over from an earlier rebuild (pid {pid})")


def install_clone(pair: Pair, clone: Clone, log: Log) -> float:
    """Put a complete clone in place of `node`'s data directory, as a standby of the
    primary it was cloned from; return the seconds since the clone began. The old data
    is replaced only now, so an interrupted rebuild never leaves a half cluster that
    could start."""
    node, staging = clone.node, clone.staging
    log(f"pg_basebackup finished in {time.monotonic() - clone.began:.1f} s")
    # The primary's ALTER SYSTEM settings came along; a standby must not list itself.
    auto_conf = staging / "postgresql.auto.conf"
    if auto_conf.exists():
        kept = [line for line in auto_conf.read_text().splitlines() if not line.startswith("synchronous_standby_names")]
        auto_conf.write_text("\n".join(kept) + "\n")
    signal_file = staging / "standby.signal"
    signal_file.touch()
    chown_to(signal_file, pair.os_user)
    old = node.directory / "data.old"
    shutil.rmtree(old, ignore_errors=True)
    if node.data_dir.exists():
        os.replace(node.data_dir, old)
    os.replace(staging, node.data_dir)
    shutil.rmtree(old, ignore_errors=True)
    postgres.write_node_config(
        node, bin_dir=pair.bin_dir, os_user=pair.os_user, standby=node_standby_lines(pair, node)
    )
    seconds = time.monotonic() - clone.began
    log(f"{node.name} cloned from {clone.primary.name} in {seconds:.1f} s")
    return seconds


def build_standby(pair: Pair, node: PgNode, log: Log, *, timeout: float = 300) -> float:
    """Wipe `node` and clone it from the primary as a standby, waiting for the copy
    (what `up` does; the watchdog runs the same steps without blocking); return the
    seconds it took."""
    from threetier.local.probes import wait_until  # noqa: PLC0415

    primary = pair.primary()
    if node.name == primary.name:
        raise ThreetierError(
            f"refusing to rebuild {node.name}: it is the primary",
            fix=f"check {pair.roles_file}: it should name the node that runs as the primary",
        )
    if not wait_until(lambda: reset_slot(pair, primary, node.slot_name, log), timeout=15, interval=0.2):
        raise ThreetierError(
            f"replication slot {node.slot_name} on {primary.name} is still in use by an old standby",
            fix=f"stop whatever still streams as {node.name} (see `threetier status`), then run `threetier up` again",
        )
    clone = start_clone(pair, node, log)
    clone.wait(timeout)
    return install_clone(pair, clone, log)


def segment_in_use(node: PgNode, shm_table: Path = Path("/proc/sysvipc/shm")) -> bool:
    """Whether processes of `node`'s last postmaster are still attached to its shared
    memory: after a kill -9 its backends linger for a moment, and a new postmaster
    refuses to start until they are gone ("pre-existing shared memory block is still
    in use")."""
    try:
        shmid = int((node.data_dir / "postmaster.pid").read_text().splitlines()[6].split()[1])
        table = shm_table.read_text().splitlines()[1:]
    except (OSError, ValueError, IndexError):
        return False
    for line in table:
        fields = line.split()
        if len(fields) > 6 and fields[1] == str(shmid):
            return int(fields[6]) > 0
    return False


def postmaster_pid(node: PgNode) -> int | None:
    """The pid in the node's postmaster.pid while that process is alive and is this
    node's postmaster (a stale file may name a pid reused by another program)."""
    try:
        pid = int((node.data_dir / "postmaster.pid").read_text().splitlines()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return None
    return pid if is_alive(pid) and str(node.data_dir).encode() in cmdline else None


# --- observing and steering the pair -------------------------------------------------


def observe(pair: Pair, primary: PgNode, standby: PgNode, *, timeout: float = 1) -> Observation | None:
    """The pair as the primary sees it; None when the primary does not answer as a primary
    (a connection-level failure, or it runs as a standby). Any other error propagates."""
    import psycopg  # noqa: PLC0415 - keeps `threetier --help` fast

    try:
        with pair.connect(primary, timeout=timeout) as conn:
            in_recovery, names = conn.execute(
                "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names')"
            ).fetchone()
            if in_recovery:
                return None
            row = conn.execute(
                "SELECT state, sync_state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,"
                " extract(epoch FROM replay_lag)::float8 FROM pg_stat_replication"
                " WHERE application_name = %s ORDER BY state = 'streaming' DESC LIMIT 1",
                (standby.name,),
            ).fetchone()
    except psycopg.OperationalError:  # refused, timed out, shutting down, starting up, lost
        return None
    if row is None:
        return Observation(names, None, None, None, None)
    state, sync_state, lag_bytes, lag_seconds = row
    return Observation(names, state, sync_state, None if lag_bytes is None else int(lag_bytes), lag_seconds or 0.0)


def set_sync_names(pair: Pair, primary: PgNode, value: str) -> None:
    """ALTER SYSTEM + reload: takes effect for every commit without a restart."""
    from psycopg import sql  # noqa: PLC0415

    with pair.connect(primary) as conn:
        conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def promote(pair: Pair, node: PgNode) -> None:
    """Promote a standby and make sure it waits for nobody (its new standby is not built yet)."""
    with pair.connect(node, timeout=3) as conn:
        (promoted,) = conn.execute("SELECT pg_promote(true, 30)").fetchone()
    if not promoted:
        raise ThreetierError(
            f"{node.name} did not finish its promotion within 30 s",
            fix=f"see the log of {node.name}; `threetier status` shows which node runs as the primary",
        )
    set_sync_names(pair, node, "")


def is_in_recovery(pair: Pair, node: PgNode, timeout: float = 1) -> bool | None:
    """True for a standby, False for a primary, None when it does not answer (a
    connection-level failure; any other error propagates)."""
    import psycopg  # noqa: PLC0415

    try:
        with pair.connect(node, timeout=timeout) as conn:
            return bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])
    except psycopg.OperationalError:
        return None
