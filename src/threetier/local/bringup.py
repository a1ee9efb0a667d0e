"""`up`: start whatever of the twin is not running, in order — database, watchdog, web
instances, load balancer, failover stage, instance replacer — each once the previous is ready; on
failure stop what this call started. The database steps live in dbstart, the checks in
preflight. Orphans of a dead supervisord are stopped first, so `up` recovers from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local import dbstart, failover, osusers, postgres, preflight, replacer, teardown, webuser
from threetier.local.caddy import render_caddyfile
from threetier.local.envlock import exclusive
from threetier.local.plan import MARKER_VARIABLE, TwinPlan
from threetier.local.ports import check_ports_free
from threetier.local.postgres import chown_to
from threetier.local.probes import Clock, http_status, wait_until
from threetier.local.programs import FAILED_STATES, Programs
from threetier.local.secrets import (
    DB_APP_PASSWORD,
    DB_MASTER_PASSWORD,
    DB_REPLICATION_PASSWORD,
    DJANGO_SECRET_KEY,
    ensure_secret,
    read_secret,
)
from threetier.local.services import Service
from threetier.local.supervisor import RUNNING_STATES, clean_env, render_supervisord_conf
from threetier.local.webapp import (
    app_env,
    manage,
    mark_static_collected,
    one_off_commands,
    prepare_instances,
    prepare_user_app,
    require_nginx,
    static_is_current,
)

Progress = Callable[[str], None]


@dataclass
class UpResult:
    url: str
    ca_cert: Path
    started: list[str]
    seconds: float
    orphans_stopped: int = 0  # processes of an earlier run whose supervisord had died

    @property
    def changed(self) -> bool:
        return bool(self.started)


def program_env(plan: TwinPlan) -> dict[str, str]:
    """supervisord's environment, which every program inherits: small and predictable,
    plus the twin's marker."""
    return clean_env({MARKER_VARIABLE: plan.marker})


def manage_env(plan: TwinPlan) -> dict[str, str]:
    """The environment of a one-off webapp command (migrate, collectstatic, shell)."""
    env = {**program_env(plan), **app_env(plan.app)}
    env.pop("THREETIER_SECRET_KEY_FILE")
    env["THREETIER_SECRET_KEY"] = read_secret(plan.layout.secrets / DJANGO_SECRET_KEY)
    env["THREETIER_INSTANCE_NAME"] = "migrate"
    env["THREETIER_AZ"] = plan.instances[0].az
    return env


def up(plan: TwinPlan, programs: Programs, *, clock: Clock, progress: Progress) -> UpResult:
    """Idempotent: with everything running it changes nothing (`UpResult.started` is
    empty). On failure it stops what this call started and raises ThreetierError."""
    plan.layout.check_socket_paths()
    preflight.check_state_dir(plan.layout)
    plan.layout.root.mkdir(parents=True, exist_ok=True)
    with exclusive(plan.layout.root, plan.env_name, clock):
        return _up(plan, programs, clock, progress)


