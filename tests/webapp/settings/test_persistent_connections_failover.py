"""Persistent connections (CONN_MAX_AGE) through a failover, against the twin's real
database pair (a primary and its synchronous standby, the watchdog, libpq multi-host
with target_session_attrs=read-write): no write goes through a kept connection to a
node that no longer takes writes, and the next request reconnects to the primary.

Each "request" is what Django does around one: close_if_unusable_or_obsolete() when it
starts and ends (request_started / request_finished), and a write in between.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.db import DatabaseError, InternalError, OperationalError
from django.db.utils import ConnectionHandler
from support.twin_helpers import TwinEnv, throwaway_twin

from threetier.local import postgres
from threetier.local.probes import wait_until
from threetier.local.secrets import read_secret
from threetier.local.twin import Twin
from threetier.webapp.settings.builders import database_config

pytestmark = pytest.mark.integration  # the twin's PostgreSQL pair and its watchdog

ENV = "connfailover"


@pytest.fixture(scope="module")
def pair_env() -> Iterator[TwinEnv]:
    with throwaway_twin(ENV, multi_az=True) as env:
        env.twin.up()
        yield env


@pytest.fixture
def twin(pair_env: TwinEnv) -> Twin:
    twin = pair_env.twin
    assert wait_until(twin.database_redundant, timeout=60, interval=0.2), twin.database_roles()
    return twin


def app_connection(twin: Twin, *, engine: str | None = None):  # noqa: ANN201 - a Django DatabaseWrapper
    """A connection built from the instances' own environment (the contract's THREETIER_DB_*)."""
    env = twin.service(twin.instance_names()[0]).env
    config = database_config(env)
    assert config["CONN_MAX_AGE"] > 0 and config["CONN_HEALTH_CHECKS"] is True
    if engine:
        config["ENGINE"] = engine
    return ConnectionHandler({"default": config})["default"]


def request_writes(connection, django_db_blocker) -> int:  # noqa: ANN001
    """One request that writes a row (the app's cache table); the port of the node it wrote to."""
    with django_db_blocker.unblock():
        connection.close_if_unusable_or_obsolete()  # request_started
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO threetier_cache (cache_key, value, expires) VALUES (%s, 'x', now()) "
                    "RETURNING inet_server_port()", [f"conn-test-{uuid.uuid4()}"])
                return cursor.fetchone()[0]
        finally:
            connection.close_if_unusable_or_obsolete()  # request_finished


def master_sql(twin: Twin, port: int, sql: str) -> list[tuple]:
    password = read_secret(twin.layout.secrets / "db-master-password")
    with postgres.connect(port, user=twin.spec.database.master_username, password=password) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def primary_port(twin: Twin) -> int:
    roles = twin.database_roles()
    return next(node.port for node in twin.db_nodes if roles.get(node.name) == "primary")


def test_a_kept_connection_writes_to_the_primary_and_is_reused(twin, django_db_blocker):
    connection = app_connection(twin)
    try:
        assert request_writes(connection, django_db_blocker) == primary_port(twin)
        kept = connection.connection
        assert request_writes(connection, django_db_blocker) == primary_port(twin)
        assert connection.connection is kept  # the same connection: no login per request
        # The server's zone is Django's: no SET TIME ZONE on a new connection.
        assert kept.info.parameter_status("TimeZone") == "UTC"
    finally:
        connection.close()


def test_a_node_that_stops_taking_writes_gets_no_write_through_a_kept_connection(twin, django_db_blocker):
    """The old primary alive but read-only (fenced; what a node restarted as a standby is
    to a connection that survived): Django's SELECT 1 check passes it, and the write goes
    to it; ours closes the connection, and the reconnect refuses a read-only node."""
    port = primary_port(twin)
    ours, stock = app_connection(twin), app_connection(twin, engine="django.db.backends.postgresql")
    try:
        assert request_writes(ours, django_db_blocker) == port
        assert request_writes(stock, django_db_blocker) == port
        kept = ours.connection
        master_sql(twin, port, "ALTER SYSTEM SET default_transaction_read_only = on")
        master_sql(twin, port, "SELECT pg_reload_conf()")
        assert wait_until(lambda: master_sql(twin, port, "SHOW default_transaction_read_only") == [("on",)],
                          timeout=10)
        # Django's stock check keeps the connection and sends the write to the read-only node.
        with pytest.raises(InternalError, match="read-only transaction"):
            request_writes(stock, django_db_blocker)
        # Ours: the kept connection fails the check and is closed; libpq's read-write
        # attempt finds no node taking writes, so the request fails before any write.
        with pytest.raises(OperationalError):
            request_writes(ours, django_db_blocker)
        assert kept.closed
    finally:
        master_sql(twin, port, "ALTER SYSTEM RESET default_transaction_read_only")
        master_sql(twin, port, "SELECT pg_reload_conf()")
    try:
        # Writable again: the next request connects and writes.
        assert wait_until(lambda: _writes(ours, django_db_blocker) == port, timeout=10)
    finally:
        ours.close()
        stock.close()


def _writes(connection, django_db_blocker) -> int | None:  # noqa: ANN001
    try:
        return request_writes(connection, django_db_blocker)
    except DatabaseError:
        return None


def test_after_the_primary_dies_the_next_requests_reconnect_to_the_new_primary(twin, django_db_blocker):
    connection = app_connection(twin)
    try:
        old_port = primary_port(twin)
        assert request_writes(connection, django_db_blocker) == old_port
        kept = connection.connection
        old_name = twin.kill_primary_database()
        written: list[int] = []
        failed = 0

        def one_request() -> bool:
            nonlocal failed
            port = _writes(connection, django_db_blocker)
            if port is None:
                failed += 1
                return False
            written.append(port)
            return True

        # Requests fail (no write acknowledged) until the standby is promoted, then succeed.
        assert wait_until(one_request, timeout=30, interval=0.1), (failed, twin.database_roles())
        new_port = written[-1]
        assert new_port != old_port
        assert connection.connection is not kept and kept.closed
        roles = twin.database_roles()
        assert roles[old_name] != "primary"
        assert master_sql(twin, new_port, "SELECT pg_is_in_recovery()") == [(False,)]
        # The new connection is kept too.
        assert request_writes(connection, django_db_blocker) == new_port
    finally:
        connection.close()
