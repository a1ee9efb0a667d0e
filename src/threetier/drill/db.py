"""`drill db`: kill -9 the primary database under steady writes (seed 004: RDS Multi-AZ
fails over to the standby), then prove no acknowledged write was lost.

Every write is a user created through the load balancer's JSON API; a write counts as
acknowledged only when the API answered 201. After the failover every acknowledged
user must still be there.
"""

from __future__ import annotations

import itertools
import time

import requests

from threetier.drill.load import LoadLoop, drill_session, wait_until
from threetier.drill.report import DrillResult
from threetier.drill.target import DatabaseDrillTarget
from threetier.spec import Spec


class _Writer:
    """Creates users with unique ids (at most 10 characters, as the model requires)."""

    def __init__(self, url: str):
        self.url = url
        self.prefix = "d" + format(int(time.time()) % 36**3, "03x")[-3:]
        self.counter = itertools.count()
        self.sent: list[str] = []

    def __call__(self, session: requests.Session) -> requests.Response:
        user_id = f"{self.prefix}{next(self.counter):06d}"
        self.sent.append(user_id)
        return session.post(
            f"{self.url}/api/users/",
            json={"user_id": user_id, "user_name": "drill", "password": "drill-pass-1", "comment": "drill db"},
            timeout=15,
        )


def drill_db(target: DatabaseDrillTarget, spec: Spec, *, max_seconds: float = 90) -> DrillResult:
    result = DrillResult(drill="db", target=target.label)
    roles = target.database_roles()
    if "standby" not in roles.values():
        from threetier.errors import ThreetierError  # noqa: PLC0415 - the rare path

        raise ThreetierError(
            f"{target.label}: no standby database to fail over to (roles: {roles})",
            fix="set database.multi_az = true in the parameters and run `threetier up` again",
        )
    writer = _Writer(target.url)
    loop = LoadLoop(
        writer, ok=lambda r: r.status_code == 201, max_requests=100_000, max_seconds=max_seconds,
        verify=target.verify,
    ).start()
    time.sleep(1.0)
    killed_at = time.monotonic()
    victim = target.kill_primary_database()
    # RTO: from the kill until the first acknowledged write that started after it.
    recovered = wait_until(
        lambda: any(o.ok and o.started > killed_at for o in list(loop.outcomes)),
        timeout=max(30.0, 3 * spec.drill.db_rto_seconds), interval=0.05,
    )
    time.sleep(1.0)
    outcomes = loop.stop()
    first_ok_after = next((o for o in outcomes if o.ok and o.started > killed_at), None)
    result.rto_seconds = None if first_ok_after is None else first_ok_after.finished - killed_at

    acknowledged = [uid for uid, o in zip(writer.sent, outcomes, strict=False) if o.ok]
    result.requests = len(outcomes)
    result.failed_requests = sum(not o.ok for o in outcomes)
    result.acknowledged_writes = len(acknowledged)
    result.lost_writes = _count_missing(target, acknowledged)
    result.notes.append(f"killed {victim}; roles now {target.database_roles()}")
    if recovered is None:
        result.notes.append("writes did not resume within the time limit")
    result.expect("lost writes", result.lost_writes, spec.drill.db_max_lost_writes)
    result.expect("RTO seconds", result.rto_seconds, spec.drill.db_rto_seconds)
    return result


def _count_missing(target: DatabaseDrillTarget, user_ids: list[str]) -> int:
    missing = 0
    with drill_session(target.verify) as session:
        for user_id in user_ids:
            response = session.get(f"{target.url}/api/users/{user_id}/", timeout=15)
            missing += response.status_code != 200
    return missing