def _up(plan: TwinPlan, programs: Programs, clock: Clock, progress: Progress) -> UpResult:
    layout, supervisor, env_name = plan.layout, programs.supervisor, plan.env_name
    began = clock.now()
    progress("checking binaries and the state directory")
    preflight.check_webapp_importable()
    require_nginx()  # the instances' front server, from the system
    os_user = prepare_state_dir(plan, progress)

    services = list(plan.services)
    conf = render_supervisord_conf(services, layout, identifier=f"threetier-{env_name}")
    caddyfile = render_caddyfile(plan.lb, layout)
    http_port = plan.http_port
    # The CloudFront stage is a site of the LB's Caddy, written only with "alb" semantics.
    cdn_port = plan.lb.cdn_port if plan.lb.semantics == "alb" else None

    started_daemon = False
    started: list[str] = []
    orphans: list[int] = []
    try:
        if supervisor.is_running():
            preflight.require_same_config(layout, env_name, conf, caddyfile)
            processes = supervisor.processes()
        else:
            orphans, _ = teardown.stop_twin_processes(
                plan, clock, progress, reason="an earlier run left behind (its supervisord is gone)"
            )
            check_ports_free(preflight.port_claims(services, http_port, cdn_port), env_name)
            dbstart.prepare_database(plan, os_user, progress)
            layout.supervisord_conf.write_text(conf)
            layout.supervisord_conf.chmod(0o600)
            layout.caddyfile.write_text(caddyfile)
            replacer.config_path(layout).write_text(replacer.ReplacerConfig(
                instances=plan.instance_ports(), health_log=str(layout.lb_health_log),
                interval_seconds=float(plan.health["interval_seconds"]),
                unhealthy_threshold=int(plan.health["unhealthy_threshold"]),
            ).to_json())
            failover.config_path(layout).write_text(plan.dns.to_json())
            progress("starting supervisord")
            supervisor.start_daemon(program_env(plan))
            started_daemon = True
            if not wait_until(supervisor.is_running, timeout=15, clock=clock):
                raise ThreetierError(
                    "supervisord did not answer on its socket within 15 s",
                    fix=f"see {layout.log_of('supervisord')}",
                )
            processes = {}

        down = [s for s in services if processes.get(s.name, {}).get("statename") not in RUNNING_STATES]
        if processes and down:
            check_ports_free(preflight.port_claims(down, http_port, cdn_port), env_name)
        dbstart.start_database(
            plan, programs, [s for s in down if s.kind == "database"], started, clock=clock, progress=progress
        )
        dbstart.bootstrap_database(plan, progress)
        for service in (s for s in down if s.kind == "watchdog"):
            progress("starting the database watchdog (automatic failover)")
            programs.start(service.name)
            started.append(service.name)
        web_down = [s for s in down if s.kind == "web"]
        if web_down:
            _prepare_webapp(plan, progress)
        _start_instances(plan, programs, web_down, started, clock=clock, progress=progress)
        lb = [s for s in down if s.kind == "loadbalancer"]
        for service in lb:
            progress("starting the load balancer (Caddy)")
            programs.start(service.name)
            started.append(service.name)
        _wait_load_balancer(plan, programs, clock=clock, progress=progress, fresh=bool(lb))
        for service in (s for s in down if s.kind == "failover"):
            progress("starting the failover stage (Route 53's part) on the public URL")
            programs.start(service.name)
            started.append(service.name)
        _wait_public_url(plan, programs, clock=clock, progress=progress)
        for service in (s for s in down if s.kind == "autoscaling"):
            progress("starting the instance replacer (the Auto Scaling group's part)")
            programs.start(service.name)
            started.append(service.name)
        _wait_running(programs, started, clock=clock, progress=progress)
    except BaseException:
        progress("failed: stopping what this `up` started")
        if started_daemon:
            teardown.shutdown_supervisor(plan, programs, clock)
        else:
            for name in reversed(started):
                try:
                    programs.stop(name)
                except Exception:  # noqa: BLE001, S110 - best effort on the way out
                    pass
        raise
    return UpResult(plan.url, layout.caddy_ca_root, started, clock.now() - began, orphans_stopped=len(orphans))


def prepare_state_dir(plan: TwinPlan, progress: Progress) -> str | None:
    """The directory tree and the secrets, each readable by exactly who needs it: as root,
    PostgreSQL's user owns its nodes, the web user two secrets and media/ static/.
    Returns PostgreSQL's OS user."""
    layout = plan.layout
    web_user = webuser.ensure_web_user(plan.users.web)
    web_gid = osusers.owner_ids(web_user)[1] if web_user else None
    layout.prepare(secrets_gid=web_gid)
    os_user = postgres.database_os_user()
    postgres.check_traversable(layout.root, os_user)
    postgres.check_traversable(layout.root, web_user, who="the web instances' gunicorn")
    for name in (DB_MASTER_PASSWORD, DB_APP_PASSWORD, DJANGO_SECRET_KEY):
        ensure_secret(layout.secrets, name, reader_gid=web_gid if name in webuser.WEB_SECRETS else None)
    if plan.multi_az:
        ensure_secret(layout.secrets, DB_REPLICATION_PASSWORD)
    if web_user:
        webuser.give_shared_dirs(layout, web_user)
    elif warning := webuser.root_fallback_warning():
        progress(warning)
    return os_user


def _prepare_webapp(plan: TwinPlan, progress: Progress) -> None:
    """Migrations (and collectstatic when the code's static files changed) run once,
    before any instance starts, so instances never race each other to migrate."""
    layout = plan.layout
    if plan.app.source is not None:
        # The user's app: a fresh copy of its code and its own venv (rebuilt when its requirements change).
        prepare_user_app(plan.app, progress)
    # The registry's collected files are reused while its code is unchanged; a user's app collects each time.
    static_current = plan.app.source is None and static_is_current(layout.static)
    commands = one_off_commands(plan.app, collect=not static_current)
    progress(
        "applying database migrations (once, before the instances start)"
        + ("" if static_current else " and collecting static files")
    )
    manage(commands, manage_env(plan), log_dir=layout.logs, user=plan.users.web, cwd=layout.root)
    # Each instance's nginx config (its own pid, temp and log paths), checked with `nginx -t`.
    prepare_instances(list(plan.instances), plan.app, plan.users.web)
    if not static_current and plan.app.source is None:
        chown_to(mark_static_collected(layout.static), plan.users.web)


