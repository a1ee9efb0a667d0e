"""`up`: start whatever of the twin is not running, in order — database, watchdog, web
instances, load balancer — each once the previous is ready; on failure stop what this
call started. The database steps live in dbstart, the checks in preflight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from threetier.errors import ThreetierError
from threetier.local import dbstart, osusers, postgres, preflight, teardown, webuser
from threetier.local.caddy import render_caddyfile
from threetier.local.envlock import exclusive
from threetier.local.ports import check_ports_free
from threetier.local.postgres import chown_to
from threetier.local.probes import http_status, wait_until
from threetier.local.programs import FAILED_STATES
from threetier.local.secrets import (
    DB_APP_PASSWORD,
    DB_MASTER_PASSWORD,
    DB_REPLICATION_PASSWORD,
    DJANGO_SECRET_KEY,
    ensure_secret,
)
from threetier.local.services import Service
from threetier.local.supervisor import RUNNING_STATES, clean_env, render_supervisord_conf
from threetier.local.webapp import manage, mark_static_collected, static_is_current

if TYPE_CHECKING:
    from threetier.local.twin import Twin

Progress = Callable[[str], None]


@dataclass
class UpResult:
    url: str
    ca_cert: Path
    started: list[str]
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.started)


def up(twin: Twin, progress: Progress) -> UpResult:
    """Idempotent: with everything running it changes nothing (`UpResult.started` is
    empty). On failure it stops what this call started and raises ThreetierError."""
    twin.layout.check_socket_paths()
    preflight.check_state_dir(twin.layout)
    twin.layout.root.mkdir(parents=True, exist_ok=True)
    with exclusive(twin.layout.root, twin.spec.env_name, twin.clock):
        return _up(twin, progress)


def _up(twin: Twin, progress: Progress) -> UpResult:
    layout, supervisor, env_name = twin.layout, twin.supervisor, twin.spec.env_name
    began = twin.clock.now()
    progress("checking binaries and the state directory")
    bin_dir = twin._checked_bin_dir = twin._pg_bin_dir(check=True)
    caddy = twin._caddy_executable(check=True)
    preflight.check_webapp_importable()
    os_user = _prepare_state_dir(twin, progress)

    services = twin.services(pg_bin_dir=bin_dir, caddy=caddy)
    conf = render_supervisord_conf(services, layout, identifier=f"threetier-{env_name}")
    caddyfile = render_caddyfile(twin.lb_settings(), layout)
    http_port = twin.spec.local.http_port

    started_daemon = False
    started: list[str] = []
    try:
        if supervisor.is_running():
            preflight.require_same_config(layout, env_name, conf, caddyfile)
            processes = supervisor.processes()
        else:
            check_ports_free(preflight.port_claims(services, http_port), env_name)
            dbstart.prepare_database(twin, bin_dir, os_user, progress)
            layout.supervisord_conf.write_text(conf)
            layout.supervisord_conf.chmod(0o600)
            layout.caddyfile.write_text(caddyfile)
            progress("starting supervisord")
            supervisor.start_daemon(clean_env())
            started_daemon = True
            if not wait_until(supervisor.is_running, timeout=15, clock=twin.clock):
                raise ThreetierError(
                    "supervisord did not answer on its socket within 15 s",
                    fix=f"see {layout.log_of('supervisord')}",
                )
            processes = {}

        down = [s for s in services if processes.get(s.name, {}).get("statename") not in RUNNING_STATES]
        if processes and down:
            check_ports_free(preflight.port_claims(down, http_port), env_name)
        dbstart.start_database(twin, [s for s in down if s.kind == "database"], started, progress)
        dbstart.bootstrap_database(twin, progress)
        for service in (s for s in down if s.kind == "watchdog"):
            progress("starting the database watchdog (automatic failover)")
            supervisor.start(service.name)
            started.append(service.name)
        web_down = [s for s in down if s.kind == "web"]
        if web_down:
            _prepare_webapp(twin, progress)
        _start_instances(twin, web_down, started, progress)
        lb = [s for s in down if s.kind == "loadbalancer"]
        for service in lb:
            progress("starting the load balancer (Caddy)")
            supervisor.start(service.name)
            started.append(service.name)
        _wait_load_balancer(twin, progress, fresh=bool(lb))
        _wait_running(twin, started, progress)
        teardown.record_pids(twin)
    except BaseException:
        progress("failed: stopping what this `up` started")
        if started_daemon:
            teardown.shutdown_supervisor(twin)
        else:
            for name in reversed(started):
                try:
                    supervisor.stop(name)
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
        raise
    return UpResult(twin.url, twin.ca_cert_path, started, twin.clock.now() - began)


def _prepare_state_dir(twin: Twin, progress: Progress) -> str | None:
    """The directory tree and the secrets, each readable by exactly who needs it: as root,
    PostgreSQL's user owns its nodes, the web user two secrets and media/ static/.
    Returns PostgreSQL's OS user."""
    layout = twin.layout
    web_user = webuser.ensure_web_user(twin._web_user)
    web_gid = osusers.owner_ids(web_user)[1] if web_user else None
    layout.prepare(secrets_gid=web_gid)
    os_user = postgres.database_os_user()
    postgres.check_traversable(layout.root, os_user)
    postgres.check_traversable(layout.root, web_user, who="the web instances' gunicorn")
    for name in (DB_MASTER_PASSWORD, DB_APP_PASSWORD, DJANGO_SECRET_KEY):
        ensure_secret(layout.secrets, name, reader_gid=web_gid if name in webuser.WEB_SECRETS else None)
    if twin.spec.database.multi_az:
        ensure_secret(layout.secrets, DB_REPLICATION_PASSWORD)
    if web_user:
        webuser.give_shared_dirs(layout, web_user)
    elif warning := webuser.root_fallback_warning():
        progress(warning)
    return os_user


