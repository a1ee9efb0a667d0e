"""Every process of the twin described as data: what to run, as whom, on which port,
and how to tell it is ready. supervisord.conf, the port checks and `status` are all
derived from this list, so a unit test can check them without starting anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["database", "web", "loadbalancer", "failover", "watchdog", "autoscaling"]


@dataclass(frozen=True)
class Probe:
    """How readiness is proven: an SQL query, or an HTTP GET answering 200."""

    kind: Literal["sql", "http", "https", "none"]
    port: int
    path: str = "/"
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class Service:
    """One supervised program.

    `port_key` names the parameter that sets the port, so a conflict message can say
    which key to change. `stop_signal` and `stop_wait_seconds` bound `down`.
    """

    name: str
    kind: Kind
    command: list[str]
    port: int
    port_key: str
    probe: Probe
    env: dict[str, str] = field(default_factory=dict)
    az: str | None = None
    user: str | None = None
    directory: str | None = None
    autorestart: bool = False
    stop_signal: str = "TERM"
    stop_wait_seconds: int = 10
    start_seconds: int = 1
    start_retries: int = 3  # failed starts in a row (supervisord backs off 1 s, 2 s, ... between) before FATAL
    priority: int = 100
    role: str | None = None  # "primary" / "standby" for database nodes

    @property
    def describes(self) -> str:
        """A few words for messages: 'web instance web-1a (ap-northeast-1a)'."""
        words = {
            "database": "database", "web": "web instance", "loadbalancer": "load balancer",
            "failover": "failover stage (Route 53)", "watchdog": "database watchdog",
            "autoscaling": "instance replacer",
        }[self.kind]
        return f"{words} {self.name}" + (f" ({self.az})" if self.az else "")


def az_suffix(az: str) -> str:
    """'ap-northeast-1a' → '1a': the short label the seeds use for their servers."""
    return az.rsplit("-", 1)[-1]


def instance_names(azs: list[str]) -> list[str]:
    """One name per instance: web-1a, web-1c, then web-1a-2, web-1c-2 for a second round."""
    seen: dict[str, int] = {}
    names = []
    for az in azs:
        suffix = az_suffix(az)
        seen[suffix] = seen.get(suffix, 0) + 1
        names.append(f"web-{suffix}" if seen[suffix] == 1 else f"web-{suffix}-{seen[suffix]}")
    return names
