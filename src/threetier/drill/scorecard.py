"""What a drill would show on AWS, computed from the documented mechanisms and the
parameters, beside what the twin (or AWS) measured: the scorecard.

Every estimate is a range with its source (document and setting) and comes twice: for
the settings the twin ran with (`twin model`: what the drill holds the twin to, shortened
health checks included) and for the settings the stacks deploy (`AWS predicted`).

>>> aws = Settings.deployed(spec)
>>> alb_detection(aws).high          # 20.0: interval 10 s × unhealthy threshold 2
>>> sorry_page_after(aws).high       # 80.0: min(ALB 20 s, Route 53 10 s × 2) + TTL 60 s
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from threetier.spec import ALIAS_TTL_SECONDS, Spec

ALB_HEALTH = 'ELB user guide, "Health checks for your target groups"'
ALB_FAIL_OPEN = 'ELB user guide, "Health checks for your target groups" (fail-open)'
ROUTE53_HEALTH = 'Route 53 developer guide, "Values that you specify when you create or update health checks"'
DNS_TTL = "Route 53 developer guide (failover routing, alias records); an alias to an ALB or CloudFront: TTL 60 s"
RDS_MULTI_AZ = 'RDS user guide, "Failover process for Amazon RDS": Multi-AZ DB instance, typically 60-120 s'
RDS_CLUSTER = "RDS user guide, Multi-AZ DB clusters: failover typically under 35 s"
RDS_SINGLE_AZ = "RDS user guide: a single-AZ instance is replaced or restarted in place, minutes, no standby"
RDS_SYNC = "RDS user guide: Multi-AZ replicates synchronously, so no committed write is lost"
CLOUDFRONT_FAILOVER = ('CloudFront developer guide, "Optimize high availability with CloudFront origin failover": '
                       "500/502/503/504 or no answer from the primary → the secondary, per request, "
                       "GET/HEAD/OPTIONS only")
FIS_AZ = 'AWS FIS user guide, scenario library: "AZ Availability: Power Interruption"'
# RDS's documented failover ranges (seconds).
RDS_INSTANCE_FAILOVER = (60.0, 120.0)
RDS_CLUSTER_FAILOVER = (0.0, 35.0)


@dataclass(frozen=True)
class Settings:
    """The timing settings one side runs with (the twin's overrides, or what is deployed)."""

    name: str  # "twin" | "aws"
    interval: float  # target group health check
    timeout: float
    unhealthy_threshold: int
    healthy_threshold: int
    r53_interval: float  # Route 53 health check
    r53_threshold: int
    ttl: float
    failover: bool  # a failover record exists (the twin: dns.failover; AWS: also needs dns.domain)
    lb_semantics: str  # "alb" for AWS always
    db_multi_az: bool
    db_rto_budget: float  # the twin's watchdog acts within drill.db_rto_seconds

    @classmethod
    def twin(cls, spec: Spec) -> Settings:
        hc, dns = spec.twin_health_check(), spec.twin_failover_check()
        return cls(
            "twin", float(hc["interval_seconds"]), float(hc["timeout_seconds"]), int(hc["unhealthy_threshold"]),
            int(hc["healthy_threshold"]), float(dns["request_interval_seconds"]), int(dns["failure_threshold"]),
            float(dns["ttl_seconds"]), bool(dns["enabled"]), spec.local.lb_semantics, spec.database.multi_az,
            spec.drill.db_rto_seconds,
        )

    @classmethod
    def deployed(cls, spec: Spec) -> Settings:
        hc, r53 = spec.load_balancer.health_check, spec.route53_health_check()
        return cls(
            "aws", float(hc.interval_seconds), float(hc.timeout_seconds), hc.unhealthy_threshold,
            hc.healthy_threshold, float(r53["request_interval_seconds"]), int(r53["failure_threshold"]),
            float(ALIAS_TTL_SECONDS), bool(spec.dns.domain and spec.dns.failover), "alb", spec.database.multi_az,
            spec.drill.db_rto_seconds,
        )

    def health_setting(self) -> str:
        if self.name == "twin":
            return f"twin: interval {self.interval:g} s, unhealthy threshold {self.unhealthy_threshold}"
        return (f"load_balancer.health_check.interval_seconds = {self.interval:g}, "
                f"unhealthy_threshold = {self.unhealthy_threshold}")

    def r53_setting(self) -> str:
        return (f"{'twin: ' if self.name == 'twin' else 'the stack: '}request interval {self.r53_interval:g} s × "
                f"failure threshold {self.r53_threshold}, TTL {self.ttl:g} s")


@dataclass(frozen=True)
class Estimate:
    """A range (low..high; None: unbounded), or `never` when the mechanism does not exist."""

    low: float | None
    high: float | None
    source: str
    never: bool = False

    def holds(self, value: float | None, *, slack: float = 0.0) -> bool:
        if value is None:
            return self.never
        if self.never:
            return False
        return (self.low is None or value >= self.low - slack) and (self.high is None or value <= self.high + slack)

    def text(self, unit: str = "") -> str:
        if self.never:
            return "never"
        def fmt(v: float) -> str:
            return f"{v:.0f}" if v >= 10 or float(v).is_integer() else f"{v:.1f}"
        if self.low is None and self.high is None:
            return "?"
        if self.high is None:
            return f"≥ {fmt(self.low)}{unit}"
        if self.low is None or self.low == self.high:
            return f"≤ {fmt(self.high)}{unit}" if self.low is None else f"{fmt(self.high)}{unit}"
        return f"{fmt(self.low)}–{fmt(self.high)}{unit}"


def alb_detection(s: Settings) -> Estimate:
    """A dead target (refusing connections) fails each check at once; the threshold-th
    failure comes (threshold − 1) to threshold intervals after the death."""
    if s.lb_semantics == "ideal":
        return Estimate(0.0, s.interval * s.unhealthy_threshold, "the ideal twin: passive health (not an ALB)")
    return Estimate(
        s.interval * (s.unhealthy_threshold - 1), s.interval * s.unhealthy_threshold,
        f"{ALB_HEALTH}: interval × unhealthy threshold ({s.health_setting()})",
    )


def alb_recovery(s: Settings) -> Estimate:
    """A replacement is healthy healthy_threshold checks after it answers (plus its boot)."""
    return Estimate(
        s.interval * (s.healthy_threshold - 1), None,
        f"{ALB_HEALTH}: boot + interval × healthy threshold ({s.healthy_threshold}); on EC2 the boot is minutes",
    )


def failed_requests(s: Settings, *, rate: float, share: float) -> Estimate:
    """A `share` of the requests go to dead targets until the ALB takes them out (no retry)."""
    if s.lb_semantics == "ideal":
        return Estimate(0.0, 0.0, "the ideal twin: a failed dial is retried on the next instance (not an ALB)")
    window = alb_detection(s)
    return Estimate(
        rate * share * (window.low or 0.0), rate * share * (window.high or 0.0),
        f"load {rate:.1f} req/s × {share:.2f} of the targets × detection ({window.source}); "
        "an ALB does not retry another target",
    )


def failover_decision(s: Settings) -> Estimate:
    """Route 53 marks the PRIMARY unhealthy at the first of: its own check failing
    threshold times, or (evaluate target health) the ALB having no healthy target."""
    alb = alb_detection(s)
    low = min(s.r53_interval * (s.r53_threshold - 1), alb.low or 0.0)
    high = min(s.r53_interval * s.r53_threshold, alb.high or 0.0)
    return Estimate(low, high, f"{ROUTE53_HEALTH} ({s.r53_setting()}), or the ALB's window with EvaluateTargetHealth")


def sorry_page_after(s: Settings) -> Estimate:
    """Every instance down → the sorry page: the failover decision plus resolver caching
    (the twin models the worst case: the whole TTL; a client resolving just then sees it
    at the decision)."""
    if s.lb_semantics == "ideal":
        return Estimate(0.0, s.interval * s.unhealthy_threshold, "the ideal twin: the LB serves the sorry page")
    if not s.failover:
        reason = "no dns.domain (no failover record)" if s.name == "aws" else "dns.failover = false"
        return Estimate(None, None, f"{reason}: the ALB's 5xx for the whole outage", never=True)
    decision = failover_decision(s)
    low = decision.low + (s.ttl if s.name == "twin" else 0.0)
    return Estimate(
        low, decision.high + s.ttl,
        f"{ALB_FAIL_OPEN}: 5xx meanwhile; {ROUTE53_HEALTH} + {DNS_TTL} ({s.r53_setting()})",
    )


def cdn_sorry_page_after(s: Settings) -> Estimate:
    """Every instance down, CloudFront in front (dns.cloudfront; the twin's CloudFront stage):
    the ALB fails open and answers a refused target's request with 502 at once, and the
    origin group answers that GET with the sorry page. No health check, no TTL in the way
    (an instance that does not answer at all costs the ALB's 10 s connect timeout instead)."""
    if s.lb_semantics == "ideal":
        return Estimate(0.0, s.interval * s.unhealthy_threshold, "the ideal twin: the LB serves the sorry page")
    return Estimate(0.0, 1.0, f"{CLOUDFRONT_FAILOVER}; {ALB_FAIL_OPEN}: the ALB answers 502 at once")


def cdn_post_during_outage(s: Settings) -> Estimate:
    """What a form (POST) gets through CloudFront while every instance is down: the ALB's
    own 5xx, never the sorry page (counted as 1 = a 5xx, 0 = anything else)."""
    if s.lb_semantics == "ideal":
        return Estimate(0.0, 0.0, "the ideal twin: the LB answers every method with the sorry page")
    return Estimate(1.0, 1.0, f"{CLOUDFRONT_FAILOVER}: a POST is not failed over, it gets the ALB's 502")


def back_after_boot(s: Settings) -> Estimate:
    """Instances booted → the app again: the ALB's healthy window, then (when it had failed
    over) Route 53's passes and the TTL once more."""
    alb_low, alb_high = s.interval * (s.healthy_threshold - 1), s.interval * s.healthy_threshold
    if s.lb_semantics == "ideal":
        return Estimate(0.0, alb_high, "the ideal twin: retries reach a booted instance before its checks pass")
    if not s.failover:
        return Estimate(alb_low, alb_high, f"{ALB_HEALTH}: interval × healthy threshold ({s.healthy_threshold})")
    return Estimate(
        alb_low + s.r53_interval * (s.r53_threshold - 1), alb_high + s.r53_interval * s.r53_threshold + s.ttl,
        f"{ALB_HEALTH} (healthy threshold {s.healthy_threshold}), then {ROUTE53_HEALTH} + {DNS_TTL}",
    )


def database_rto(s: Settings) -> Estimate:
    if s.name == "twin":
        return Estimate(0.0, s.db_rto_budget, "the twin's watchdog: promotes within drill.db_rto_seconds")
    if not s.db_multi_az:
        return Estimate(60.0, None, RDS_SINGLE_AZ)
    return Estimate(*RDS_INSTANCE_FAILOVER, f"{RDS_MULTI_AZ} (database.multi_az = true); with a {RDS_CLUSTER}")


def lost_writes(s: Settings) -> Estimate:
    return Estimate(0.0, 0.0, RDS_SYNC if s.name == "aws" else "synchronous standby (synchronous_commit = on)")


@dataclass
class ScoreRow:
    """One measure: the twin's number, its model, AWS's prediction, AWS's number."""

    measure: str
    unit: str
    twin_measured: float | None
    twin_model: Estimate
    aws_predicted: Estimate
    aws_measured: float | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("twin_model", "aws_predicted"):
            data[key]["text"] = getattr(self, key).text(self.unit)
        return data


def row(
    measure: str, unit: str, measured: float | None, *, on_aws: bool, twin: Estimate, aws: Estimate
) -> ScoreRow:
    """`measured` goes in the twin's column, or with `on_aws` in AWS's."""
    return ScoreRow(measure, unit, None if on_aws else measured, twin, aws, measured if on_aws else None)
