"""What a drill needs from the system under test. The twin and a deployed AWS
environment each implement it; drills know nothing else about them."""

from __future__ import annotations

from typing import Protocol


class DrillTarget(Protocol):
    label: str               # "twin default", "aws prod"
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


class DatabaseDrillTarget(DrillTarget, Protocol):
    def kill_primary_database(self) -> str:
        """kill -9 the primary; return its name."""
        ...

    def database_roles(self) -> dict[str, str]:
        """name → 'primary' | 'standby' | 'down'."""
        ...
