"""threetier.dbroles against a real PostgreSQL: the app role can build its schema and
nothing else, whether the master is a superuser (the twin) or not (RDS's master user)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from support.webapp_postgres import SUPERUSER, PostgresServer, start_server, stop_server

from threetier import dbroles
from threetier.errors import ThreetierError
from threetier.local import postgres

pytestmark = pytest.mark.integration  # a real PostgreSQL server

APP, APP_PASSWORD = "uda_app", "app-Pw-7f3a9c"
MASTER, MASTER_PASSWORD = "rds_master", "master-Pw-41b2"


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    # Every statement logged: the test then looks for the passwords in the log.
    started = start_server("log_statement=all")
    try:
        yield started
    finally:
        stop_server(started)


def connect(server: PostgresServer, user: str, password: str, dbname: str) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1", port=server.port, user=user, password=password, dbname=dbname,
        connect_timeout=5, autocommit=True,
    )


def as_superuser(server: PostgresServer, dbname: str = "postgres") -> psycopg.Connection:
    return connect(server, SUPERUSER, server.password, dbname)


@pytest.fixture(scope="module")
def rds_like(server: PostgresServer) -> str:
    """What RDS leaves: a CREATEROLE/CREATEDB master (not a superuser) owning the database,
    with a table it created when the app still migrated as master."""
    with as_superuser(server) as conn:
        conn.execute(
            f"CREATE ROLE {MASTER} LOGIN CREATEROLE CREATEDB PASSWORD "
            f"'{dbroles.scram_verifier(MASTER_PASSWORD)}'"
        )
        conn.execute(f"CREATE DATABASE rdsdb OWNER {MASTER}")
    with connect(server, MASTER, MASTER_PASSWORD, "rdsdb") as conn:
        conn.execute("CREATE TABLE legacy (id serial PRIMARY KEY, name text)")
        conn.execute("CREATE SEQUENCE standalone_seq")
        for _ in range(2):  # idempotent: the second deploy finds everything in place
            dbroles.ensure_app_access(conn, database="rdsdb", app_user=APP, app_password=APP_PASSWORD)
    return "rdsdb"


def owners(server: PostgresServer, dbname: str) -> dict[str, str]:
    with as_superuser(server, dbname) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')"
        ).fetchall()
        schema = conn.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
        ).fetchone()
    return {"schema public": schema[0], **dict(rows)}


def test_rds_master_hands_public_and_old_tables_to_the_app_role(server, rds_like):
    with connect(server, APP, APP_PASSWORD, rds_like) as conn:
        conn.execute("CREATE TABLE made_by_app (id bigint GENERATED ALWAYS AS IDENTITY, v text)")
        conn.execute("INSERT INTO legacy (name) VALUES ('kept')")  # its sequence moved too
        conn.execute("ALTER TABLE legacy ADD COLUMN comment text")  # only an owner may
        assert conn.execute("SELECT nextval('standalone_seq')").fetchone() == (1,)
    assert set(owners(server, rds_like).values()) == {APP}


def test_rds_master_keeps_no_temporary_create_grant(server, rds_like):
    with connect(server, APP, APP_PASSWORD, rds_like) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE SCHEMA elsewhere")


@pytest.mark.parametrize(
    "statement",
    ["CREATE ROLE intruder", "CREATE DATABASE other", "ALTER ROLE uda_app CREATEROLE"],
)
def test_app_role_cannot_create_roles_or_databases(server, rds_like, statement):
    with connect(server, APP, APP_PASSWORD, rds_like) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_a_role_a_non_superuser_cannot_limit_is_refused_with_its_fix(server, rds_like):
    """An app role that got REPLICATION from elsewhere: RDS's master cannot take it away,
    so ensuring the role stops with the fix instead of leaving the app over-privileged."""
    role = "replicating_app"
    with connect(server, MASTER, MASTER_PASSWORD, rds_like) as conn:
        dbroles.ensure_app_role(conn, app_user=role, app_password=APP_PASSWORD)
    with as_superuser(server) as conn:
        conn.execute(f"ALTER ROLE {role} REPLICATION")
    with connect(server, MASTER, MASTER_PASSWORD, rds_like) as conn:
        with pytest.raises(ThreetierError, match="REPLICATION") as raised:
            dbroles.ensure_app_role(conn, app_user=role, app_password=APP_PASSWORD)
    assert f'ALTER ROLE "{role}" NOSUPERUSER NOREPLICATION NOBYPASSRLS' in raised.value.fix


def test_app_role_has_login_and_nothing_else(server, rds_like):
    with as_superuser(server) as conn:
        row = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
            "rolbypassrls, starts_with(rolpassword, 'SCRAM-SHA-256$') FROM pg_authid "
            "WHERE rolname = %s",
            (APP,),
        ).fetchone()
    assert row == (True, False, False, False, False, False, True)


def test_without_owning_postgres_the_master_cannot_lock_it_but_app_can_build_nothing_there(
    server, rds_like
):
    # As on RDS when the master does not own `postgres`: its REVOKE CONNECT is only a
    # warning, so app may connect there, but PostgreSQL 15+ gives PUBLIC no CREATE in public.
    with connect(server, APP, APP_PASSWORD, "postgres") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE squatter (id int)")


def test_twin_bootstrap_with_a_superuser_master_gives_the_same_result(server, rds_like):
    for _ in range(2):
        postgres.bootstrap_database(
            server.port, master=SUPERUSER, master_password=server.password,
            database="twindb", app_user=APP, app_password=APP_PASSWORD,
        )
    with connect(server, APP, APP_PASSWORD, "twindb") as conn:
        conn.execute("CREATE TABLE twin_table (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE SCHEMA elsewhere")
    assert owners(server, "twindb") == {"schema public": APP, "twin_table": APP}
    try:
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            connect(server, APP, APP_PASSWORD, "postgres").close()  # the twin's master owns it
    finally:  # back to RDS's default, which another test of this module relies on
        with as_superuser(server) as conn:
            conn.execute("GRANT CONNECT ON DATABASE postgres TO PUBLIC")
    with as_superuser(server) as conn:  # a superuser needs no membership in app
        members = conn.execute(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
            "WHERE r.rolname = %s",
            (SUPERUSER,),
        ).fetchone()
    assert members == (0,)


def test_no_password_reaches_the_server_log(server, rds_like):
    """The password-setting statements are logged, but only as SCRAM verifiers. The test
    makes its own statements (a role of its own, created then altered), so it needs no
    other test to have run first."""
    role, password = "log_probe", "probe-Pw-5d0e81"
    with connect(server, MASTER, MASTER_PASSWORD, rds_like) as conn:
        for _ in range(2):  # CREATE ROLE, then ALTER ROLE ... PASSWORD
            dbroles.ensure_app_role(conn, app_user=role, app_password=password)
    log = (server.root / "log").read_text()
    assert f'CREATE ROLE "{role}"' in log and f'ALTER ROLE "{role}"' in log, log[-2000:]
    assert "PASSWORD 'SCRAM-SHA-256$" in log  # what was sent instead of the password
    assert password not in log
    assert APP_PASSWORD not in log and MASTER_PASSWORD not in log


def test_aws_migration_step_ensures_the_role_then_migrates_as_app(server, rds_like):
    """`python -m threetier.aws.boot migrate` as the Fargate migration task runs it (master
    from the environment), against a database an RDS-like master owns: Django's tables
    end up owned by the app role, and a second run (the next deploy) is a no-op."""
    with as_superuser(server) as conn:
        conn.execute(f"CREATE DATABASE migrated OWNER {MASTER}")
    environ = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "threetier.webapp.settings.test",
        "THREETIER_DB_HOST": "127.0.0.1",
        "THREETIER_DB_PORT": str(server.port),
        "THREETIER_DB_NAME": "migrated",
        "THREETIER_DB_SSLMODE": "disable",  # the throwaway server has no TLS; RDS: require
        "THREETIER_DB_USER": APP,
        "THREETIER_DB_PASSWORD": APP_PASSWORD,
        "THREETIER_DB_MASTER_USER": MASTER,
        "THREETIER_DB_MASTER_PASSWORD": MASTER_PASSWORD,
    }
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "threetier.aws.boot", "migrate"],
            env=environ, capture_output=True, text=True, timeout=120, check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert "Applying" in outputs[0] and "No migrations to apply" in outputs[1]
    tables = owners(server, "migrated")
    assert "django_migrations" in tables and len(tables) > 5
    assert set(tables.values()) == {APP}
    assert MASTER_PASSWORD not in "".join(outputs)
