"""The database part of `up`: initdb and configure the nodes before supervisord starts,
then start the primary, the standby (with multi-AZ, via dbpair), wait until each accepts
logins, and make sure the application's database and role exist."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from threetier.errors import ThreetierError
from threetier.local import dbpair, postgres, replication, watchdog
from threetier.local.probes import wait_until
from threetier.local.secrets import DB_APP_PASSWORD, DB_MASTER_PASSWORD, read_secret
from threetier.local.services import Service

if TYPE_CHECKING:
    from threetier.local.twin import Twin

Progress = Callable[[str], None]


def prepare_database(twin: Twin, bin_dir: Path, os_user: str | None, progress: Progress) -> None:
    """Before supervisord starts: passfiles and the watchdog's config for a pair, initdb
    for a new primary, and each initialized node's configuration (re)written."""
    master_password = read_secret(twin.layout.secrets / DB_MASTER_PASSWORD)
    pair = twin.db_pair(bin_dir)
    if pair is not None:
        replication.write_passfiles(pair)
        watchdog.config_path(twin.layout).write_text(pair.to_json())
    for node in twin.db_nodes:
        # A standby is cloned from its primary (pg_basebackup) once the primary runs, never initdb'd.
        if not node.initialized and node.role == "primary":
            progress(f"initializing the database cluster {node.name} (initdb)")
            postgres.initdb(
                node, bin_dir=bin_dir, superuser=twin.spec.database.master_username,
                password=master_password, os_user=os_user,
            )
        if node.initialized:
            standby = replication.node_standby_lines(pair, node) if pair else None
            postgres.write_node_config(node, bin_dir=bin_dir, os_user=os_user, standby=standby)


def start_database(twin: Twin, services: list[Service], started: list[str], progress: Progress) -> None:
    """The primary first; then, with multi-AZ, the standby (cloned if needed) in sync with it."""
    primary = twin.primary_node()
    _start_db_nodes(twin, [s for s in services if s.name == primary.name], [primary], started, progress)
    pair = twin.db_pair()
    if pair is not None:
        standby_down = any(s.name != primary.name for s in services)
        dbpair.bring_up_standby(
            pair, twin.supervisor, running=not standby_down, started=started, progress=progress,
            log_tail=twin._log_tail,
        )
        _start_db_nodes(twin, [], [pair.standby()], started, progress)


def _start_db_nodes(
    twin: Twin, services: list[Service], nodes: list[postgres.PgNode], started: list[str], progress: Progress
) -> None:
    for service in services:
        progress(f"starting PostgreSQL {service.name} on 127.0.0.1:{service.port}")
        twin.supervisor.start(service.name, spawn_error_ok=True)
        started.append(service.name)
    master = twin._master()
    for node in nodes:
        progress(f"waiting for PostgreSQL {node.name} to accept logins (SELECT 1)")
        ready = wait_until(
            lambda: postgres.sql_ready(node.port, **master) or twin._failed(node.name),
            timeout=60, interval=0.2, clock=twin.clock,
        )
        if not ready or twin._failed(node.name):
            raise ThreetierError(
                f"PostgreSQL {node.name} did not become ready on 127.0.0.1:{node.port}; "
                f"the last lines of its log:",
                details=twin._log_tail(node.name),
                fix=f"fix the problem above (full log: {twin.layout.log_of(node.name)})",
            )


def bootstrap_database(twin: Twin, progress: Progress) -> None:
    """The application's database and login role on the primary (idempotent)."""
    progress(f"ensuring database {twin.spec.database.name} and role {twin.spec.database.app_username}")
    master = twin._master()
    postgres.bootstrap_database(
        twin.primary_node().port,
        master=master["user"], master_password=master["password"],
        database=twin.spec.database.name, app_user=twin.spec.database.app_username,
        app_password=read_secret(twin.layout.secrets / DB_APP_PASSWORD),
    )
