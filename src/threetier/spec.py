"""The system's one description: a parameters file validated into typed objects.

Both the AWS stacks and the local twin read a `Spec`; nothing else reads the file.

>>> spec = load_spec("default")
>>> spec.database.name
'uda_psql_db'
>>> [s.cidr for s in spec.network.subnets_of("public")]
['10.0.0.0/24', '10.0.3.0/24']

A broken file raises `SpecError` with one line per problem, each naming its key.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from threetier.errors import ThreetierError
from threetier.paths import parameters_dir, project_root

SubnetTier = Literal["public", "private", "isolated"]
DEFAULT_ENV = "default"
ENV_VARIABLE = "THREETIER_ENV"


class SpecError(ThreetierError):
    """A parameters file that does not describe a buildable system."""


class _Model(BaseModel):
    # extra="forbid" turns a typo in a key into an error that names it.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Project(_Model):
    name: str = Field("threetier", pattern=r"^[a-z][a-z0-9-]{1,30}$")
    region: str = Field("ap-northeast-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    account: str | None = Field(None, pattern=r"^\d{12}$")


class Subnet(_Model):
    name: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    tier: SubnetTier
    az: str
    cidr: ipaddress.IPv4Network


class Network(_Model):
    vpc_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.0.0.0/16")
    nat_gateways: int = Field(1, ge=0, le=6)
    flow_logs: bool = False
    subnets: list[Subnet]

    def subnets_of(self, tier: SubnetTier) -> list[Subnet]:
        return [s for s in self.subnets if s.tier == tier]

    def azs_of(self, tier: SubnetTier) -> list[str]:
        return sorted({s.az for s in self.subnets_of(tier)})

    @property
    def azs(self) -> list[str]:
        return sorted({s.az for s in self.subnets})


class Autoscaling(_Model):
    min_capacity: int = Field(2, ge=1, le=20)
    max_capacity: int = Field(4, ge=1, le=50)
    cpu_target_percent: int = Field(60, ge=10, le=95)


class Fargate(_Model):
    cpu: Literal[256, 512, 1024, 2048, 4096] = 256
    memory_mib: int = Field(512, ge=512, le=30720)
    min_tasks: int = Field(1, ge=1, le=20)
    max_tasks: int = Field(3, ge=1, le=50)
    cpu_target_percent: int = Field(50, ge=10, le=95)

    @model_validator(mode="after")
    def _fargate_size(self) -> Fargate:
        allowed = FARGATE_MEMORY_MIB[self.cpu]
        if self.memory_mib not in allowed:
            sizes = (
                ", ".join(map(str, allowed))
                if len(allowed) <= 4
                else f"{allowed[0]}..{allowed[-1]} in steps of 1024"
            )
            raise ValueError(
                f"memory_mib {self.memory_mib} is not a Fargate size for cpu {self.cpu}: use {sizes}"
            )
        return self


# The task sizes Fargate accepts: memory (MiB) per CPU unit count.
FARGATE_MEMORY_MIB: dict[int, list[int]] = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4096 + 1, 1024)),
    1024: list(range(2048, 8192 + 1, 1024)),
    2048: list(range(4096, 16384 + 1, 1024)),
    4096: list(range(8192, 30720 + 1, 1024)),
}


class Web(_Model):
    runtime: Literal["ec2", "fargate"] = "ec2"
    subnet_tier: Literal["public", "private"] = "private"
    instances: int = Field(2, ge=1, le=8, description="web servers; the twin runs this many")
    instance_type: str = "t3.micro"
    app_port: int = Field(8000, ge=1024, le=65535)
    autoscaling: Autoscaling = Autoscaling()
    fargate: Fargate = Fargate()


class HealthCheck(_Model):
    # Bounds are the ones an ALB target group accepts.
    path: str = Field("/healthz", pattern=r"^/[^\s]*$")
    interval_seconds: int = Field(10, ge=5, le=300)
    timeout_seconds: int = Field(5, ge=2, le=120)
    healthy_threshold: int = Field(2, ge=2, le=10)
    unhealthy_threshold: int = Field(2, ge=2, le=10)

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> HealthCheck:
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError(
                f"timeout_seconds ({self.timeout_seconds}) must be below interval_seconds "
                f"({self.interval_seconds}): an ALB rejects it"
            )
        return self


class LoadBalancer(_Model):
    allowed_cidrs: list[ipaddress.IPv4Network] = [ipaddress.IPv4Network("0.0.0.0/0")]
    health_check: HealthCheck = HealthCheck()
    deregistration_delay_seconds: int = Field(30, ge=0, le=3600)
    access_logs: bool = False


class Database(_Model):
    engine_version: Literal["14", "15", "16", "17"] = "16"
    name: str = Field("uda_psql_db", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    master_username: str = Field("uda_admin", pattern=r"^[a-z][a-z0-9_]{0,15}$")
    app_username: str = Field("uda_app", pattern=r"^[a-z][a-z0-9_]{0,15}$")
    multi_az: bool = False
    instance_class: str = "db.t4g.micro"
    allocated_storage_gb: int = Field(20, ge=20, le=65536)
    backup_retention_days: int = Field(7, ge=0, le=35)
    backup_window: str = Field("18:00-18:30", pattern=r"^\d\d:\d\d-\d\d:\d\d$")
    maintenance_window: str = Field(
        "sun:19:00-sun:19:30", pattern=r"^[a-z]{3}:\d\d:\d\d-[a-z]{3}:\d\d:\d\d$"
    )
    deletion_protection: bool = False

    @model_validator(mode="after")
    def _app_user_differs(self) -> Database:
        if self.app_username == self.master_username:
            raise ValueError("app_username must differ from master_username: the app never runs as the owner")
        return self


class Dns(_Model):
    domain: str | None = Field(None, pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}$")
    zone_name: str | None = Field(None, pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}$")
    hosted_zone_id: str | None = Field(None, pattern=r"^Z[A-Z0-9]{4,32}$")
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws:acm:")
    failover: bool = True
    # CloudFront in front of the ALB (takes effect with a domain): an origin group, primary the ALB and
    # secondary the sorry site, fails GET/HEAD/OPTIONS over per request on 500/502/503/504
    # or no answer; the ALB then takes connections from CloudFront only (docs/aws.md).
    cloudfront: bool = False
    # Why a production environment may run without a domain (plain HTTP); `check` and
    # `deploy` refuse prod without a domain unless this says why (threetier.checks.preflight).
    plain_http_reason: str | None = Field(None, min_length=20)

    @model_validator(mode="after")
    def _zone_holds_domain(self) -> Dns:
        if self.domain and self.zone_name and not (
            self.domain == self.zone_name or self.domain.endswith("." + self.zone_name)
        ):
            raise ValueError(f"domain {self.domain!r} is not inside zone_name {self.zone_name!r}")
        if (self.zone_name or self.hosted_zone_id) and not self.domain:
            raise ValueError("zone_name/hosted_zone_id are set but domain is not")
        return self

    @property
    def zone(self) -> str | None:
        """The hosted zone's name: given, or the domain's parent (www.example.com → example.com)."""
        if self.zone_name:
            return self.zone_name
        if self.domain:
            parts = self.domain.split(".")
            return ".".join(parts[1:]) if len(parts) > 2 else self.domain
        return None


class Storage(_Model):
    media_backend: Literal["filesystem", "s3"] = "filesystem"
    efs: bool = True
    # Keeps overwritten and deleted uploads in the media bucket (storage costs grow with it).
    media_versioning: bool = False


class Monitoring(_Model):
    alarm_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    cpu_alarm_percent: int = Field(60, ge=1, le=100)
    cpu_alarm_minutes: int = Field(1, ge=1, le=60)
    billing_alarm_usd: int = Field(10, ge=1)
    log_retention_days: int = 30
    # The health alarms (load balancer 5xx, unhealthy targets, database): how much, how long.
    http_5xx_alarm_count: int = Field(5, ge=1, description="5xx responses in one minute")
    health_alarm_minutes: int = Field(3, ge=1, le=60)
    db_cpu_alarm_percent: int = Field(80, ge=1, le=100)
    db_free_storage_alarm_gb: int = Field(2, ge=1)


class Environment(_Model):
    retain_data: bool = False


class TwinHealthCheck(_Model):
    """Twin-only overrides so rehearsals and tests need not wait ALB-sized intervals."""

    interval_seconds: float | None = Field(None, ge=0.2, le=300)
    timeout_seconds: float | None = Field(None, ge=0.1, le=120)
    healthy_threshold: int | None = Field(None, ge=1, le=10)
    unhealthy_threshold: int | None = Field(None, ge=1, le=10)


class TwinFailoverCheck(_Model):
    """Twin-only overrides of the Route 53 failover stage (its health check and the
    record's TTL), so rehearsals need not wait Route 53-sized windows."""

    request_interval_seconds: float | None = Field(None, ge=0.2, le=30)
    failure_threshold: int | None = Field(None, ge=1, le=10)
    ttl_seconds: float | None = Field(None, ge=0, le=3600)


# The TTL of an alias record to an ALB (and to CloudFront): resolvers cache the answer this long.
ALIAS_TTL_SECONDS = 60


class Local(_Model):
    state_dir: str | None = None
    http_port: int = Field(8080, ge=1024, le=65535)
    https_port: int = Field(8443, ge=1024, le=65535)
    lb_port: int = Field(8444, ge=1024, le=65535)
    first_app_port: int = Field(8101, ge=1024, le=65000)
    db_port: int = Field(54320, ge=1024, le=65000)
    postgres: Literal["embedded", "system"] = "embedded"
    postgres_bin_dir: str | None = None
    lb_semantics: Literal["alb", "ideal"] = "alb"
    lb_try_duration_seconds: float = Field(5, ge=0, le=60)
    health_check: TwinHealthCheck = TwinHealthCheck()
    failover_check: TwinFailoverCheck = TwinFailoverCheck()
    # The CloudFront stage (origin failover per request) beside the failover stage, so a
    # drill measures both designs at once; None: not run.
    cdn_port: int | None = Field(None, ge=1024, le=65535)
    # Twin-only override of load_balancer.deregistration_delay_seconds (a drained instance
    # takes traffic again after it).
    deregistration_delay_seconds: float | None = Field(None, ge=0, le=3600)


class DrillExpectations(_Model):
    web_max_failed_requests: int = Field(0, ge=0)
    db_max_lost_writes: int = Field(0, ge=0)
    db_rto_seconds: float = Field(10, gt=0)
    slack_seconds: float = Field(1, ge=0)


class App(_Model):
    """The app the web tier runs: the bundled registry (no `source`), or the user's own
    Django project or WSGI app (docs/apps.md). Relative paths are relative to the
    directory that holds `parameters/`."""

    source: str | None = Field(None, min_length=1, description="the app's directory; unset: the bundled registry")
    wsgi: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="module:callable")
    settings: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*$", description="Django settings module")
    requirements: str | None = Field(None, min_length=1, description="requirements file or pyproject.toml")
    python: Literal["3.11", "3.12", "3.13"] = "3.11"
    # None: Django's migrate (under threetier's migration lock) for a Django app; "": none.
    migrate: str | None = None
    collectstatic: bool = True
    # The app's own health endpoint, which the load balancer then probes (it must equal
    # load_balancer.health_check.path); None: threetier's middleware answers /healthz and /readyz.
    health_path: str | None = Field(None, pattern=r"^/[^\s]*$")

    @model_validator(mode="after")
    def _source_keys(self) -> App:
        if self.source is None:
            given = [k for k in ("wsgi", "settings", "requirements", "migrate", "health_path")
                     if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} set without source: they describe your own app; "
                                 "set app.source to its directory (or remove them for the bundled registry)")
        elif not (self.wsgi or self.settings):
            raise ValueError("source is set but neither wsgi nor settings: name the WSGI callable "
                             "(app.wsgi = \"mysite.wsgi:application\") or the Django settings module")
        return self

    @property
    def bundled(self) -> bool:
        return self.source is None

    @property
    def django(self) -> bool:
        return self.source is None or self.settings is not None

    def wsgi_callable(self) -> str | None:
        """module:callable; a Django project's default is <settings package>.wsgi:application."""
        if self.wsgi or self.source is None:
            return self.wsgi
        return f"{(self.settings or '').rpartition('.')[0] or self.settings}.wsgi:application"


