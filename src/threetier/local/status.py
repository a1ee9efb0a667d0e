"""Reading a twin without changing it: `status` (each program's supervisord state, pid,
health, database role and lag) and the load balancer's view of target health."""

from __future__ import annotations

import xmlrpc.client
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from threetier.local import dbpair, postgres
from threetier.local.caddy import TargetHealthReader
from threetier.local.probes import http_status

if TYPE_CHECKING:
    from threetier.local.twin import Twin


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


def read_status(twin: Twin) -> TwinStatus:
    """Every component with its supervisord state, pid and health."""
    result = TwinStatus(twin.spec.env_name, False, twin.url, str(twin.layout.root))
    processes: dict[str, dict] = {}
    if twin.is_running():
        try:
            processes = twin.supervisor.processes()
            result.running = True
        except (OSError, xmlrpc.client.Error):
            processes = {}
    health = twin.target_health_states() if twin._state("lb", processes) == "RUNNING" else {}
    states = {name: info.get("statename", "") for name, info in processes.items()}
    databases = dbpair.node_views(twin.db_pair(), twin.db_nodes, states, twin._master()) if processes else {}
    for service in twin.services():
        info = processes.get(service.name, {})
        state = info.get("statename", "NOT RUNNING")
        component = Component(
            service.name, service.kind, service.az, service.port, state,
            pid=info.get("pid") or None, role=service.role,
        )
        if service.kind == "web":
            component.health = health.get(service.name) or "unknown"
        elif service.kind == "database" and state == "RUNNING":
            component.health = "healthy" if postgres.sql_ready(service.port, **twin._master()) else "unhealthy"
        if service.kind == "database" and service.name in databases:
            component.role, component.lag = databases[service.name].role, databases[service.name].lag
        result.components.append(component)
    return result


def program_states(twin: Twin) -> dict[str, str]:
    """name → supervisord's statename; empty when the twin is down or does not answer."""
    try:
        processes = twin.supervisor.processes() if twin.is_running() else {}
    except (OSError, xmlrpc.client.Error):
        processes = {}
    return {name: info.get("statename", "") for name, info in processes.items()}


def target_health_states(twin: Twin) -> dict[str, str]:
    """name → 'healthy' | 'unhealthy' | 'unknown', as the load balancer's health checks decided."""
    ports = twin.instance_ports()
    # One reader per Twin: it keeps its place in the health log between calls.
    if twin._health_reader is None:
        twin._health_reader = TargetHealthReader(twin.layout.lb_health_log, list(ports.values()))
    by_port = twin._health_reader.read()
    words = {True: "healthy", False: "unhealthy", None: "unknown"}
    return {name: words[by_port[port]] for name, port in ports.items()}


def instances_answering(twin: Twin) -> dict[str, bool]:
    """Each instance's health path, asked directly, bypassing the load balancer."""
    path = str(twin.spec.twin_health_check()["path"])
    return {name: http_status(port, path, timeout=1) == 200 for name, port in twin.instance_ports().items()}