def _prepare_webapp(twin: Twin, progress: Progress) -> None:
    """Migrations (and collectstatic when the code's static files changed) run once,
    before any instance starts, so instances never race each other to migrate."""
    commands = [["migrate", "--noinput"]]
    static_current = static_is_current(twin.layout.static)
    if not static_current:
        commands.append(["collectstatic", "--noinput"])
    progress(
        "applying database migrations (once, before the instances start)"
        + ("" if static_current else " and collecting static files")
    )
    manage(commands, twin.manage_env(), log_dir=twin.layout.logs, user=twin._web_user, cwd=twin.layout.root)
    if not static_current:
        chown_to(mark_static_collected(twin.layout.static), twin._web_user)


def _start_instances(twin: Twin, services: list[Service], started: list[str], progress: Progress) -> None:
    if not services:
        return
    for service in services:
        twin.supervisor.start(service.name, spawn_error_ok=True)
        started.append(service.name)
    pending = {s.name: s for s in services}

    def all_ready() -> bool:
        for name, service in list(pending.items()):
            if twin._failed(name):
                return True
            if http_status(service.port, service.probe.path, timeout=2) == 200:
                del pending[name]
        progress(f"waiting for {', '.join(pending) or 'the instances'} to answer /readyz")
        return not pending

    wait_until(all_ready, timeout=60, interval=0.2, clock=twin.clock)
    if pending:
        name = next(iter(pending))
        raise ThreetierError(
            f"web instance {name} did not answer /readyz on 127.0.0.1:{pending[name].port} "
            f"(state {twin._state(name)}); the last lines of its log:",
            details=twin._log_tail(name),
            fix=f"fix the problem above (full log: {twin.layout.log_of(name)})",
        )


def _wait_load_balancer(twin: Twin, progress: Progress, *, fresh: bool) -> None:
    hc = twin.spec.twin_health_check()
    window = float(hc["interval_seconds"]) * int(hc["healthy_threshold"]) + float(hc["timeout_seconds"])
    if fresh:
        progress(
            f"waiting for the load balancer's health checks to pass "
            f"({int(hc['healthy_threshold'])} × {hc['interval_seconds']:g} s on {hc['path']})"
        )
    timeout = window + 30
    if not wait_until(
        lambda: all(twin.target_health().values()) or twin._failed("lb"), timeout=timeout, interval=0.2,
        clock=twin.clock,
    ) or twin._failed("lb"):
        raise ThreetierError(
            f"the load balancer did not report every instance healthy within {timeout:.0f} s "
            f"(target health: {twin.target_health()}); the last lines of its log:",
            details=twin._log_tail("lb"),
            fix=f"see {twin.layout.log_of('lb')} and the instances' logs",
        )
    progress(f"checking {twin.url} over HTTPS with the twin's CA")
    path = str(hc["path"])
    ok = wait_until(
        lambda: twin.ca_cert_path.exists() and http_status(
            twin.spec.local.https_port, path, tls_ca=twin.ca_cert_path, timeout=3
        ) == 200,
        timeout=30, interval=0.2, clock=twin.clock,
    )
    if not ok:
        raise ThreetierError(
            f"{twin.url}{path} did not answer 200 over HTTPS (verified with {twin.ca_cert_path})",
            details=twin._log_tail("lb"),
            fix=f"see {twin.layout.log_of('lb')}",
        )


def _wait_running(twin: Twin, names: list[str], progress: Progress) -> None:
    """Ready is not enough: supervisord must also count each program as started
    (RUNNING after startsecs), or a crash right after the probe would go unnoticed."""
    if not names:
        return
    progress("waiting for supervisord to report every program RUNNING")

    def settled() -> bool:
        processes = twin.supervisor.processes()
        return all(twin._state(n, processes) in ("RUNNING", *FAILED_STATES) for n in names)

    wait_until(settled, timeout=15, interval=0.1, clock=twin.clock)
    processes = twin.supervisor.processes()
    for name in names:
        if twin._state(name, processes) != "RUNNING":
            raise ThreetierError(
                f"{name} did not stay up (state {twin._state(name, processes)}); the last lines of its log:",
                details=twin._log_tail(name),
                fix=f"see {twin.layout.log_of(name)}",
            )
