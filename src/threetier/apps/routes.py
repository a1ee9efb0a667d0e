"""What the drills send to the app under test: the bundled registry's own pages and JSON
API, or, for a user's app, threetier's drill probes (threetier.apps.probes: a session and
writes through the app's own settings), so every drill runs on any app.

>>> routes = drill_routes(spec)
>>> session.get(url + routes.read)                      # steady reads
>>> path, body = routes.write("d1a2b000001", "drill db")  # one write: POST path with JSON body
>>> session.get(url + routes.written("d1a2b000001"))    # 200 while that write exists
"""

from __future__ import annotations

from dataclasses import dataclass

from threetier.apps.health import SESSION_PROBE, WRITE_PROBE
from threetier.spec import Spec

# What a failed probe's status means (threetier.apps.probes), for the drills' notes.
MEANINGS = {
    409: "the session was lost: the instance that answered did not know it (SESSION_ENGINE on an "
         "instance-local cache or file)",
    500: "the app failed: its database was unreachable (during a failover; after one, a stale persistent "
         "connection, see CONN_HEALTH_CHECKS)",
}


@dataclass(frozen=True)
class DrillRoutes:
    read: str
    write_prefix: str
    written_suffix: str
    bundled: bool

    def write(self, write_id: str, comment: str) -> tuple[str, dict | None]:
        if self.bundled:
            return self.write_prefix, {"user_id": write_id, "user_name": "drill", "password": "drill-pass-1",
                                       "comment": comment}
        return f"{self.write_prefix}{write_id}", None

    def written(self, write_id: str) -> str:
        return f"{self.write_prefix}{write_id}{self.written_suffix}"


BUNDLED_ROUTES = DrillRoutes(read="/users/", write_prefix="/api/users/", written_suffix="/", bundled=True)
PROBE_ROUTES = DrillRoutes(read=SESSION_PROBE, write_prefix=WRITE_PROBE, written_suffix="", bundled=False)


def drill_routes(spec: Spec) -> DrillRoutes:
    return BUNDLED_ROUTES if spec.app.bundled else PROBE_ROUTES


def what_broke(statuses: list[int | None], routes: DrillRoutes) -> list[str]:
    """The drills' notes on a user's app: how many requests failed for each reason the probes name."""
    if routes.bundled:
        return []
    notes = []
    for status, meaning in MEANINGS.items():
        count = sum(s == status for s in statuses)
        if count:
            notes.append(f"{count} request(s) answered {status}: {meaning}")
    return notes
