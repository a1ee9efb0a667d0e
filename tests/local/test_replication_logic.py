"""The database pair's decisions and configuration, without starting anything:
when commit degrades to async and back, when the watchdog promotes, the pair's
nodes, roles file, standby config and the watchdog program."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import psycopg
import pytest

from threetier.errors import ThreetierError
from threetier.local import postgres, replication
from threetier.local.postgres import PgNode, node_config
from threetier.local.replication import Observation, Pair, failover_action, sync_decision
from threetier.local.supervisor import render_supervisord_conf
from threetier.local.twin import Twin
from threetier.paths import parameters_dir
from threetier.spec import parse_spec


def pair_spec(multi_az: bool = True):
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    data["database"]["multi_az"] = multi_az
    data["local"]["db_port"] = 54320
    return parse_spec(data)


@pytest.fixture
def twin(tmp_path):
    return Twin(pair_spec(), tmp_path / "state")


# --- degrade to async and back -----------------------------------------------------------


def decide(streaming: bool, current: str, misses: int) -> str | None:
    return sync_decision(standby="db-1c", streaming=streaming, current=current, misses=misses, degrade_after=2)


def test_a_streaming_standby_is_made_synchronous_once():
    assert decide(True, "", 0) == '"db-1c"'
    assert decide(True, '"db-1c"', 0) is None  # already: no reload every round


def test_a_missing_standby_degrades_commit_to_async_only_after_the_grace_checks():
    assert decide(False, '"db-1c"', 1) is None  # one blip: commits wait a moment, the pair stays sync
    assert decide(False, '"db-1c"', 2) == ""  # gone: stop waiting for it, writes continue on the primary
    assert decide(False, "", 50) is None  # already async: nothing to do


def test_a_standby_listed_under_an_old_name_is_replaced():
    assert decide(True, '"db-1a"', 0) == '"db-1c"'


def observation(state: str | None, sync_state: str | None, names: str) -> Observation:
    return Observation(names, state, sync_state, 0, 0.0)


IN_SYNC_ROW = Observation('"db-1c"', "streaming", "sync", 0, 0.0)


def test_promotion_only_from_a_standby_that_was_in_sync():
    assert failover_action(observation("streaming", "sync", '"db-1c"')) == "promote"
    # Degraded (async) or catching up: the standby may miss acknowledged commits.
    assert failover_action(observation("streaming", "async", "")) == "restart"
    assert failover_action(observation("catchup", "sync", '"db-1c"')) == "restart"
    assert failover_action(observation(None, None, "")) == "restart"
    assert failover_action(None) == "restart"  # never saw the pair healthy


def test_a_standby_being_rebuilt_is_never_promoted():
    in_sync = observation("streaming", "sync", '"db-1c"')
    assert failover_action(in_sync, standby_rebuilding=True) == "restart"
    assert failover_action(in_sync, standby_rebuilding=False) == "promote"


# --- only connection-level failures mean "the primary did not answer" -------------------------


class FakeConnection:
    """Answers like a primary with a streaming synchronous standby, or raises `error`
    at the first query."""

    def __init__(self, error: Exception | None = None):
        self.error = error
        self.sql: list[str] = []
        self.rows = [(False, '"db-1c"'), ("streaming", "sync", 0, 0.0)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, params=None):
        self.sql.append(str(query))
        if self.error is not None:
            raise self.error
        row = self.rows.pop(0) if self.rows else None
        return type("Cursor", (), {"fetchone": lambda _self: row})()


class FakeServer:
    """What postgres.connect hands out: `connection` (a FakeConnection, or an exception
    raised by the connect itself)."""

    def __init__(self, pair: Pair):
        self.pair = pair
        self.connection: FakeConnection | Exception = FakeConnection()

    def connect(self, port, **_):
        if isinstance(self.connection, Exception):
            raise self.connection
        return self.connection


@pytest.fixture
def server(tmp_path, monkeypatch):
    (tmp_path / "db-master-password").write_text("not-a-real-one")
    nodes = tuple(PgNode(n, "primary", p, tmp_path / n) for n, p in (("db-1a", 5000), ("db-1c", 5001)))
    server = FakeServer(Pair(nodes, tmp_path, None, "admin", tmp_path, tmp_path))
    monkeypatch.setattr(postgres, "connect", server.connect)
    return server


CONNECTION_FAILURES = [
    psycopg.OperationalError("connection refused"),
    psycopg.errors.ConnectionTimeout("connection timeout expired"),
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    psycopg.errors.CannotConnectNow("the database system is starting up"),
    psycopg.errors.CrashShutdown("terminating connection because of crash of another server process"),
]
NOT_CONNECTION_FAILURES = [
    psycopg.errors.UndefinedFunction("function pg_is_in_recovery() does not exist"),
    psycopg.ProgrammingError("the query has 1 placeholder but 2 parameters were passed"),
    psycopg.errors.InsufficientPrivilege("permission denied for view pg_stat_replication"),
    TypeError("a bug"),
]


def test_a_healthy_primary_is_observed(server):
    assert replication.observe(server.pair, *server.pair.nodes) == IN_SYNC_ROW
    server.connection = FakeConnection()
    assert replication.is_in_recovery(server.pair, server.pair.nodes[0]) is False


@pytest.mark.parametrize("error", CONNECTION_FAILURES, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("when", ["connect", "query"])
def test_a_connection_failure_is_no_answer(server, error, when):
    server.connection = error if when == "connect" else FakeConnection(error)
    assert replication.observe(server.pair, *server.pair.nodes) is None
    server.connection = error if when == "connect" else FakeConnection(error)
    assert replication.is_in_recovery(server.pair, server.pair.nodes[0]) is None


@pytest.mark.parametrize("error", NOT_CONNECTION_FAILURES, ids=lambda e: type(e).__name__)
def test_any_other_error_propagates(server, error):
    server.connection = FakeConnection(error)
    with pytest.raises(type(error)):
        replication.observe(server.pair, *server.pair.nodes)
    server.connection = FakeConnection(error)
    with pytest.raises(type(error)):
        replication.is_in_recovery(server.pair, server.pair.nodes[0])


def test_a_missing_secret_is_not_a_dead_primary(server):
    (server.pair.secrets_dir / "db-master-password").unlink()
    with pytest.raises(OSError):
        replication.observe(server.pair, *server.pair.nodes)


def test_a_node_in_recovery_does_not_answer_as_a_primary(server):
    server.connection.rows = [(True, "")]
    assert replication.observe(server.pair, *server.pair.nodes) is None


# --- rebuild mechanics ---------------------------------------------------------------------


def test_a_busy_slot_is_freed_not_waited_for(server):
    conn = server.connection
    conn.rows = [(4242,)]  # an old walsender of db-1c still holds the slot
    assert replication.reset_slot(server.pair, server.pair.nodes[0], "db_1c", lambda _: None) is False
    assert "pg_terminate_backend" in conn.sql[-1]
    conn.rows, conn.sql = [(None,), None, None], []
    assert replication.reset_slot(server.pair, server.pair.nodes[0], "db_1c", lambda _: None) is True
    assert "pg_drop_replication_slot" in conn.sql[1] and "pg_create_physical_replication_slot" in conn.sql[2]


def test_the_primary_is_never_cloned_over(server):
    with pytest.raises(ThreetierError) as caught:
        replication.start_clone(server.pair, server.pair.primary(), lambda _: None)
    assert caught.value.fix


def clone_running(pair: Pair, tmp_path, script: str) -> replication.Clone:
    node = pair.nodes[1]
    (node.directory / "data.new").mkdir(parents=True)
    (node.directory / "basebackup.log").write_text("pg_basebackup: error: could not connect to the primary\n")
    process = subprocess.Popen([sys.executable, "-c", script])
    return replication.Clone(node, pair.nodes[0], process)


def test_a_failed_copy_says_why_and_leaves_no_half_copy(server, tmp_path):
    clone = clone_running(server.pair, tmp_path, "raise SystemExit(1)")
    clone.process.wait(10)
    with pytest.raises(ThreetierError) as caught:
        clone.poll()
    assert "could not connect" in caught.value.details[-1] and caught.value.fix
    assert not clone.staging.exists()


def test_a_cancelled_copy_is_killed_and_removed(server, tmp_path):
    clone = clone_running(server.pair, tmp_path, "import time; time.sleep(60)")
    assert clone.poll() is False
    clone.cancel()
    assert clone.process.poll() is not None and not clone.staging.exists()


def test_a_copy_left_running_by_a_killed_watchdog_is_stopped_before_a_new_one(tmp_path):
    node = PgNode("db-1c", "standby", 5001, tmp_path / "db-1c")
    node.directory.mkdir()
    # What pg_basebackup's command line looks like, in a program that only sleeps.
    leftover = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "pg_basebackup", "-D", str(node.directory / "data.new")]
    )
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (node.directory / replication.CLONE_PIDFILE).write_text(f"{bystander.pid}\n")
        replication.stop_leftover_clone(node, lambda _: None)
        assert bystander.poll() is None  # a reused pid is not a copy: left alone
        (node.directory / replication.CLONE_PIDFILE).write_text(f"{leftover.pid}\n")
        replication.stop_leftover_clone(node, lambda _: None)
        assert leftover.wait(5) == -9
    finally:
        for process in (leftover, bystander):
            process.kill()
            process.wait(5)


def test_shared_memory_still_attached_is_seen(tmp_path):
    node = PgNode("db-1a", "primary", 5000, tmp_path / "db-1a")
    node.data_dir.mkdir(parents=True)
    (node.data_dir / "postmaster.pid").write_text(
        "4242\n/x/data\n1700000000\n5000\n\n127.0.0.1\n  5000001    327680\nready   \n"
    )
    table = tmp_path / "shm"
    header = "       key      shmid perms       size  cpid  lpid nattch   uid   gid\n"
    table.write_text(header + "   5000001     327680   600        56  4242  4250      3   999   995\n")
    assert replication.segment_in_use(node, table) is True
    table.write_text(header + "   5000001     327680   600        56  4242  4250      0   999   995\n")
    assert replication.segment_in_use(node, table) is False
    table.write_text(header)  # removed
    assert replication.segment_in_use(node, table) is False


def test_a_stale_postmaster_pid_naming_another_program_is_not_killed(tmp_path):
    node = PgNode("db-1a", "primary", 5000, tmp_path / "db-1a")
    node.data_dir.mkdir(parents=True)
    (node.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{node.data_dir}\n")
    assert replication.postmaster_pid(node) is None  # alive, but it is pytest, not this node's postgres


def test_an_unknown_node_name_is_a_threetier_error(server):
    with pytest.raises(ThreetierError) as caught:
        server.pair.node("db-9z")
    assert "db-1a, db-1c" in caught.value.fix


# --- the pair as data ----------------------------------------------------------------------


def test_multi_az_twin_has_a_pair_on_consecutive_ports_and_a_watchdog(twin):
    nodes = twin.db_nodes
    assert [(n.name, n.role, n.port, n.az) for n in nodes] == [
        ("db-1a", "primary", 54320, "ap-northeast-1a"), ("db-1c", "standby", 54321, "ap-northeast-1c"),
    ]
    services = {s.name: s for s in twin.services()}
    assert services["db-1c"].port_key == "local.db_port + 1 (standby)"
    assert services["db-1a"].autorestart is services["db-1c"].autorestart is False
    watchdog = services["db-watchdog"]
    assert watchdog.kind == "watchdog" and watchdog.port == 0
    assert watchdog.command[1:3] == ["-m", "threetier.local.watchdog"]
    # stopped before everything else, so `down` never looks like a failure to it
    assert watchdog.priority > max(s.priority for s in services.values() if s.kind != "watchdog")
    settings = twin.app_settings()
    assert settings.db_ports == [54320, 54321]


def test_single_az_twin_has_one_node_and_no_watchdog(tmp_path):
    twin = Twin(pair_spec(multi_az=False), tmp_path / "state")
    assert [n.name for n in twin.db_nodes] == ["db-1a"]
    assert twin.db_pair() is None
    assert "db-watchdog" not in {s.name for s in twin.services()}


def test_the_single_node_restarts_itself_and_retries_while_its_old_backends_linger(tmp_path):
    single = Twin(pair_spec(multi_az=False), tmp_path / "single")
    conf = render_supervisord_conf(single.services(), single.layout, identifier="x")
    program = conf.split("[program:db-1a]")[1].split("[program:")[0]
    assert "autorestart=true" in program and "startretries=10" in program and "startsecs=1" in program


def test_a_pair_node_is_never_restarted_behind_the_watchdog(twin):
    conf = render_supervisord_conf(twin.services(), twin.layout, identifier="x")
    for name in ("db-1a", "db-1c"):
        program = conf.split(f"[program:{name}]")[1].split("[program:")[0]
        # no autorestart (two primaries), but the watchdog's own restart retries like the single node's
        assert "autorestart=false" in program and "startretries=10" in program


def test_roles_follow_the_roles_file_and_the_config_does_not(twin):
    twin.layout.postgres.mkdir(parents=True)
    before = render_supervisord_conf(twin.services(), twin.layout, identifier="x")
    env_before = twin.app_settings()
    twin.db_pair().record_primary("db-1c")
    assert {n.name: n.role for n in twin.db_nodes} == {"db-1a": "standby", "db-1c": "primary"}
    assert twin.primary_node().name == "db-1c"
    # A failover changes no program, port or environment: a second `up` stays a no-op.
    assert render_supervisord_conf(twin.services(), twin.layout, identifier="x") == before
    assert twin.app_settings() == env_before


def test_a_corrupt_or_unknown_roles_file_falls_back_to_the_first_node(twin):
    pair = twin.db_pair()
    twin.layout.postgres.mkdir(parents=True)
    pair.roles_file.write_text("{not json")
    assert pair.recorded_primary() == "db-1a"
    pair.roles_file.write_text('{"primary": "db-9z"}')
    assert pair.recorded_primary() == "db-1a"


def test_each_node_follows_its_peer_when_standby_without_a_password_in_the_config(twin):
    pair = twin.db_pair()
    a, c = pair.nodes
    conf = node_config(c, replication.node_standby_lines(pair, c))
    assert "port=54320" in conf and "application_name=db-1c" in conf
    assert f"user={replication.REPLICATION_USER}" in conf and "passfile=" in conf and "password=" not in conf
    assert "primary_slot_name = 'db_1c'" in conf
    assert "synchronous_commit = on" in conf
    assert "port=54321" in node_config(a, replication.node_standby_lines(pair, a))


def test_the_pair_round_trips_through_the_watchdog_config(twin):
    pair = twin.db_pair()
    assert Pair.from_json(pair.to_json()) == pair
    assert "password" not in pair.to_json().lower().replace("password-file", "")
