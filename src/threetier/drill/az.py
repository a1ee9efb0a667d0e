"""`drill az`: AWS Fault Injection Service's "AZ Availability: Power Interruption" on the
system — under read and write load, every component in one AZ stops at once: its web
instances and, when it holds them, the primary or the standby database.

What must hold: the other AZ keeps serving (once the load balancer has taken the lost
instances out and, if the primary was lost, the standby was promoted), and no
acknowledged write is lost. Measured: failed reads and writes, detection (the LB marks
the AZ's instances unhealthy), the database's RTO, lost acknowledged writes.

On the twin the AZ's instances are killed (kill -9) and its database nodes too, and the
twin's Auto Scaling group is paused until the drill ends (it would start them in the AZ
that has no power; on AWS the group launches them in the surviving AZ). On AWS (`--target aws`)
the AZ's instances are terminated and the database rebooted with ForceFailover when its
primary is there. The subnets are not cut (FIS also blocks the AZ's network): on
loopback there is none to cut.
"""

from __future__ import annotations

import time

from threetier.apps.routes import drill_routes, what_broke
from threetier.checks.readiness import drill_notes
from threetier.drill import scorecard
from threetier.drill.db import Writer, count_missing, first_ack_after, throttle_notes, wait_for_redundancy
from threetier.drill.load import LoadLoop, Outcome, wait_until
from threetier.drill.report import DrillResult
from threetier.drill.target import ZoneDrillTarget
from threetier.drill.web import health_window, hold_count, raise_not_ready, rate_between, sides, wait_for_health
from threetier.errors import ThreetierError
from threetier.spec import Spec


def choose_zone(target: ZoneDrillTarget, az: str | None) -> str:
    """The AZ to lose: the one asked for, else the primary database's (the worst case)."""
    zones = target.instance_zones()
    db_zones = target.database_zones()
    known = sorted(set(zones.values()) | {z for z in db_zones.values() if z})
    if az is None:
        primary = next((n for n, role in target.database_roles().items() if role == "primary"), None)
        az = db_zones.get(primary) if primary else None
        az = az or known[0]
    if az not in known:
        raise ThreetierError(f"{target.label} has nothing in {az!r}", fix=f"use one of: {', '.join(known)}")
    if all(zone == az for zone in zones.values()):
        raise ThreetierError(
            f"every web instance of {target.label} is in {az}: losing it takes the whole system down",
            fix="spread web.instances over at least two AZs (web subnets in two AZs)",
        )
    return az


def failed_model(s: scorecard.Settings, *, rate: float, share: float, primary_lost: bool) -> scorecard.Estimate:
    """Requests fail while the database is down (all of them) and, until detection, the
    lost AZ's share of the rest: rate × (RTO + share × (detection − RTO)⁺)."""
    detect, rto = scorecard.alb_detection(s), scorecard.database_rto(s)
    rto_low, rto_high = (rto.low or 0.0, rto.high or rto.low or 0.0) if primary_lost else (0.0, 0.0)

    def total(window: float, down: float) -> float:
        return rate * (down + share * max(0.0, window - down))

    return scorecard.Estimate(
        total(detect.low or 0.0, rto_low), total(detect.high or 0.0, rto_high),
        f"load {rate:.1f} req/s: all while the database fails over ({rto.source}) and "
        f"{share:.2f} of the rest until detection ({detect.source})" if primary_lost else
        f"load {rate:.1f} req/s × {share:.2f} of the targets × detection ({detect.source})",
    )


