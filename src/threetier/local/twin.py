"""`Twin`: one environment's local twin — bring it up, look at it, break it, take it down.

>>> twin = Twin.for_spec(load_spec("default"))
>>> twin.up(progress=print)          # returns once the LB answers over HTTPS
>>> twin.url, twin.ca_cert_path      # ('https://127.0.0.1:8443', Path('.../root.crt'))
>>> twin.stop_instance("web-1a"); twin.target_health()    # {'web-1a': False, 'web-1c': True} (after the checks)
>>> twin.down(purge=True)

The CLI (`threetier up|status|down|logs`), the drills and the bench all use this class.
It is a façade: what the twin is made of is here; `up` is in bringup (database steps in
dbstart, checks in preflight), `status` and target health in status, `down` in teardown.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local import (
    bringup,
    dbpair,
    postgres,
    preflight,
    replication,
    teardown,
    watchdog,
    webuser,
)
from threetier.local import status as twin_status  # `Twin.status` would shadow the name
from threetier.local.bringup import UpResult
from threetier.local.caddy import LbSettings, TargetHealthReader, caddy_service
from threetier.local.layout import Layout, resolve_state_dir
from threetier.local.probes import Clock
from threetier.local.processes import kill_group, kill_process
from threetier.local.programs import FAILED_STATES, has_failed, log_tail, program_state, tail_lines
from threetier.local.secrets import (
    DB_APP_PASSWORD,
    DB_MASTER_PASSWORD,
    DJANGO_SECRET_KEY,
    read_secret,
)
from threetier.local.services import Service, az_suffix, instance_names
from threetier.local.status import Component, TwinStatus
from threetier.local.supervisor import Supervisor, clean_env
from threetier.local.teardown import DownResult
from threetier.local.webapp import AppSettings, app_env, instance_service
from threetier.spec import Spec

# Re-exported: callers import these from here (the CLI's `logs` uses tail_lines).
__all__ = ["FAILED_STATES", "Component", "DownResult", "Progress", "Twin", "TwinStatus", "UpResult", "tail_lines"]

Progress = Callable[[str], None]


def _silent(_: str) -> None:
    pass


class Twin:
    """The local twin of one environment, living in one state directory."""

    def __init__(self, spec: Spec, state_dir: Path | None = None, *, clock: Clock | None = None):
        self.spec = spec
        self.layout = Layout(Path(state_dir) if state_dir else resolve_state_dir(spec.env_name, spec.local.state_dir))
        self.clock = clock or Clock()
        self.supervisor = Supervisor(self.layout)
        self._db_user = postgres.DB_OS_USER if os.geteuid() == 0 else None
        self._web_user = webuser.planned_web_user()  # None: the instances run as we do
        self._health_reader: TargetHealthReader | None = None  # created on first read, see status.py
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
            instance_service(name, azs[i], port, i, settings, user=self._web_user)
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

    def manage_env(self) -> dict[str, str]:
        """The environment of a one-off webapp command (migrate, collectstatic, shell)."""
        env = {**clean_env(), **app_env(self.app_settings())}
        env.pop("THREETIER_SECRET_KEY_FILE")
        env["THREETIER_SECRET_KEY"] = read_secret(self.layout.secrets / DJANGO_SECRET_KEY)
        env["THREETIER_INSTANCE_NAME"] = "migrate"
        env["THREETIER_AZ"] = self.spec.instance_azs()[0]
        return env

    # --- up / down ----------------------------------------------------------------

    def up(self, progress: Progress = _silent) -> UpResult:
        """Start whatever is not running, in order, each once the previous is ready.

        Idempotent: with everything running it changes nothing (`UpResult.started` is
        empty). On failure it stops what this call started and raises ThreetierError.
        """
        return bringup.up(self, progress)

    def down(self, purge: bool = False, progress: Progress = _silent) -> DownResult:
        """Stop every program (SIGTERM to each group, bounded wait, SIGKILL), then supervisord;
        check no process of the twin is left. Data is kept unless `purge`."""
        return teardown.down(self, purge, progress)

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
        return twin_status.read_status(self)

    def target_health_states(self) -> dict[str, str]:
        """name → 'healthy' | 'unhealthy' | 'unknown', as the load balancer's health checks decided."""
        return twin_status.target_health_states(self)

    def target_health(self) -> dict[str, bool]:
        """name → True when the load balancer sends it traffic (drills poll this)."""
        return {name: state == "healthy" for name, state in self.target_health_states().items()}

    def instances_answering(self) -> dict[str, bool]:
        """Each instance's health path, asked directly, bypassing the load balancer."""
        return twin_status.instances_answering(self)

    # --- the database pair (drills, tests) ------------------------------------------

    def database_roles(self) -> dict[str, str]:
        """name → 'primary' | 'standby' | 'down', as the servers themselves say."""
        views = dbpair.node_views(self.db_pair(), self.db_nodes, twin_status.program_states(self), self._master())
        return {name: view.role for name, view in views.items()}

    def database_redundant(self) -> bool:
        """The pair is whole again: one primary, one standby streaming from it, synchronous commit on."""
        return dbpair.is_redundant(self.db_pair(), twin_status.program_states(self))

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

    # --- helpers shared by bringup, dbstart, status ---------------------------------

    def _pg_bin_dir(self, *, check: bool) -> Path:
        return preflight.pg_bin_dir(self.spec, check=check)

    def _caddy_executable(self, *, check: bool) -> str:
        return preflight.caddy_executable(check=check)

    def _master(self) -> dict[str, str]:
        return {
            "user": self.spec.database.master_username,
            "password": read_secret(self.layout.secrets / DB_MASTER_PASSWORD),
        }

    def _state(self, name: str, processes: dict | None = None) -> str:
        return program_state(self.supervisor, name, processes)

    def _failed(self, name: str) -> bool:
        return has_failed(self.supervisor, name)

    def _log_tail(self, name: str, lines: int = 15) -> list[str]:
        return log_tail(self.layout, name, lines)
