"""What a drill needs from the system under test. The twin and a deployed AWS
environment each implement it; drills know nothing else about them."""

from __future__ import annotations

from typing import Protocol


class DrillTarget(Protocol):
    label: str               # "twin default", "aws prod"
    kind: str                # "twin" | "aws": which column of the scorecard its numbers go in
    url: str                 # the load balancer's base URL, no trailing slash
    verify: str | bool       # CA bundle path for HTTPS, or False
    boot_timeout_seconds: float  # how long a started instance may take to answer

    def health_check(self) -> dict:
        """The load balancer's health check: path, interval_seconds, timeout_seconds,
        healthy_threshold, unhealthy_threshold."""
        ...

    def instance_names(self) -> list[str]: ...

    def target_health(self) -> dict[str, bool]:
        """Each instance's health as the load balancer sees it (healthy = receives traffic)."""
        ...

    def instances_answering(self) -> dict[str, bool]:
        """Each instance's own health endpoint, asked directly (not through the load balancer)."""
        ...

    def kill_instance(self, name: str) -> None:
        """End one instance abruptly (kill -9 / terminate), leaving its replacement to the system."""
        ...

    def stop_instances(self) -> None: ...

    def start_instances(self) -> None: ...


class HealthHistory(Protocol):
    """Optional: a target that knows when its load balancer changed its mind, with the
    load balancer's own timestamps (a poll can miss a change reversed within one poll)."""

    def health_events_since(self, wall_time: float) -> list[tuple[float, str, bool]]:
        """(epoch seconds, instance name, healthy) for each change after `wall_time`."""
        ...


class FailoverHistory(Protocol):
    """Optional: a target whose failover stage (Route 53's part) logs its decisions."""

    def failover_events_since(self, wall_time: float) -> list[dict]:
        """{"event": "record" | "route", "ts": epoch seconds, ...} after `wall_time`."""
        ...


class DatabaseDrillTarget(DrillTarget, Protocol):
    def kill_primary_database(self) -> str:
        """kill -9 the primary (on AWS: reboot it with failover); return its name."""
        ...

    def database_roles(self) -> dict[str, str]:
        """name → 'primary' | 'standby' | 'down'."""
        ...


class ZoneDrillTarget(DatabaseDrillTarget, Protocol):
    """What `drill az` needs: where each part lives, and a way to end a whole AZ."""

    def instance_zones(self) -> dict[str, str]:
        """web instance name → its AZ."""
        ...

    def database_zones(self) -> dict[str, str]:
        """database name → its AZ (the primary's and the standby's)."""
        ...

    def kill_zone(self, az: str) -> dict[str, list[str]]:
        """Power off every component in `az` at once: {"instances": [...], "databases": [...]}."""
        ...

    def restore_zone(self, az: str) -> None:
        """Power is back in `az` (the twin starts what it stopped; AWS replaces on its own)."""
        ...
