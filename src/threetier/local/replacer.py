"""The twin's Auto Scaling group: replaces a web instance that died, the way an ASG with
ELB health checks does, run by supervisord as `python -m threetier.local.replacer <state>/asg.json`.

supervisord does not restart web instances itself (it would bring a killed instance
back within a second, before the load balancer's next check, so there would be no
failure to rehearse). This program starts an instance again once it has exited or
failed *and* the load balancer has marked it unhealthy — or, bounded, after a few
health-check windows if the load balancer never says so. A deliberately stopped
instance (STOPPED: `threetier drill outage`, `Twin.stop_instance`) stays stopped, as an
instance taken out of an ASG's desired capacity would.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local.caddy import TargetHealthReader
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