class Spec(_Model):
    """The whole system, as one parameters file describes it."""

    project: Project = Project()
    network: Network
    web: Web = Web()
    load_balancer: LoadBalancer = LoadBalancer()
    database: Database = Database()
    dns: Dns = Dns()
    storage: Storage = Storage()
    monitoring: Monitoring = Monitoring()
    environment: Environment = Environment()
    local: Local = Local()
    drill: DrillExpectations = DrillExpectations()
    app: App = App()

    env_name: str = Field(DEFAULT_ENV, exclude=True)
    # The directory that holds parameters/ (app.source is relative to it); None: the project root.
    base_dir: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _topology(self) -> Spec:
        problems = topology_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def web_azs(self) -> list[str]:
        return self.network.azs_of(self.web.subnet_tier)

    def instance_azs(self) -> list[str]:
        """The AZ of each web instance: spread round robin, like an Auto Scaling group."""
        azs = self.web_azs
        return [azs[i % len(azs)] for i in range(self.web.instances)]

    def app_source(self) -> Path | None:
        """The user's app directory, absolute; None for the bundled registry."""
        if self.app.source is None:
            return None
        source = Path(self.app.source).expanduser()
        return source if source.is_absolute() else (Path(self.base_dir) if self.base_dir else project_root()) / source

    def twin_health_check(self) -> dict[str, float]:
        """The health check the twin's load balancer uses: the ALB's, with twin overrides."""
        hc, over = self.load_balancer.health_check, self.local.health_check
        return {
            "path": hc.path,
            "interval_seconds": over.interval_seconds or hc.interval_seconds,
            "timeout_seconds": over.timeout_seconds or hc.timeout_seconds,
            "healthy_threshold": over.healthy_threshold or hc.healthy_threshold,
            "unhealthy_threshold": over.unhealthy_threshold or hc.unhealthy_threshold,
        }

    def twin_deregistration_delay(self) -> float:
        over = self.local.deregistration_delay_seconds
        return float(self.load_balancer.deregistration_delay_seconds if over is None else over)

    def route53_health_check(self) -> dict:
        """The stack's AWS::Route53::HealthCheck on the ALB, as aws/constructs/dns.py builds it:
        the LB's health path, a request interval of 10 s (fast) when the target group checks
        every 10 s or faster, else 30 s, and the target group's unhealthy threshold."""
        hc = self.load_balancer.health_check
        return {
            "path": hc.path,
            "request_interval_seconds": 10 if hc.interval_seconds <= 10 else 30,
            "failure_threshold": hc.unhealthy_threshold,
        }

    def twin_failover_check(self) -> dict:
        """The twin's Route 53 stage: the stack's health check and the alias TTL, with twin
        overrides. `enabled`: it fails over to the sorry site (dns.failover; never with
        lb_semantics "ideal", where the LB serves the sorry page itself, as the twin first did)."""
        r53, over = self.route53_health_check(), self.local.failover_check
        return {
            **r53,
            "request_interval_seconds": over.request_interval_seconds or r53["request_interval_seconds"],
            "failure_threshold": over.failure_threshold or r53["failure_threshold"],
            "ttl_seconds": ALIAS_TTL_SECONDS if over.ttl_seconds is None else over.ttl_seconds,
            "enabled": self.dns.failover and self.local.lb_semantics == "alb",
        }


