"""The database settings against real servers: libpq multi-host through Django and
psycopg, skipping a server that does not accept writes (what a standby looks like to
`target_session_attrs=read-write`), as after a failover."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db.utils import ConnectionHandler, OperationalError
from support.webapp_postgres import SUPERUSER, PostgresServer, closed_port, start_server, stop_server

from threetier.webapp.settings.builders import database_config

pytestmark = pytest.mark.integration  # real PostgreSQL servers


@pytest.fixture(scope="module")
def read_only_server(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    # One password for both, as the app has one: a standby shares the primary's roles.
    server = start_server("default_transaction_read_only=on", password=postgres_server.password)
    try:
        yield server
    finally:
        stop_server(server)


def connect_and_ask_port(tmp_path, *servers_or_ports, password: str, django_db_blocker) -> int:
    """Connect with the settings built from THREETIER_DB_* and return the server's port."""
    password_file = tmp_path / "db-password"
    password_file.write_text(password + "\n")
    ports = [str(getattr(s, "port", s)) for s in servers_or_ports]
    config = database_config(
        {
            "THREETIER_DB_HOST": ",".join(["127.0.0.1"] * len(ports)),
            "THREETIER_DB_PORT": ",".join(ports),
            "THREETIER_DB_NAME": "postgres",
            "THREETIER_DB_USER": SUPERUSER,
            "THREETIER_DB_PASSWORD_FILE": str(password_file),
        }
    )
    connection = ConnectionHandler({"default": config})["default"]
    try:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("SELECT inet_server_port()")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def test_the_read_write_server_is_found_in_either_order(
    tmp_path, postgres_server, read_only_server, django_db_blocker
):
    for order in ((read_only_server, postgres_server), (postgres_server, read_only_server)):
        port = connect_and_ask_port(
            tmp_path, *order, password=postgres_server.password, django_db_blocker=django_db_blocker
        )
        assert port == postgres_server.port


def test_a_dead_first_host_is_skipped(tmp_path, postgres_server, django_db_blocker):
    port = connect_and_ask_port(
        tmp_path,
        closed_port(),
        postgres_server,
        password=postgres_server.password,
        django_db_blocker=django_db_blocker,
    )

    assert port == postgres_server.port


def test_only_read_only_servers_is_an_error_not_a_read_only_app(
    tmp_path, read_only_server, django_db_blocker
):
    with pytest.raises(OperationalError):
        connect_and_ask_port(
            tmp_path,
            read_only_server,
            password=read_only_server.password,
            django_db_blocker=django_db_blocker,
        )
