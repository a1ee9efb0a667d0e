"""The twin as data: every program, port, database node and setting, derived once from
the parameters, the state directory, the binaries and the OS users. Building a plan
starts nothing and reads no file; `up`, `status`, `down` and the drills work from it.

>>> plan = build_plan(spec, Layout(Path("/tmp/s")), binaries=likely, users=OsUsers(None, None))
>>> [s.name for s in plan.services]   # ['db-1a', 'web-1a', 'web-1c', 'lb', 'dns', 'asg']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from threetier.apps.environment import venv_python
from threetier.apps.identity import AppSource, app_identity
from threetier.apps.release import release_dir
from threetier.local import failover, postgres, replacer, watchdog
from threetier.local.caddy import LbSettings, caddy_service
from threetier.local.failover import FailoverConfig
from threetier.local.layout import Layout
from threetier.local.postgres import PgNode
from threetier.local.replication import Pair
from threetier.local.secrets import DB_APP_PASSWORD, DB_MASTER_PASSWORD, DJANGO_SECRET_KEY, read_secret
from threetier.local.services import Service, az_suffix, instance_names
from threetier.local.webapp import AppSettings, instance_service
from threetier.spec import Spec

# Every process of a twin carries this variable (supervisord passes its environment on
# to each program, and they to their children), so `status`, `up` and `down` find all of
# them by it, whatever restarted them and even when supervisord itself is gone.
MARKER_VARIABLE = "THREETIER_TWIN"


@dataclass(frozen=True)
class Binaries:
    """What the twin runs that is not Python: PostgreSQL's bin directory and Caddy."""

    pg_bin_dir: Path
    caddy: str


@dataclass(frozen=True)
class OsUsers:
    """Who runs what (None: as ourselves); see postgres.DB_OS_USER and webuser.py."""

    database: str | None
    web: str | None


@dataclass(frozen=True)
class Instance:
    """One web instance: the Auto Scaling group's member in one AZ."""

    name: str
    az: str
    port: int


@dataclass(frozen=True)
class TwinPlan:
    """One environment's twin, every part of it, in start order where order matters."""

    env_name: str
    layout: Layout
    http_port: int
    https_port: int  # the public URL: the failover stage (Route 53's part) in front of the LB
    lb_port: int  # the load balancer's own HTTPS port
    health: dict  # spec.twin_health_check(): path, interval, timeout, thresholds
    db_name: str
    master_user: str
    app_user: str
    db_nodes: tuple[PgNode, ...]  # first database AZ first; roles as first created
    pair: Pair | None  # with database.multi_az; its roles are read live (roles.json)
    instances: tuple[Instance, ...]
    app: AppSettings
    lb: LbSettings
    dns: FailoverConfig  # the failover stage (Route 53's part)
    services: tuple[Service, ...]  # database nodes, web instances, load balancer, failover stage, helpers
    users: OsUsers
    binaries: Binaries

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def lb_url(self) -> str:
        """The load balancer itself, bypassing the failover stage (benchmarks measure this:
        on AWS, DNS is not on the request path)."""
        return f"https://127.0.0.1:{self.lb_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def marker(self) -> str:
        """The value of MARKER_VARIABLE in every process of this twin."""
        return str(self.layout.root)

    @property
    def multi_az(self) -> bool:
        return self.pair is not None

    def instance_ports(self) -> dict[str, int]:
        return {i.name: i.port for i in self.instances}

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def services_of(self, kind: str) -> list[Service]:
        return [s for s in self.services if s.kind == kind]

    def master_login(self) -> dict[str, str]:
        """The database master's user and password (read from its secret file now)."""
        return {"user": self.master_user, "password": read_secret(self.layout.secrets / DB_MASTER_PASSWORD)}

    def primary_node(self) -> PgNode:
        """The primary as recorded (roles.json after a failover); the live truth is the server's."""
        return self.pair.primary() if self.pair else self.db_nodes[0]


