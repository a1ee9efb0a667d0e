"""Reading a twin without changing it: `status` (each program's supervisord state, pid,
health, database role and lag), and what is wrong with it: processes of the twin that
supervisord no longer manages (it died, or the state directory was deleted), and
programs that failed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from threetier.local import dbpair, failover, postgres
from threetier.local.plan import TwinPlan
from threetier.local.probes import http_status
from threetier.local.programs import FAILED_STATES, Programs
from threetier.local.teardown import component_of, twin_processes

ORPHANED = "ORPHANED"  # running, but no supervisord manages it


@dataclass
class Component:
    """One row of `status`: a program, its state in supervisord, its health."""

    name: str
    kind: str
    az: str | None
    port: int
    state: str  # supervisord's statename, "NOT RUNNING" when the twin is down, or ORPHANED
    pid: int | None = None
    health: str | None = None  # web: the LB's view; database: SQL probe
    role: str | None = None  # database: 'primary' | 'standby' | 'down' (live when running)
    lag: dict | None = None  # standby: {"bytes", "seconds", "state", "sync_state"}


@dataclass
class Orphan:
    """A live process of the twin that no supervisord manages."""

    pid: int
    component: str | None  # the program it leads, when it is one
    command: str


@dataclass
class TwinStatus:
    env: str
    running: bool
    url: str
    state_dir: str
    lb_url: str = ""  # the load balancer itself, behind the failover stage on `url`
    lb_semantics: str = "alb"
    components: list[Component] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    state_dir_missing: bool = False

    @property
    def problems(self) -> list[str]:
        """What is wrong, one line each, with what to do (empty: healthy or cleanly down)."""
        found = []
        if self.orphans:
            where = (
                f"the state directory {self.state_dir} was deleted while the twin ran"
                if self.state_dir_missing else "its supervisord is gone"
            )
            found.append(
                f"{where}: {len(self.orphans)} processes of the twin still run unmanaged "
                f"(pids {', '.join(str(o.pid) for o in self.orphans[:8])}{' ...' if len(self.orphans) > 8 else ''}); "
                f"`threetier --env {self.env} down` stops them, `threetier --env {self.env} up` restarts the twin"
            )
        for c in self.components:
            if c.state in FAILED_STATES:
                found.append(f"{c.name} is {c.state}: see `threetier --env {self.env} logs {c.name}`")
        return found

    def to_json(self) -> dict:
        return {
            "env": self.env,
            "running": self.running,
            "url": self.url,
            "lb_url": self.lb_url,
            "lb_semantics": self.lb_semantics,
            "state_dir": self.state_dir,
            "state_dir_missing": self.state_dir_missing,
            "components": [asdict(c) for c in self.components],
            "orphans": [asdict(o) for o in self.orphans],
            "problems": self.problems,
        }


def read_status(plan: TwinPlan, programs: Programs) -> TwinStatus:
    """Every component with its supervisord state, pid and health; orphans when no
    supervisord answers."""
    result = TwinStatus(
        plan.env_name, False, plan.url, str(plan.layout.root), lb_url=plan.lb_url, lb_semantics=plan.lb.semantics
    )
    processes = programs.processes()
    result.running = bool(processes)
    leaders: dict[str, int] = {}
    if not result.running:
        result.state_dir_missing = not plan.layout.is_state_dir()
        found = twin_processes(plan)
        commands = {p.pid: p.command for p in found}
        for process in found:
            component = component_of(process, plan)
            # gunicorn's workers are forks of its master, with its command line: the leader is the top one.
            if component and commands.get(process.ppid) != process.command:
                leaders[component] = process.pid
            result.orphans.append(Orphan(process.pid, component, " ".join(process.command)[:200]))
    health = programs.target_health_states() if programs.state("lb", processes) == "RUNNING" else {}
    states = {name: info.get("statename", "") for name, info in processes.items()}
    master = plan.master_login() if processes else {}
    databases = dbpair.node_views(plan.pair, list(plan.db_nodes), states, master) if processes else {}
    recorded_primary = plan.primary_node().name
    for service in plan.services:
        info = processes.get(service.name, {})
        state = info.get("statename") or (ORPHANED if service.name in leaders else "NOT RUNNING")
        role = None
        if service.kind == "database":
            role = "primary" if service.name == recorded_primary else "standby"
        component = Component(
            service.name, service.kind, service.az, service.port, state,
            pid=info.get("pid") or leaders.get(service.name), role=role,
        )
        if service.kind == "web":
            component.health = health.get(service.name) or "unknown"
        elif service.kind == "failover" and state == "RUNNING" and (dns := failover.read_state(plan.layout)):
            # The record's health (Route 53's verdict) and where new connections go now.
            component.health = "healthy" if dns.get("record_healthy") else "unhealthy"
            component.role = "→ sorry site" if dns.get("route") == failover.SORRY else "→ lb"
        elif service.kind == "database" and state == "RUNNING":
            component.health = "healthy" if postgres.sql_ready(service.port, **master) else "unhealthy"
        if service.kind == "database" and service.name in databases:
            component.role, component.lag = databases[service.name].role, databases[service.name].lag
        result.components.append(component)
    return result


def instances_answering(plan: TwinPlan) -> dict[str, bool]:
    """Each instance's health path, asked directly, bypassing the load balancer."""
    path = str(plan.health["path"])
    return {i.name: http_status(i.port, path, timeout=1) == 200 for i in plan.instances}
