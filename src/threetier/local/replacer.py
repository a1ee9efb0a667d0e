"""The twin's Auto Scaling group: replaces a web instance that died, the way an ASG with
ELB health checks does, run by supervisord as `python -m threetier.local.replacer <state>/asg.json`.

supervisord does not restart web instances itself (it would bring a killed instance
back within a second, before the load balancer's next check, so there would be no
failure to rehearse). This program starts an instance again once it has exited or
failed *and* the load balancer has marked it unhealthy — or, bounded, after a few
health-check windows if the load balancer never says so. A deliberately stopped
instance (STOPPED: `threetier drill outage`, `Twin.stop_instance`) stays stopped, as an
instance taken out of an ASG's desired capacity would.

`deregister` is the group's part of a graceful stop (a scale-in, an instance refresh): the
target leaves the load balancer first, its in-flight requests finish (up to the
deregistration delay), and only then is the instance stopped (gunicorn's graceful timeout,
below the delay: checks/parity.py holds the stack to it).
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local.caddy import TargetHealthReader, deregister_socket
from threetier.local.daemon import run_until_signalled
from threetier.local.layout import Layout
from threetier.local.services import Probe, Service
from threetier.local.supervisor import Supervisor

PROGRAM = "asg"
INTERVAL = 0.2  # seconds between looks at supervisord and the health log
DEAD_STATES = {"EXITED", "FATAL"}  # BACKOFF: supervisord is still retrying the start itself


@dataclass(frozen=True)
class ReplacerConfig:
    instances: dict[str, int]  # name → port, as the load balancer knows them
    health_log: str
    interval_seconds: float  # the load balancer's health-check interval
    unhealthy_threshold: int

    @property
    def max_wait(self) -> float:
        """Replace anyway after this long: the load balancer may never report a change
        (an instance that died while already unhealthy emits no new event)."""
        return 3 * self.interval_seconds * self.unhealthy_threshold + 10

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ReplacerConfig:
        raw = json.loads(text)
        return cls(
            instances={str(k): int(v) for k, v in raw["instances"].items()}, health_log=raw["health_log"],
            interval_seconds=float(raw["interval_seconds"]), unhealthy_threshold=int(raw["unhealthy_threshold"]),
        )


def replacements(
    states: dict[str, str], healthy: dict[str, bool | None], dead_since: dict[str, float], now: float,
    *, max_wait: float,
) -> list[str]:
    """The instances to start now; updates `dead_since` (name → when first seen dead).

    Pure, so the decision is unit-tested without supervisord or a clock.
    """
    due = []
    for name, state in states.items():
        if state not in DEAD_STATES:
            dead_since.pop(name, None)
            continue
        since = dead_since.setdefault(name, now)
        if healthy.get(name) is False or now - since >= max_wait:
            due.append(name)
            dead_since.pop(name)
    return due


class Replacer:
    def __init__(self, config: ReplacerConfig, supervisor: Supervisor, *, log: Callable[[str], None]):
        self.config = config
        self.supervisor = supervisor
        self.log = log
        self.reader = TargetHealthReader(Path(config.health_log), list(config.instances.values()))
        self.dead_since: dict[str, float] = {}
        self.stopping = False

    def tick(self, now: float) -> list[str]:
        processes = self.supervisor.processes()
        states = {name: processes.get(name, {}).get("statename", "") for name in self.config.instances}
        by_port = self.reader.read()
        healthy = {name: by_port.get(port) for name, port in self.config.instances.items()}
        due = replacements(states, healthy, self.dead_since, now, max_wait=self.config.max_wait)
        for name in due:
            why = "the load balancer marks it unhealthy" if healthy[name] is False else "no health verdict in time"
            self.log(f"{name} is {states[name]} and {why}: starting a replacement")
            try:
                self.supervisor.start(name, spawn_error_ok=True)
            except ThreetierError as exc:
                self.log(f"could not start {name}: {exc}")
        return due

    def run(self) -> None:
        names = ", ".join(self.config.instances)
        self.log(f"replacing dead instances ({names}) once the load balancer marks them unhealthy")
        while not self.stopping:
            try:
                self.tick(time.monotonic())
            except (OSError, ValueError, ThreetierError) as exc:
                self.log(f"error in this round (retrying): {type(exc).__name__}: {exc}")
            time.sleep(INTERVAL)
        self.log("stopped")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def _unix_get(path: Path, url: str, *, timeout: float = 5.0) -> tuple[int, bytes]:
    connection = _UnixConnection(path, timeout)
    try:
        connection.request("GET", url, headers={"Host": "localhost"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def in_flight(layout: Layout, port: int) -> int | None:
    """Requests the load balancer has open to the target on `port` (Caddy's admin API);
    None when it does not answer."""
    try:
        status, body = _unix_get(layout.caddy_admin_socket, "/reverse_proxy/upstreams")
        if status != 200:
            return None
        counts = {entry.get("address"): int(entry.get("num_requests", 0)) for entry in json.loads(body)}
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return counts.get(f"127.0.0.1:{port}", 0)


def deregister(
    layout: Layout, port: int, *, delay_seconds: float, clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Take the target on `port` out of the load balancer, then wait until its in-flight
    requests finished or the deregistration delay ran out (what an ALB does before the
    Auto Scaling group stops the instance). The LB keeps it out for the delay.

    Returns {"drained_seconds", "in_flight_left"}; raises ThreetierError when the LB
    cannot be asked.
    """
    began = clock()
    try:
        status, body = _unix_get(deregister_socket(layout), f"/deregister/{port}")
    except (OSError, http.client.HTTPException) as exc:
        raise ThreetierError(
            f"the load balancer did not deregister the target on port {port}: {exc}",
            fix="check `threetier status` (is the lb running?) and the lb's log in the state directory",
        ) from exc
    if status == 404 and b"unknown target" in body:
        raise ThreetierError(f"the load balancer has no target on port {port}",
                             fix="`threetier up` rewrites the load balancer's config for the current instances")
    left = in_flight(layout, port)
    while left and clock() - began < delay_seconds:
        sleep(0.05)
        left = in_flight(layout, port)
    return {"drained_seconds": clock() - began, "in_flight_left": left or 0}


def config_path(layout: Layout) -> Path:
    return layout.root / "asg.json"


def replacer_service(layout: Layout) -> Service:
    """The supervisord program; `up` writes its config and starts it after the instances."""
    return Service(
        name=PROGRAM,
        kind="autoscaling",
        command=[sys.executable, "-m", "threetier.local.replacer", str(config_path(layout))],
        env={"PYTHONUNBUFFERED": "1"},
        port=0,
        port_key="",
        probe=Probe("none", 0),
        directory=str(layout.root),
        autorestart=True,
        stop_signal="TERM",
        stop_wait_seconds=5,
        start_seconds=1,
        # Stopped first by `down` (supervisord stops higher priorities first), so a
        # stopping instance is never taken for a dead one.
        priority=85,
    )


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m threetier.local.replacer <state>/asg.json", file=sys.stderr)
        return 2
    path = Path(argv[0])
    replacer = Replacer(ReplacerConfig.from_json(path.read_text()), Supervisor(Layout(path.parent)), log=_log)
    return run_until_signalled(replacer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