def topology_problems(spec: Spec) -> list[str]:
    """Rules that span sections: the traps the seeds fell into, caught before anything runs."""
    net = spec.network
    problems: list[str] = []
    for i, subnet in enumerate(net.subnets):
        if not subnet.cidr.subnet_of(net.vpc_cidr):
            problems.append(
                f"network.subnets[{i}].cidr: {subnet.cidr} ({subnet.name}) is not inside "
                f"the VPC {net.vpc_cidr}"
            )
        if not subnet.az.startswith(spec.project.region):
            problems.append(
                f"network.subnets[{i}].az: {subnet.az} is not in region {spec.project.region}"
            )
        for j in range(i):
            other = net.subnets[j]
            if subnet.cidr.overlaps(other.cidr):
                problems.append(
                    f"network.subnets[{i}].cidr: {subnet.cidr} ({subnet.name}) overlaps "
                    f"{other.cidr} ({other.name})"
                )
            if subnet.name == other.name:
                problems.append(f"network.subnets[{i}].name: {subnet.name!r} is used twice")
    lb_azs = set(net.azs_of("public"))
    if len(lb_azs) < 2:
        problems.append(
            "network.subnets: the load balancer needs public subnets in at least 2 AZs, "
            f"found {sorted(lb_azs) or 'none'}"
        )
    db_azs = net.azs_of("isolated") or net.azs_of("private")
    if len(db_azs) < 2:
        problems.append(
            "network.subnets: the DB subnet group needs isolated (or private) subnets in at "
            f"least 2 AZs, found {db_azs or 'none'}"
        )
    web_azs = net.azs_of(spec.web.subnet_tier)
    if not web_azs:
        problems.append(f"web.subnet_tier: there is no {spec.web.subnet_tier} subnet")
    for az in web_azs:
        if az not in lb_azs:
            problems.append(
                f"network.subnets: web servers in {az} ({spec.web.subnet_tier}) would never get "
                f"traffic: the load balancer only spans {sorted(lb_azs)}; add a public subnet "
                f"in {az} or move the web subnet"
            )
    if spec.web.subnet_tier == "private" and net.nat_gateways == 0:
        problems.append(
            "network.nat_gateways: web servers in private subnets need at least 1 NAT gateway "
            "to install packages (or set web.subnet_tier = \"public\")"
        )
    if net.nat_gateways > len(lb_azs):
        problems.append(
            f"network.nat_gateways: {net.nat_gateways} is more than the public subnets' AZs "
            f"({len(lb_azs)})"
        )
    if spec.web.instances < len(web_azs):
        problems.append(
            f"web.instances: {spec.web.instances} cannot cover the {len(web_azs)} web AZs; "
            "use at least one per AZ"
        )
    scaling = spec.web.autoscaling
    if scaling.min_capacity > scaling.max_capacity:
        problems.append("web.autoscaling: min_capacity is above max_capacity")
    if spec.web.fargate.min_tasks > spec.web.fargate.max_tasks:
        problems.append("web.fargate: min_tasks is above max_tasks")
    app_health = spec.app.health_path
    if app_health and app_health != spec.load_balancer.health_check.path:
        problems.append(
            f"app.health_path: {app_health} is the app's own health endpoint, but the load balancer probes "
            f"{spec.load_balancer.health_check.path}; set load_balancer.health_check.path = \"{app_health}\" too"
        )
    local = spec.local
    ports = {
        "local.http_port": local.http_port,
        "local.https_port": local.https_port,
        "local.lb_port": local.lb_port,
        "local.db_port": local.db_port,
        "local.db_port + 1 (standby)": local.db_port + 1,
        **({"local.cdn_port": local.cdn_port} if local.cdn_port else {}),
    }
    app_ports = range(local.first_app_port, local.first_app_port + spec.web.instances)
    for key, port in ports.items():
        if port in app_ports:
            problems.append(
                f"{key}: {port} collides with the app instances' ports {app_ports.start}-{app_ports.stop - 1}"
            )
    if len(set(ports.values())) < len(ports):
        problems.append("local: http_port, https_port, lb_port, db_port (and db_port + 1) and cdn_port must all differ")
    return problems