def drill_az(target: ZoneDrillTarget, spec: Spec, *, az: str | None = None, max_seconds: float | None = None
             ) -> DrillResult:
    twin_settings, aws_settings, mine = sides(target, spec)
    on_aws = target.kind == "aws"
    unhealthy_window, healthy_window = health_window(target)
    slack = spec.drill.slack_seconds
    wait_for_redundancy(target)
    az = choose_zone(target, az)
    result = DrillResult(drill="az", target=target.label, lb_semantics=mine.lb_semantics)
    zones = target.instance_zones()
    victims = [name for name, zone in zones.items() if zone == az]
    roles = target.database_roles()
    primary_lost = any(roles.get(name) == "primary" for name, zone in target.database_zones().items() if zone == az)
    rto_model = scorecard.database_rto(mine)
    patience = max(30.0, 4 * unhealthy_window, 2 * (rto_model.high or rto_model.low or 0.0))
    max_seconds = max_seconds or patience + 60
    if not wait_until(lambda: all(target.target_health().values()), timeout=max(30.0, 3 * healthy_window)):
        raise_not_ready(target)

    routes = drill_routes(spec)
    writer = Writer(target.url, tag="z", comment="drill az", routes=routes)
    writes = LoadLoop(writer, ok=lambda r: r.status_code == 201, max_requests=100_000, max_seconds=max_seconds,
                      verify=target.verify).start()
    reads = LoadLoop(lambda s: s.get(f"{target.url}{routes.read}", timeout=10), max_requests=100_000,
                     max_seconds=max_seconds, verify=target.verify).start()
    time.sleep(1.0)
    killed_at, killed_mono = time.time(), time.monotonic()
    lost = target.kill_zone(az)
    try:
        detected = [wait_for_health(target, name, healthy=False, since=killed_at, timeout=patience)
                    for name in victims]
        result.detect_seconds = None if None in detected else max(detected, default=0.0)
        result.rto_seconds = first_ack_after(writes, killed_mono, timeout=patience)
        settled = killed_mono + max(result.detect_seconds or patience, result.rto_seconds or patience) + slack
        time.sleep(max(2.0, settled - time.monotonic() + 2.0))  # serving from the other AZ, measured
    finally:
        write_outcomes, read_outcomes = writes.stop(), reads.stop()
        target.restore_zone(az)  # power back, whatever happened

    acknowledged = [uid for uid, o in zip(writer.sent, write_outcomes, strict=False) if o.ok]
    result.acknowledged_writes = len(acknowledged)
    result.lost_writes = count_missing(target, acknowledged, routes)
    result.notes += what_broke([o.status for o in (*read_outcomes, *write_outcomes)], routes) + drill_notes(spec)
    result.requests = len(read_outcomes) + len(write_outcomes)
    failed_reads = sum(not o.ok for o in read_outcomes)
    failed_writes = sum(not o.ok for o in write_outcomes)
    result.failed_requests = failed_reads + failed_writes
    after = [o for o in read_outcomes if o.started >= settled]
    others_served = sum(o.ok and o.instance not in victims for o in after)
    failed_after = sum(not o.ok for o in after)
    result.notes.append(f"lost {az}: instances {', '.join(lost.get('instances', [])) or '-'}, "
                        f"databases {', '.join(lost.get('databases', [])) or '-'}; roles now {target.database_roles()}")
    result.notes.append(f"after detection and failover: {others_served} reads served by the other AZ, "
                        f"{failed_after} failed; failed reads {failed_reads}, failed writes {failed_writes}")
    result.notes += throttle_notes(write_outcomes)

    end = killed_mono + max(result.detect_seconds or 0.0, result.rto_seconds or 0.0)
    rates = {"reads": _rate(read_outcomes, killed_mono, end), "writes": _rate(write_outcomes, killed_mono, end)}
    result.requests_per_second = round(rates["reads"] + rates["writes"], 1)
    share = len(victims) / len(zones)
    models = {
        (kind, side.name): failed_model(side, rate=rates[kind], share=share, primary_lost=primary_lost)
        for kind in rates for side in (twin_settings, aws_settings)
    }
    rto_twin, rto_aws = (scorecard.database_rto(s) if primary_lost else
                         scorecard.Estimate(0.0, 0.0, "the primary was in the other AZ") for s in (twin_settings,
                                                                                                  aws_settings))
    result.scorecard = [
        scorecard.row("failed reads", "", failed_reads, on_aws=on_aws,
                      twin=models["reads", "twin"], aws=models["reads", "aws"]),
        scorecard.row("failed writes", "", failed_writes, on_aws=on_aws,
                      twin=models["writes", "twin"], aws=models["writes", "aws"]),
        scorecard.row("detect seconds", " s", result.detect_seconds, on_aws=on_aws,
                      twin=scorecard.alb_detection(twin_settings), aws=scorecard.alb_detection(aws_settings)),
        scorecard.row("database RTO seconds", " s", result.rto_seconds, on_aws=on_aws, twin=rto_twin, aws=rto_aws),
        scorecard.row("lost acknowledged writes", "", result.lost_writes, on_aws=on_aws,
                      twin=scorecard.lost_writes(twin_settings), aws=scorecard.lost_writes(aws_settings)),
    ]
    for row in result.scorecard:
        row.aws_predicted = scorecard.Estimate(row.aws_predicted.low, row.aws_predicted.high,
                                               f"{row.aws_predicted.source}; scenario: {scorecard.FIS_AZ}",
                                               row.aws_predicted.never)
    result.expect("lost writes", result.lost_writes, spec.drill.db_max_lost_writes)
    result.expect("detect seconds", result.detect_seconds, unhealthy_window + slack)
    result.expect("RTO seconds", result.rto_seconds,
                  rto_model.high if on_aws and rto_model.high else spec.drill.db_rto_seconds)
    result.expect("failed reads after detection and failover", failed_after, 0)
    result.expect("no read served by the other AZ", 0 if others_served else 1, 0)
    if mine.lb_semantics == "alb":
        hold_count(result, "failed reads", failed_reads, models["reads", mine.name])
    return result


def _rate(outcomes: list[Outcome], start: float, end: float) -> float:
    first = outcomes[0].started if outcomes else start
    return rate_between(outcomes, start, end) or rate_between(outcomes, first, start) or 0.0
