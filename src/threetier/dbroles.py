"""The app's least-privilege PostgreSQL role, set up by the master role: one SQL source
for the local twin (threetier.local.postgres) and the AWS boot / migration task
(threetier.aws.boot).

Roles:
  master  owns the database (initdb's superuser on the twin; RDS's master user, which is
          *not* a superuser, on AWS). Used only here, once per `up` / deploy.
  app     LOGIN only: NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS. It owns
          the database's `public` schema, so the app's migrations (run as app) create
          tables it owns, and it can touch nothing outside that database.

Every step is idempotent and re-asserts the role's limits. Passwords are sent as SCRAM
verifiers, so no plain text reaches a server log (log_statement, pg_stat_statements).

A non-superuser master (RDS) needs two extra steps a superuser skips, both for
`ALTER ... OWNER TO app`: it must be able to SET ROLE to app (so it grants itself app's
membership; on PostgreSQL 16+ CREATEROLE alone gives only ADMIN OPTION), and for a
schema the new owner must hold CREATE on the database (granted for the statement and
revoked after, in one transaction). Tables the master created in `public` before this
existed (when the app migrated as master) are handed to app too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import TYPE_CHECKING

from threetier.errors import ThreetierError

if TYPE_CHECKING:
    import psycopg

ROLE_LIMITS = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
ALTERABLE_LIMITS = "LOGIN NOCREATEDB NOCREATEROLE"  # what a non-superuser may re-assert
# Relation kinds handed over to app; sequences owned by a table move with their table.
_ADOPTED_KINDS = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW",
                  "f": "FOREIGN TABLE", "S": "SEQUENCE"}


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores, computed here so the server never sees the password."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def ensure_app_role(conn: psycopg.Connection, *, app_user: str, app_password: str) -> None:
    """CREATE or ALTER the app role: login with this password, and nothing more.

    Only a superuser may even mention SUPERUSER/REPLICATION/BYPASSRLS in ALTER ROLE
    (PostgreSQL 16+), so a non-superuser master re-asserts the rest and checks those three.
    """
    from psycopg import sql  # noqa: PLC0415 - keeps importers light

    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (app_user,)).fetchone()
    superuser = _is_superuser(conn)
    limits = ROLE_LIMITS if superuser or not exists else ALTERABLE_LIMITS
    verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
    conn.execute(
        sql.SQL("{} {} WITH {} PASSWORD {}").format(
            verb, sql.Identifier(app_user), sql.SQL(limits),
            sql.Literal(scram_verifier(app_password)),
        )
    )
    if not superuser:
        escalated = conn.execute(
            "SELECT rolsuper OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = %s",
            (app_user,),
        ).fetchone()[0]
        if escalated:
            raise ThreetierError(
                f"role {app_user} has SUPERUSER, REPLICATION or BYPASSRLS, which only a "
                "superuser can remove: the app would not run with least privilege",
                fix=f'as a superuser, run ALTER ROLE "{app_user}" NOSUPERUSER NOREPLICATION '
                "NOBYPASSRLS (or drop the role: the next deploy creates it), then deploy again",
            )


def _is_superuser(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]


def ensure_database(conn: psycopg.Connection, *, database: str, owner: str) -> None:
    """CREATE DATABASE if missing (the twin; RDS creates it from the template)."""
    from psycopg import sql  # noqa: PLC0415

    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(owner)
            )
        )


def restrict_connections(conn: psycopg.Connection, *, database: str, app_user: str) -> None:
    """Only its owner and app may connect to the database; nobody else to `postgres`.

    (Where the master does not own `postgres`, as on RDS, the last REVOKE is a warning.)
    """
    from psycopg import sql  # noqa: PLC0415

    db, app = sql.Identifier(database), sql.Identifier(app_user)
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(db, app))
    conn.execute("REVOKE CONNECT ON DATABASE postgres FROM PUBLIC")


def give_public_schema(conn: psycopg.Connection, *, database: str, app_user: str) -> None:
    """Make app the owner of `public` and of what the connected role made there.

    `conn` is connected to `database` as its owner (the master); autocommit.
    """
    from psycopg import sql  # noqa: PLC0415

    app, db = sql.Identifier(app_user), sql.Identifier(database)
    superuser = _is_superuser(conn)
    if not superuser:
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(app))
    owned = conn.execute(
        "SELECT nspowner = (SELECT oid FROM pg_roles WHERE rolname = %s) FROM pg_namespace "
        "WHERE nspname = 'public'",
        (app_user,),
    ).fetchone()[0]
    if not owned:
        with conn.transaction():
            if not superuser:
                conn.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(db, app))
            conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(app))
            if not superuser:
                conn.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(db, app))
    leftovers = conn.execute(
        """
        SELECT c.relname, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
          AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
          AND c.relkind = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
        ORDER BY c.relkind = 'S', c.relname
        """,
        (list(_ADOPTED_KINDS),),
    ).fetchall()
    for name, kind in leftovers:
        conn.execute(
            sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(_ADOPTED_KINDS[kind]), sql.Identifier("public", name), app
            )
        )


def ensure_app_access(conn: psycopg.Connection, *, database: str, app_user: str, app_password: str) -> None:
    """Everything above but creating the database, on one connection to `database` as its
    owner: what the AWS migration step runs before migrating as app."""
    ensure_app_role(conn, app_user=app_user, app_password=app_password)
    restrict_connections(conn, database=database, app_user=app_user)
    give_public_schema(conn, database=database, app_user=app_user)