def spec_file(env: str, directory: Path | None = None) -> Path:
    directory = directory or parameters_dir()
    path = directory / f"{env}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.toml")) if directory.is_dir() else []
        raise SpecError(
            f"no parameters file for environment {env!r}: {path} does not exist",
            fix=f"create it, or choose one of: {', '.join(known) or '(none found)'}",
        )
    return path


def selected_env(explicit: str | None = None) -> str:
    return explicit or os.environ.get(ENV_VARIABLE) or DEFAULT_ENV


def load_spec(env: str | None = None, *, path: Path | None = None) -> Spec:
    """Load and validate `parameters/<env>.toml` (or `path`)."""
    env = selected_env(env)
    path = path or spec_file(env)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}", fix="correct the syntax at that line") from None
    return parse_spec(data, env_name=env, source=str(path), base_dir=path.resolve().parent.parent)


def parse_spec(
    data: dict, *, env_name: str = DEFAULT_ENV, source: str = "parameters", base_dir: Path | None = None
) -> Spec:
    try:
        return Spec.model_validate({**data, "env_name": env_name, "base_dir": str(base_dir) if base_dir else None})
    except ValidationError as exc:
        details = _describe(exc)
        raise SpecError(
            f"{source}: {len(details)} problem(s)",
            details=details,
            fix="correct the keys named above; see parameters/default.toml for every key",
        ) from None


def _describe(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        key = _key(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (a typo?)"
        elif key.startswith("load_balancer.health_check."):
            message += " (the range an ALB target group accepts)"
        if not key:
            lines.extend(message.split("\n"))
        else:
            lines.append(f"{key}: {message}")
    return lines


def _key(loc: tuple) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if key else "") + str(part)
    return key
