"""The database part of `up`: initdb and configure the nodes before supervisord starts,
then start the primary, the standby (with multi-AZ, via dbpair), wait until each accepts
logins, and make sure the application's database and role exist."""

from __future__ import annotations

from collections.abc import Callable

from threetier.errors import ThreetierError
from threetier.local import dbpair, postgres, replication, watchdog
from threetier.local.plan import TwinPlan
from threetier.local.probes import Clock, wait_until
from threetier.local.programs import Programs
from threetier.local.secrets import DB_APP_PASSWORD, read_secret
from threetier.local.services import Service

Progress = Callable[[str], None]


def prepare_database(plan: TwinPlan, os_user: str | None, progress: Progress) -> None:
    """Before supervisord starts: passfiles and the watchdog's config for a pair, initdb
    for a new primary, and each initialized node's configuration (re)written."""
    master = plan.master_login()
    pair, bin_dir = plan.pair, plan.binaries.pg_bin_dir
    if pair is not None:
        replication.write_passfiles(pair)
        watchdog.config_path(plan.layout).write_text(pair.to_json())
    primary = plan.primary_node().name
    for node in plan.db_nodes:
        # A standby is cloned from its primary (pg_basebackup) once the primary runs, never initdb'd.
        if not node.initialized and node.name == primary:
            progress(f"initializing the database cluster {node.name} (initdb)")
            postgres.initdb(
                node, bin_dir=bin_dir, superuser=master["user"], password=master["password"], os_user=os_user,
            )
        if node.initialized:
            standby = replication.node_standby_lines(pair, node) if pair else None
            postgres.write_node_config(node, bin_dir=bin_dir, os_user=os_user, standby=standby)


def start_database(
    plan: TwinPlan, programs: Programs, services: list[Service], started: list[str], *, clock: Clock,
    progress: Progress,
) -> None:
    """The primary first; then, with multi-AZ, the standby (cloned if needed) in sync with it."""
    primary = plan.primary_node()
    start = [s for s in services if s.name == primary.name]
    _start_db_nodes(plan, programs, start, [primary], started, clock=clock, progress=progress)
    pair = plan.pair
    if pair is not None:
        standby_down = any(s.name != primary.name for s in services)
        dbpair.bring_up_standby(
            pair, programs.supervisor, running=not standby_down, started=started, progress=progress,
            log_tail=programs.log_tail,
        )
        _start_db_nodes(plan, programs, [], [pair.standby()], started, clock=clock, progress=progress)


def _start_db_nodes(
    plan: TwinPlan, programs: Programs, services: list[Service], nodes: list[postgres.PgNode],
    started: list[str], *, clock: Clock, progress: Progress,
) -> None:
    for service in services:
        progress(f"starting PostgreSQL {service.name} on 127.0.0.1:{service.port}")
        programs.start(service.name, spawn_error_ok=True)
        started.append(service.name)
    master = plan.master_login()
    for node in nodes:
        progress(f"waiting for PostgreSQL {node.name} to accept logins (SELECT 1)")
        ready = wait_until(
            lambda: postgres.sql_ready(node.port, **master) or programs.failed(node.name),  # noqa: B023 - polled now
            timeout=60, interval=0.2, clock=clock,
        )
        if not ready or programs.failed(node.name):
            raise ThreetierError(
                f"PostgreSQL {node.name} did not become ready on 127.0.0.1:{node.port}; "
                f"the last lines of its log:",
                details=programs.log_tail(node.name),
                fix=f"fix the problem above (full log: {plan.layout.log_of(node.name)})",
            )


def bootstrap_database(plan: TwinPlan, progress: Progress) -> None:
    """The application's database and login role on the primary (idempotent)."""
    progress(f"ensuring database {plan.db_name} and role {plan.app_user}")
    master = plan.master_login()
    postgres.bootstrap_database(
        plan.primary_node().port,
        master=master["user"], master_password=master["password"],
        database=plan.db_name, app_user=plan.app_user,
        app_password=read_secret(plan.layout.secrets / DB_APP_PASSWORD),
    )