def _start_instances(
    plan: TwinPlan, programs: Programs, services: list[Service], started: list[str], *, clock: Clock,
    progress: Progress,
) -> None:
    if not services:
        return
    for service in services:
        programs.start(service.name, spawn_error_ok=True)
        started.append(service.name)
    pending = {s.name: s for s in services}

    def all_ready() -> bool:
        for name, service in list(pending.items()):
            if programs.failed(name):
                return True
            if http_status(service.port, service.probe.path, timeout=2) == 200:
                del pending[name]
        progress(f"waiting for {', '.join(pending) or 'the instances'} to answer /readyz")
        return not pending

    wait_until(all_ready, timeout=60, interval=0.2, clock=clock)
    if pending:
        name = next(iter(pending))
        raise ThreetierError(
            f"web instance {name} did not answer /readyz on 127.0.0.1:{pending[name].port} "
            f"(state {programs.state(name)}); the last lines of its log:",
            details=programs.log_tail(name),
            fix=f"fix the problem above (full log: {plan.layout.log_of(name)})",
        )


def _wait_load_balancer(plan: TwinPlan, programs: Programs, *, clock: Clock, progress: Progress, fresh: bool) -> None:
    hc = plan.health
    window = float(hc["interval_seconds"]) * int(hc["healthy_threshold"]) + float(hc["timeout_seconds"])
    if fresh:
        progress(
            f"waiting for the load balancer's health checks to pass "
            f"({int(hc['healthy_threshold'])} × {hc['interval_seconds']:g} s on {hc['path']})"
        )
    timeout = window + 30

    def all_healthy() -> bool:
        return all(state == "healthy" for state in programs.target_health_states().values())

    if not wait_until(
        lambda: all_healthy() or programs.failed("lb"), timeout=timeout, interval=0.2, clock=clock,
    ) or programs.failed("lb"):
        raise ThreetierError(
            f"the load balancer did not report every instance healthy within {timeout:.0f} s "
            f"(target health: {programs.target_health_states()}); the last lines of its log:",
            details=programs.log_tail("lb"),
            fix=f"see {plan.layout.log_of('lb')} and the instances' logs",
        )
    _wait_https(plan, programs, plan.lb_port, plan.lb_url, "lb", clock=clock, progress=progress)


def _wait_public_url(plan: TwinPlan, programs: Programs, *, clock: Clock, progress: Progress) -> None:
    """The public URL answers through the failover stage (to the LB: it is healthy now)."""
    _wait_https(plan, programs, plan.https_port, plan.url, "dns", clock=clock, progress=progress)


def _wait_https(
    plan: TwinPlan, programs: Programs, port: int, url: str, program: str, *, clock: Clock, progress: Progress
) -> None:
    ca = plan.layout.caddy_ca_root
    progress(f"checking {url} over HTTPS with the twin's CA")
    path = str(plan.health["path"])
    ok = wait_until(
        lambda: ca.exists() and http_status(port, path, tls_ca=ca, timeout=3) == 200,
        timeout=30, interval=0.2, clock=clock,
    )
    if not ok:
        raise ThreetierError(
            f"{url}{path} did not answer 200 over HTTPS (verified with {ca})",
            details=programs.log_tail(program),
            fix=f"see {plan.layout.log_of(program)}",
        )


def _wait_running(programs: Programs, names: list[str], *, clock: Clock, progress: Progress) -> None:
    """Ready is not enough: supervisord must also count each program as started
    (RUNNING after startsecs), or a crash right after the probe would go unnoticed."""
    if not names:
        return
    progress("waiting for supervisord to report every program RUNNING")

    def settled() -> bool:
        processes = programs.supervisor.processes()
        return all(programs.state(n, processes) in ("RUNNING", *FAILED_STATES) for n in names)

    wait_until(settled, timeout=15, interval=0.1, clock=clock)
    processes = programs.supervisor.processes()
    for name in names:
        if programs.state(name, processes) != "RUNNING":
            raise ThreetierError(
                f"{name} did not stay up (state {programs.state(name, processes)}); the last lines of its log:",
                details=programs.log_tail(name),
                fix=f"see {programs.layout.log_of(name)}",
            )
