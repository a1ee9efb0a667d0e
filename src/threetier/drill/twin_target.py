"""The local twin as a drill target: a thin adapter over `threetier.local.twin.Twin`.

The twin's load balancer serves HTTPS with Caddy's local CA, so every request a drill
sends verifies against that CA (never against a CA bundle from the environment). A
killed instance is replaced by the twin itself (its Auto Scaling group, replacer.py),
as on AWS: the drill only kills it.
"""

from __future__ import annotations

from pathlib import Path

from threetier.local.replacer import PROGRAM as ASG
from threetier.local.twin import Twin
from threetier.spec import Spec


class TwinTarget:
    """Implements `ZoneDrillTarget`, `HealthHistory` and `FailoverHistory` for a running twin.

    `url` is the public URL (the failover stage, Route 53's part, in front of the LB)."""

    kind = "twin"
    # A twin instance boots in seconds.
    boot_timeout_seconds = 60.0

    def __init__(self, twin: Twin):
        twin.require_running()
        self.twin = twin
        self.label = f"twin {twin.spec.env_name}"
        self.url = twin.url
        self.cdn_url = twin.cdn_url  # the CloudFront stage (local.cdn_port), or None
        self.verify: str | bool = str(twin.ca_cert_path)

    @classmethod
    def for_spec(cls, spec: Spec, state_dir: Path | None = None) -> TwinTarget:
        return cls(Twin(spec, state_dir) if state_dir else Twin.for_spec(spec))

    def health_check(self) -> dict:
        return self.twin.health_check()

    def instance_names(self) -> list[str]:
        return self.twin.instance_names()

    def target_health(self) -> dict[str, bool]:
        return self.twin.target_health()

    def health_events_since(self, wall_time: float) -> list[tuple[float, str, bool]]:
        return self.twin.health_events_since(wall_time)

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

    def failover_events_since(self, wall_time: float) -> list[dict]:
        return self.twin.failover_events_since(wall_time)

    def instance_zones(self) -> dict[str, str]:
        return {s.name: s.az for s in self.twin.services() if s.kind == "web" and s.az}

    def database_zones(self) -> dict[str, str]:
        return {node.name: node.az for node in self.twin.db_nodes if node.az}

    def kill_zone(self, az: str) -> dict[str, list[str]]:
        """kill -9 everything in `az` back to back: the database nodes first (a write in
        flight must not find the primary still up after its AZ lost power), then the instances.

        The twin's Auto Scaling group is paused first: it would start the instances again in
        the AZ that has no power (on AWS the group launches them in the surviving AZ, which
        the twin's fixed ports cannot); `restore_zone` brings both back."""
        roles = self.twin.database_roles()
        databases = [name for name, zone in self.database_zones().items() if zone == az and roles.get(name) != "down"]
        instances = [name for name, zone in self.instance_zones().items() if zone == az]
        self.twin.stop_component(ASG)
        for name in databases:
            self.twin.kill_database(name)
        for name in instances:
            self.twin.kill_instance(name)
        return {"instances": instances, "databases": databases}

    def restore_zone(self, az: str) -> None:
        """Power back: the AZ's instances start again, and the Auto Scaling group resumes (the
        watchdog rebuilds the AZ's database node as a standby on its own)."""
        for name, zone in self.instance_zones().items():
            if zone == az:
                self.twin.start_instance(name)
        self.twin.start_component(ASG)
