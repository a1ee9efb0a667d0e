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

from threetier.apps.routes import BUNDLED_ROUTES, DrillRoutes, drill_routes, what_broke
from threetier.checks.readiness import drill_notes
from threetier.drill import scorecard
from threetier.drill.load import LoadLoop, drill_session, wait_until
from threetier.drill.report import DrillResult
from threetier.drill.target import DatabaseDrillTarget
from threetier.drill.web import sides
from threetier.spec import Spec


class Writer:
    """Creates users with unique ids (at most 10 characters, as the model requires)."""

    def __init__(self, url: str, *, tag: str = "d", comment: str = "drill db", routes: DrillRoutes = BUNDLED_ROUTES):
        self.url, self.comment, self.routes = url, comment, routes
        self.prefix = tag[:1] + format(int(time.time()) % 36**3, "03x")[-3:]
        self.counter = itertools.count()
        self.sent: list[str] = []

    def __call__(self, session: requests.Session) -> requests.Response:
        user_id = f"{self.prefix}{next(self.counter):06d}"
        self.sent.append(user_id)
        path, body = self.routes.write(user_id, self.comment)
        return session.post(f"{self.url}{path}", json=body, timeout=15)


def drill_db(target: DatabaseDrillTarget, spec: Spec, *, max_seconds: float | None = None) -> DrillResult:
    twin_settings, aws_settings, mine = sides(target, spec)
    on_aws = target.kind == "aws"
    result = DrillResult(drill="db", target=target.label, lb_semantics=mine.lb_semantics)
    rto_model = scorecard.database_rto(mine)
    # Long enough for the slowest failover the model allows (RDS: 120 s), twice over.
    patience = max(30.0, 3 * spec.drill.db_rto_seconds, 2 * (rto_model.high or rto_model.low or 0.0))
    max_seconds = max_seconds or patience + 30
    wait_for_redundancy(target)
    roles = target.database_roles()
    if "standby" not in roles.values():
        from threetier.errors import ThreetierError  # noqa: PLC0415 - the rare path

        raise ThreetierError(
            f"{target.label}: no standby database to fail over to (roles: {roles})",
            fix="set database.multi_az = true in the parameters and run `threetier up` again",
        )
    routes = drill_routes(spec)
    writer = Writer(target.url, routes=routes)
    loop = LoadLoop(
        writer, ok=lambda r: r.status_code == 201, max_requests=100_000, max_seconds=max_seconds,
        verify=target.verify,
    ).start()
    time.sleep(1.0)
    victim = target.kill_primary_database()
    # After the call: it finds the primary first (a query per node), and a write acknowledged
    # meanwhile by the still-living primary is no recovery.
    killed_at = time.monotonic()
    result.rto_seconds = first_ack_after(loop, killed_at, timeout=patience)
    time.sleep(1.0)
    outcomes = loop.stop()
    acknowledged = [uid for uid, o in zip(writer.sent, outcomes, strict=False) if o.ok]
    result.requests = len(outcomes)
    result.failed_requests = sum(not o.ok for o in outcomes)
    result.acknowledged_writes = len(acknowledged)
    result.lost_writes = count_missing(target, acknowledged, routes)
    result.notes.append(f"killed {victim}; roles now {target.database_roles()}")
    result.notes += throttle_notes(outcomes) + what_broke([o.status for o in outcomes], routes) + drill_notes(spec)
    if result.rto_seconds is None:
        result.notes.append("writes did not resume within the time limit")
    result.scorecard = [
        scorecard.row("RTO seconds", " s", result.rto_seconds, on_aws=on_aws,
                      twin=scorecard.database_rto(twin_settings), aws=scorecard.database_rto(aws_settings)),
        scorecard.row("lost acknowledged writes", "", result.lost_writes, on_aws=on_aws,
                      twin=scorecard.lost_writes(twin_settings), aws=scorecard.lost_writes(aws_settings)),
    ]
    result.expect("lost writes", result.lost_writes, spec.drill.db_max_lost_writes)
    result.expect("RTO seconds", result.rto_seconds, rto_model.high if on_aws and rto_model.high
                  else spec.drill.db_rto_seconds)
    return result


def throttle_notes(outcomes: list) -> list[str]:
    """Writes the app refused with 429 (its sign-up throttle) are not failures of the system
    under test, but they are not acknowledged either: say how many, so an RTO is read right."""
    throttled = sum(o.status == 429 for o in outcomes)
    return [f"{throttled} writes answered 429 (the app's sign-up throttle, THREETIER_SIGNUP_RATE)"] if throttled else []


def wait_for_redundancy(target: DatabaseDrillTarget, timeout: float = 90.0) -> None:
    """A standby still being rebuilt (after an earlier drill) cannot be promoted: wait until
    the pair is whole again, when the target can tell (the twin)."""
    redundant = getattr(target, "database_redundant", None)
    if redundant is not None:
        wait_until(redundant, timeout=timeout, interval=0.2)


def first_ack_after(loop: LoadLoop, killed_at: float, *, timeout: float) -> float | None:
    """RTO: from the kill (monotonic) until the first acknowledged write that started after it."""
    wait_until(lambda: any(o.ok and o.started > killed_at for o in list(loop.outcomes)), timeout=timeout,
               interval=0.05)
    first = next((o for o in list(loop.outcomes) if o.ok and o.started > killed_at), None)
    return None if first is None else first.finished - killed_at


def count_missing(target: DatabaseDrillTarget, user_ids: list[str], routes: DrillRoutes = BUNDLED_ROUTES) -> int:
    missing = 0
    with drill_session(target.verify) as session:
        for user_id in user_ids:
            response = session.get(f"{target.url}{routes.written(user_id)}", timeout=15)
            missing += response.status_code != 200
    return missing
