"""The local twin as a drill target: a thin adapter over `threetier.local.twin.Twin`.

The twin's load balancer serves HTTPS with Caddy's local CA, so every request a drill
sends verifies against that CA (never against a CA bundle from the environment).
"""

from __future__ import annotations

from pathlib import Path

from threetier.local.caddy import TargetHealthReader
from threetier.local.twin import Twin
from threetier.spec import Spec


class TwinTarget:
    """Implements `DatabaseDrillTarget` and `HealthHistory` for a running twin."""

    def __init__(self, twin: Twin):
        twin.require_running()
        self.twin = twin
        self.label = f"twin {twin.spec.env_name}"
        self.url = twin.url
        self.verify: str | bool = str(twin.ca_cert_path)
        ports = twin.instance_ports()
        self._names_by_port = {port: name for name, port in ports.items()}
        self._health_log = TargetHealthReader(twin.layout.lb_health_log, list(ports.values()))

    @classmethod
    def for_spec(cls, spec: Spec, state_dir: Path | None = None) -> TwinTarget:
        return cls(Twin(spec, state_dir) if state_dir else Twin.for_spec(spec))

    def instance_names(self) -> list[str]:
        return self.twin.instance_names()

    def target_health(self) -> dict[str, bool]:
        return self.twin.target_health()

    def health_events_since(self, wall_time: float) -> list[tuple[float, str, bool]]:
        self._health_log.read()
        return [
            (ts, self._names_by_port[port], healthy)
            for ts, port, healthy in self._health_log.transitions
            if ts >= wall_time
        ]

    def instances_answering(self) -> dict[str, bool]:
        return self.twin.instances_answering()

    def kill_instance(self, name: str) -> None:
        self.twin.kill_instance(name)

    def stop_instances(self) -> None:
        self.twin.stop_instances()

    def start_instances(self) -> None:
        self.twin.start_instances()

    def kill_primary_database(self) -> str:
        return self.twin.kill_primary_database()

    def database_roles(self) -> dict[str, str]:
        return self.twin.database_roles()

    def database_redundant(self) -> bool:
        return self.twin.database_redundant()
