"""`Twin`: one environment's local twin — bring it up, look at it, break it, take it down.

>>> twin = Twin.for_spec(load_spec("default"))
>>> twin.up(progress=print)          # returns once the LB answers over HTTPS
>>> twin.url, twin.ca_cert_path      # ('https://127.0.0.1:8443', Path('.../root.crt'))
>>> twin.kill_instance("web-1a"); twin.target_health()    # {'web-1a': False, 'web-1c': True} (after the checks)
>>> twin.down(purge=True)

A small facade over a frozen `TwinPlan` (what the twin is made of) and `Programs` (its
live processes): `up` is bringup's, `status` status's, `down` teardown's; none of them
imports this module.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local import bringup, dbpair, failover, postgres, preflight, replacer, status, teardown, webuser
from threetier.local.bringup import UpResult
from threetier.local.layout import Layout, resolve_state_dir
from threetier.local.plan import Binaries, OsUsers, TwinPlan, build_plan
from threetier.local.probes import Clock
from threetier.local.processes import kill_group, kill_process
from threetier.local.programs import Programs
from threetier.local.services import Service
from threetier.local.status import TwinStatus
from threetier.local.teardown import DownResult
from threetier.spec import Spec

__all__ = ["DownResult", "Progress", "Twin", "TwinStatus", "UpResult"]

Progress = Callable[[str], None]
PLANNED = object()  # `web_user` default: whoever webuser.planned_web_user() chooses


def _silent(_: str) -> None:
    pass


class Twin:
    """The local twin of one environment, living in one state directory.

    `web_user`: the OS user the web instances run as (default: the unprivileged web user
    when we are root and it can run this Python; None: as ourselves).
    """

    def __init__(
        self, spec: Spec, state_dir: Path | None = None, *, clock: Clock | None = None,
        web_user: str | None | object = PLANNED,
    ):
        self.spec = spec
        self.layout = Layout(Path(state_dir) if state_dir else resolve_state_dir(spec.env_name, spec.local.state_dir))
        self.clock = clock or Clock()
        self.users = OsUsers(
            database=postgres.DB_OS_USER if os.geteuid() == 0 else None,
            web=webuser.planned_web_user() if web_user is PLANNED else web_user,  # type: ignore[arg-type]
        )
        # Likely binary paths are enough to name, show and stop things; `up` checks them.
        self.plan = self._plan(check_binaries=False)
        self.programs = Programs(self.layout, self.plan.instance_ports())

    @classmethod
    def for_spec(cls, spec: Spec) -> Twin:
        """The twin of `spec`'s environment in its usual state directory."""
        return cls(spec)

    def _plan(self, *, check_binaries: bool) -> TwinPlan:
        binaries = Binaries(
            pg_bin_dir=preflight.pg_bin_dir(self.spec, check=check_binaries),
            caddy=preflight.caddy_executable(check=check_binaries),
        )
        return build_plan(self.spec, self.layout, binaries=binaries, users=self.users)

    # --- what the twin is made of -------------------------------------------------

    @property
    def supervisor(self):  # noqa: ANN201 - threetier.local.supervisor.Supervisor
        return self.programs.supervisor

    @property
    def url(self) -> str:
        return self.plan.url

    @property
    def lb_url(self) -> str:
        """The load balancer itself, behind the public `url`'s failover stage (for benchmarks)."""
        return self.plan.lb_url

    @property
    def http_url(self) -> str:
        return self.plan.http_url

    @property
    def cdn_url(self) -> str | None:
        """The CloudFront stage (local.cdn_port), or None when the twin runs none."""
        port = self.plan.lb.cdn_port if self.plan.lb.semantics == "alb" else None
        return f"https://127.0.0.1:{port}" if port else None

    @property
    def ca_cert_path(self) -> Path:
        """Caddy's local root CA: pass it as `verify=` to requests."""
        return self.layout.caddy_ca_root

    @property
    def web_user(self) -> str | None:
        return self.users.web

    @property
    def db_nodes(self) -> list[postgres.PgNode]:
        """The database nodes, first database AZ first, with their roles as recorded
        (roles.json, rewritten by a failover); `database_roles()` asks the servers."""
        primary = self.plan.primary_node().name
        return [replace(n, role="primary" if n.name == primary else "standby") for n in self.plan.db_nodes]

    def db_pair(self):  # noqa: ANN201 - threetier.local.replication.Pair | None
        """The primary/standby pair (None without database.multi_az)."""
        return self.plan.pair

    def primary_node(self) -> postgres.PgNode:
        return self.plan.primary_node()

    def instance_names(self) -> list[str]:
        return [i.name for i in self.plan.instances]

    def instance_ports(self) -> dict[str, int]:
        return self.plan.instance_ports()

    def health_check(self) -> dict:
        """The load balancer's health check (path, interval, timeout, thresholds)."""
        return dict(self.plan.health)

    def app_settings(self):  # noqa: ANN201 - threetier.local.webapp.AppSettings
        return self.plan.app

    def lb_settings(self):  # noqa: ANN201 - threetier.local.caddy.LbSettings
        return self.plan.lb

    def services(self) -> list[Service]:
        """Every program, in start order: database nodes, web instances, load balancer, helpers."""
        return list(self.plan.services)

    def service(self, name: str) -> Service:
        found = self.plan.service(name)
        if found is None:
            known = ", ".join(s.name for s in self.plan.services)
            raise ThreetierError(f"no component named {name!r}", fix=f"use one of: {known}")
        return found

    def manage_env(self) -> dict[str, str]:
        """The environment of a one-off webapp command (migrate, collectstatic, shell)."""
        return bringup.manage_env(self.plan)

    # --- up / down ----------------------------------------------------------------

    def up(self, progress: Progress = _silent) -> UpResult:
        """Start whatever is not running, in order, each once the previous is ready.

        Idempotent: with everything running it changes nothing (`UpResult.started` is
        empty). Orphans of a dead supervisord are stopped first. On failure it stops what
        this call started and raises ThreetierError.
        """
        self.plan = self._plan(check_binaries=True)
        return bringup.up(self.plan, self.programs, clock=self.clock, progress=progress)

    def down(self, purge: bool = False, progress: Progress = _silent) -> DownResult:
        """Stop every process of the twin (through supervisord, then any left carrying the
        twin's marker), bounded; data is kept unless `purge`."""
        return teardown.down(self.plan, self.programs, clock=self.clock, purge=purge, progress=progress)

    # --- status -------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.programs.is_running()

    def require_running(self) -> None:
        if not self.is_running():
            raise ThreetierError(
                f"the local twin of {self.spec.env_name!r} is not running (state dir {self.layout.root})",
                fix=f"start it with `threetier --env {self.spec.env_name} up`",
            )

    def status(self) -> TwinStatus:
        """Every component with its supervisord state, pid and health; orphans, problems."""
        return status.read_status(self.plan, self.programs)

    def target_health_states(self) -> dict[str, str]:
        """name → 'healthy' | 'unhealthy' | 'unknown', as the load balancer's health checks decided."""
        return self.programs.target_health_states()

    def target_health(self) -> dict[str, bool]:
        """name → True when the load balancer sends it traffic (drills poll this)."""
        return {name: state == "healthy" for name, state in self.target_health_states().items()}

    def health_events_since(self, wall_time: float) -> list[tuple[float, str, bool]]:
        """(epoch seconds, instance, healthy) for each change the load balancer made after `wall_time`."""
        return self.programs.health_events_since(wall_time)

    def instances_answering(self) -> dict[str, bool]:
        """Each instance's health path, asked directly, bypassing the load balancer."""
        return status.instances_answering(self.plan)

    def failover_state(self) -> dict | None:
        """The failover stage's state as it last wrote it: route ('lb' | 'sorry'), the
        record's health, changes still waiting for the TTL (None before it first ran)."""
        return failover.read_state(self.layout)

    def failover_events_since(self, wall_time: float) -> list[dict]:
        """The failover stage's decisions ('record') and switches ('route') after `wall_time`."""
        return failover.read_events(self.layout, wall_time)

    # --- the database pair (drills, tests) ------------------------------------------

    def database_roles(self) -> dict[str, str]:
        """name → 'primary' | 'standby' | 'down', as the servers themselves say."""
        views = dbpair.node_views(self.plan.pair, self.db_nodes, self.programs.states(), self.plan.master_login())
        return {name: view.role for name, view in views.items()}

    def database_redundant(self) -> bool:
        """The pair is whole again: one primary, one standby streaming from it, synchronous commit on."""
        return dbpair.is_redundant(self.plan.pair, self.programs.states())

    def kill_primary_database(self) -> str:
        """kill -9 the current primary's postmaster (an instance failure); return its name.
        With multi-AZ the watchdog fails over; without, supervisord restarts it in place."""
        roles = self.database_roles()
        name = next((n for n, role in roles.items() if role == "primary"), None)
        if name is None:
            raise ThreetierError(f"no database is running as the primary (roles: {roles})")
        pid = self.programs.pid(name)
        if pid:
            kill_process(pid, signal.SIGKILL)
        return name

    def kill_database(self, name: str) -> None:
        """kill -9 one database node's postmaster, whatever its role (an AZ losing power
        takes its node with it); the watchdog fails over or rebuilds as it would."""
        self._require_kind(name, "database")
        pid = self.programs.pid(name)
        if pid:
            kill_process(pid, signal.SIGKILL)

    # --- breaking it on purpose (drills, tests) -----------------------------------

    def stop_instance(self, name: str) -> dict:
        """Stop one instance gracefully, as an Auto Scaling group does: deregistered from the
        load balancer first (no new requests; in-flight ones finish, up to the deregistration
        delay), then SIGTERM (gunicorn's graceful timeout), bounded; it stays stopped.
        Returns how the drain went (replacer.deregister)."""
        self._require_kind(name, "web")
        drained = {"drained_seconds": 0.0, "in_flight_left": 0}
        if self.programs.state(name) == "RUNNING":
            drained = replacer.deregister(self.layout, self.plan.instance_ports()[name],
                                          delay_seconds=self.plan.lb.deregistration_delay_seconds)
        self.programs.stop(name)
        return drained

    def start_instance(self, name: str) -> None:
        self._require_kind(name, "web")
        self.programs.start(name)

    def kill_instance(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal an instance's whole process group (default kill -9, like a terminated
        EC2 instance). The twin's Auto Scaling group (replacer.py) starts a replacement
        once the load balancer has marked it unhealthy."""
        self._require_kind(name, "web")
        pid = self.programs.pid(name)
        if pid:
            kill_group(pid, sig)

    def stop_instances(self) -> None:
        for name in self.instance_names():
            self.programs.stop(name)

    def start_instances(self) -> None:
        for name in self.instance_names():
            self.programs.start(name)

    def stop_component(self, name: str) -> None:
        self.service(name)
        self.programs.stop(name)

    def start_component(self, name: str) -> None:
        self.service(name)
        self.programs.start(name)

    def _require_kind(self, name: str, kind: str) -> None:
        if self.service(name).kind != kind:
            raise ThreetierError(f"{name} is not a {kind} component")