def build_plan(spec: Spec, layout: Layout, *, binaries: Binaries, users: OsUsers) -> TwinPlan:
    local = spec.local
    nodes = _db_nodes(spec, layout)
    pair = None
    if len(nodes) == 2:
        pair = Pair(
            nodes=(nodes[0], nodes[1]), os_user=users.database, bin_dir=binaries.pg_bin_dir,
            master_user=spec.database.master_username, secrets_dir=layout.secrets, postgres_dir=layout.postgres,
        )
    azs = spec.instance_azs()
    instances = tuple(
        Instance(name, azs[i], local.first_app_port + i) for i, name in enumerate(instance_names(azs))
    )
    url = f"https://127.0.0.1:{local.https_port}"
    # A user's app runs from its release copy with its own venv, both under <state>/app.
    source, app_state = AppSource.of(spec), layout.root / "app"
    user_app = {} if source is None else {
        "app": app_identity(spec.app, release_dir(app_state)), "python": str(venv_python(app_state / "venv")),
        "source": source, "app_state": app_state,
    }
    app = AppSettings(
        db_hosts=["127.0.0.1" for _ in nodes],
        db_ports=[node.port for node in nodes],
        db_name=spec.database.name,
        db_user=spec.database.app_username,
        db_password_file=layout.secrets / DB_APP_PASSWORD,
        secret_key_file=layout.secrets / DJANGO_SECRET_KEY,
        url=url,
        media_root=layout.media,
        static_root=layout.static,
        instances_dir=layout.root / "instances",
        **user_app,
    )
    health = spec.twin_health_check()
    lb = LbSettings(
        http_port=local.http_port,
        lb_port=local.lb_port,
        public_port=local.https_port,
        upstream_ports=[i.port for i in instances],
        health=health,
        try_duration_seconds=local.lb_try_duration_seconds,
        semantics=local.lb_semantics,
        deregistration_delay_seconds=spec.twin_deregistration_delay(),
        cdn_port=local.cdn_port,
    )
    dns = failover.failover_config(
        layout, listen_port=local.https_port, lb_port=local.lb_port, check=spec.twin_failover_check(),
        upstream_ports=lb.upstream_ports,
    )
    services = (
        *(postgres.node_service(n, bin_dir=binaries.pg_bin_dir, os_user=users.database, standalone=pair is None)
          for n in nodes),
        *(instance_service(i.name, i.az, i.port, index, app, user=users.web) for index, i in enumerate(instances)),
        caddy_service(binaries.caddy, lb, layout),
        failover.failover_service(layout, port=local.https_port),
        replacer.replacer_service(layout),
        *([watchdog.watchdog_service(layout, rto_seconds=spec.drill.db_rto_seconds)] if pair else []),
    )
    return TwinPlan(
        env_name=spec.env_name, layout=layout, http_port=local.http_port, https_port=local.https_port,
        lb_port=local.lb_port, health=health, dns=dns, db_name=spec.database.name,
        master_user=spec.database.master_username,
        app_user=spec.database.app_username, db_nodes=nodes, pair=pair, instances=instances, app=app, lb=lb,
        services=services, users=users, binaries=binaries,
    )


def _db_nodes(spec: Spec, layout: Layout) -> tuple[PgNode, ...]:
    """One node, or with database.multi_az a pair on db_port and db_port + 1."""
    azs = spec.network.azs_of("isolated") or spec.network.azs_of("private")
    count = 2 if spec.database.multi_az else 1
    keys = ["local.db_port", "local.db_port + 1 (standby)"]
    nodes = []
    for i in range(count):
        az = azs[i % len(azs)] if azs else None
        name = f"db-{az_suffix(az)}" if az else f"db-{i + 1}"
        role = "primary" if i == 0 else "standby"
        nodes.append(PgNode(name, role, spec.local.db_port + i, layout.postgres / name, az, port_key=keys[i]))
    return tuple(nodes)
