"""The local twin as a drill target: a thin adapter over `threetier.local.twin.Twin`.

The twin's load balancer serves HTTPS with Caddy's local CA, so every request a drill
sends verifies against that CA (never against a CA bundle from the environment).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from threetier.drill.load import wait_until
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
        self._health_lock = threading.Lock()  # the drill and the replacer both read the log

    @classmethod
    def for_spec(cls, spec: Spec, state_dir: Path | None = None) -> TwinTarget:
        return cls(Twin(spec, state_dir) if state_dir else Twin.for_spec(spec))

    def instance_names(self) -> list[str]:
        return self.twin.instance_names()

    def target_health(self) -> dict[str, bool]:
        return self.twin.target_health()

    def health_events_since(self, wall_time: float) -> list[tuple[float, str, bool]]:
        with self._health_lock:
            self._health_log.read()
            transitions = list(self._health_log.transitions)
        return [(ts, self._names_by_port[port], healthy) for ts, port, healthy in transitions if ts >= wall_time]

    def instances_answering(self) -> dict[str, bool]:
        return self.twin.instances_answering()

    def kill_instance(self, name: str) -> None:
        """kill -9 the instance, and replace it once the load balancer has marked it unhealthy.

        That is what an Auto Scaling group with ELB health checks does. supervisord alone
        restarts a killed instance within about a second, often before the load balancer's
        next check (10 s apart in the seeds' settings), so there would be nothing to detect.
        """
        killed_at = time.time()
        self.twin.kill_instance(name)
        self._hold_down(name)
        threading.Thread(
            target=self._replace_when_unhealthy, args=(name, killed_at), name=f"replace-{name}", daemon=True
        ).start()

    def _hold_down(self, name: str, timeout: float = 15.0) -> None:
        """Keep supervisord's automatic restart from bringing the instance back early."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.twin.supervisor.processes().get(name, {}).get("statename")
            if state in ("STOPPED", "FATAL"):
                return
            if state in ("STARTING", "RUNNING", "BACKOFF"):
                self.twin.stop_instance(name)
            time.sleep(0.02)

    def _replace_when_unhealthy(self, name: str, killed_at: float) -> None:
        hc = self.twin.spec.twin_health_check()
        # Bounded: start it anyway after a few health-check windows.
        wait_until(
            lambda: any(n == name and not healthy for _, n, healthy in self.health_events_since(killed_at)),
            timeout=3 * float(hc["interval_seconds"]) * int(hc["unhealthy_threshold"]) + 10,
        )
        self.twin.start_instance(name)

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
