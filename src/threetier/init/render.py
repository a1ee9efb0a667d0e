"""From answers to a plan of the system, and from the plan to the text of its parameters
file: the shipped files' sections and order, every key written with a comment on why it
has its value, then validated by the spec (and the preflight's parameter rules) as
`threetier params` and `check` would.

>>> plan = build_plan(InitAnswers(name="shop", region="eu-west-1", alarm_email="ops@example.com"))
>>> spec, warnings = validate_parameters(render_parameters(plan), plan.name)
"""

from __future__ import annotations

import json
import tomllib
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path

from pydantic import BaseModel

from threetier import spec as model
from threetier.checks.findings import Finding
from threetier.checks.preflight import spec_problems
from threetier.errors import ThreetierError
from threetier.init import inputs
from threetier.init.detect import detect_app, module_file
from threetier.init.layout import TIER_ROLES, PlannedSubnet, free_space, lay_out_subnets
from threetier.init.regions import choose_azs, zones_of
from threetier.spec import SpecError

DEFAULT_VPC_CIDR = "10.0.0.0/16"
# The twin's ports move in steps of 100 per environment (fargate.toml: +100, prod.toml: +1000),
# so twins of several environments run side by side; init takes the first free step.
PORT_STEP = 100
MAX_PORT_STEPS = 90
# The billing alarm must sit above the system's own monthly bill (`check` refuses it below):
# the default system's estimate is about 125 USD; these are generous margins per extra part.
BILLING_BASE_USD = 150
BILLING_PER_EXTRA_INSTANCE_USD = 20
BILLING_PER_EXTRA_NAT_USD = 50
BILLING_MULTI_AZ_DB_USD = 30


@dataclass(frozen=True)
class InitAnswers:
    """What the user chose (flags or prompts); None/empty takes init's default."""

    name: str
    region: str = "ap-northeast-1"
    azs: Sequence[str] = ()
    vpc_cidr: str = DEFAULT_VPC_CIDR
    instances: int | None = None
    runtime: str = "ec2"
    nat_gateways: int = 1
    multi_az: bool = False
    domain: str | None = None
    hosted_zone_id: str | None = None
    alarm_email: str | None = None
    project: str | None = None
    app_source: Path | None = None
    wsgi: str | None = None
    settings: str | None = None
    requirements: str | None = None


@dataclass(frozen=True)
class AppPlan:
    """The [app] section: the detected values, with what the user overrode."""

    source: str
    kind: str
    wsgi: str
    settings: str | None
    requirements: str | None
    python: str | None
    collectstatic: bool
    found: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LocalPorts:
    http_port: int
    https_port: int
    lb_port: int
    first_app_port: int
    db_port: int


@dataclass(frozen=True)
class InitPlan:
    name: str
    project: str
    region: str
    azs: list[str]
    region_azs: list[str]
    vpc: IPv4Network
    subnets: list[PlannedSubnet]
    instances: int
    runtime: str
    nat_gateways: int
    multi_az: bool
    domain: str | None
    hosted_zone_id: str | None
    alarm_email: str | None
    app: AppPlan | None
    ports: LocalPorts
    billing_alarm_usd: int


def build_plan(answers: InitAnswers, *, existing_ports: Iterable[int] = (), root: Path | None = None) -> InitPlan:
    """Check every answer (BadInputError names the first bad one) and lay the system out.
    `existing_ports`: the twin ports other environments use; `root`: the project root the
    app's source is written relative to (when inside it)."""
    name = inputs.env_name(answers.name)
    region = answers.region.strip().lower()
    region_azs = zones_of(region)
    azs = choose_azs(region, answers.azs)
    vpc = inputs.vpc_cidr(answers.vpc_cidr)
    subnets = lay_out_subnets(vpc, azs, region)
    instances = inputs.instances(answers.instances if answers.instances is not None else len(azs), azs=len(azs))
    runtime = inputs.runtime(answers.runtime)
    nat_gateways = answers.nat_gateways
    if not 1 <= nat_gateways <= len(azs):
        raise inputs.BadInputError(
            f"--nat-gateways: {nat_gateways}; the web servers sit in private subnets and need 1 to "
            f"{len(azs)} (one per AZ at most)",
            fix=f"give 1 (cheap) or {len(azs)} (an AZ's outage does not cut the others off)",
        )
    domain = inputs.domain(answers.domain)
    zone = inputs.hosted_zone_id(answers.hosted_zone_id, domain_name=domain)
    email = inputs.alarm_email(answers.alarm_email)
    app = plan_app(answers.app_source, answers, root=root) if answers.app_source else None
    default_project = app_project_name(app) if app else None
    project = inputs.project_name(answers.project or default_project or name)
    billing = (
        BILLING_BASE_USD
        + BILLING_PER_EXTRA_INSTANCE_USD * max(instances - 2, 0)
        + BILLING_PER_EXTRA_NAT_USD * (nat_gateways - 1)
        + (BILLING_MULTI_AZ_DB_USD if answers.multi_az else 0)
    )
    return InitPlan(
        name=name,
        project=project,
        region=region,
        azs=azs,
        region_azs=region_azs,
        vpc=vpc,
        subnets=subnets,
        instances=instances,
        runtime=runtime,
        nat_gateways=nat_gateways,
        multi_az=answers.multi_az,
        domain=domain,
        hosted_zone_id=zone,
        alarm_email=email,
        app=app,
        ports=free_ports(set(existing_ports), instances),
        billing_alarm_usd=billing,
    )


def plan_app(source: Path, answers: InitAnswers, *, root: Path | None) -> AppPlan:
    """The app in `source`, as detected, with --wsgi/--settings/--requirements taking precedence."""
    detected = detect_app(source)
    found = dict(detected.found)
    wsgi = answers.wsgi or detected.wsgi
    settings = answers.settings or detected.settings
    requirements = answers.requirements or detected.requirements
    for key, given in (("wsgi", answers.wsgi), ("settings", answers.settings), ("requirements", answers.requirements)):
        if given:
            found[key] = "given on the command line"
    if not wsgi:
        raise inputs.BadInputError(
            f"--app-source: no WSGI application found in {detected.source} ({found['wsgi']})",
            fix="give it as --wsgi module:callable (e.g. --wsgi mysite.wsgi:application)",
        )
    wsgi = inputs.wsgi_callable(wsgi)
    settings = inputs.settings_module(settings) if settings else None
    if detected.is_django and not settings:
        raise inputs.BadInputError(
            f"--app-source: {detected.source} is a Django project, but its settings module was not found "
            f"({found['settings']})",
            fix="give it as --settings (e.g. --settings mysite.settings)",
        )
    if requirements and not (detected.source / requirements).is_file():
        raise inputs.BadInputError(
            f"--requirements: {detected.source / requirements} does not exist",
            fix="give a path relative to the app's source (requirements.txt or pyproject.toml)",
        )
    python = supported_python(detected.python, found)
    warnings = [
        f"app.{key}: {module} has no file under {detected.source} (an installed package? else a typo)"
        for key, module in (("wsgi", wsgi.split(":")[0]), ("settings", settings))
        if module and module_file(detected.source, module) is None
    ]
    return AppPlan(
        source=source_path(detected.source, root),
        kind=detected.kind,
        wsgi=wsgi,
        settings=settings,
        requirements=requirements,
        python=python,
        collectstatic=detected.collectstatic,
        found=found,
        warnings=warnings,
    )


def python_versions() -> tuple[str, ...]:
    """The Python versions the spec's app.python accepts ("3.11", ...), oldest first."""
    versions = typing.get_args(model.App.model_fields["python"].annotation)
    return tuple(sorted(versions, key=version_key))


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def supported_python(version: str | None, found: dict[str, str]) -> str | None:
    """`version` when app.python accepts it, else the nearest it does (said in `found`);
    None when the app names none (the spec's default then applies)."""
    versions = python_versions()
    if version is None or not versions or version in versions:
        return version
    nearest = versions[0] if version_key(version) < version_key(versions[0]) else versions[-1]
    found["python"] = (
        f"{found.get('python', version)}; {version} is not offered ({', '.join(versions)}), so {nearest}: "
        "check that the app runs on it"
    )
    return nearest


def source_path(source: Path, root: Path | None) -> str:
    """The app's source as the file holds it: relative to the project root when inside it."""
    if root is not None:
        try:
            return source.relative_to(root.resolve()).as_posix() or "."
        except ValueError:
            pass
    return source.as_posix()


def app_project_name(app: AppPlan) -> str | None:
    """The app directory's name as a project name (my_site → my-site), when it makes one."""
    candidate = Path(app.source).name.lower().replace("_", "-").replace(".", "-")
    return None if inputs.field_error(model.Project, "name", candidate) else candidate


def used_ports(directory: Path) -> set[int]:
    """Every twin port the parameters files in `directory` use (their [local] keys, or the
    defaults); a file that does not parse is skipped (its own commands report it)."""
    used: set[int] = set()
    defaults = model.Local()
    for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        local = data.get("local", {}) if isinstance(data.get("local"), dict) else {}
        web = data.get("web", {}) if isinstance(data.get("web"), dict) else {}

        def port(key: str, local: dict = local) -> int:
            value = local.get(key, getattr(defaults, key))
            return value if isinstance(value, int) else getattr(defaults, key)

        count = web.get("instances", 2) if isinstance(web.get("instances", 2), int) else 2
        used |= {port("http_port"), port("https_port"), port("lb_port"), port("db_port"), port("db_port") + 1}
        used |= set(range(port("first_app_port"), port("first_app_port") + max(count, 8)))
    return used


def free_ports(used: set[int], instances: int) -> LocalPorts:
    """The first step of PORT_STEP from the default ports that no other environment uses."""
    base = model.Local()
    for step in range(MAX_PORT_STEPS):
        offset = step * PORT_STEP
        ports = LocalPorts(
            base.http_port + offset,
            base.https_port + offset,
            base.lb_port + offset,
            base.first_app_port + offset,
            base.db_port + offset,
        )
        wanted = {ports.http_port, ports.https_port, ports.lb_port, ports.db_port, ports.db_port + 1}
        wanted |= set(range(ports.first_app_port, ports.first_app_port + instances))
        if not wanted & used:
            return ports
    raise ThreetierError(
        "no free block of twin ports near the defaults: every step is used by another parameters file",
        fix="set local.http_port, https_port, lb_port, first_app_port and db_port in the written file",
    )


# --- the text -------------------------------------------------------------------------------


def toml_value(value: object) -> str:
    """A TOML value: booleans, numbers, strings (JSON's escapes are TOML's), lists; others
    (an IPv4Network) as their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _kv(key: str, value: object, comment: str = "", width: int = 33) -> str:
    line = f"{key} = {toml_value(value)}"
    return f"{line.ljust(width - 1)} # {comment}" if comment else line


def table(header: str, section: type[BaseModel], chosen: dict, comments: dict[str, str] | None = None) -> list[str]:
    """A section's keys in the spec's order: `chosen` values, else the spec's defaults (one
    source of truth for what init does not choose). Unset keys and sub-tables are left out."""
    defaults = section.model_validate(chosen)
    lines = [header]
    for key, info in section.model_fields.items():
        value = getattr(defaults, key)
        if value is None or info.exclude or _holds_tables(info.annotation):
            continue
        lines.append(_kv(key, value, (comments or {}).get(key, "")))
    return [*lines, ""]


def _holds_tables(annotation: object) -> bool:
    """A sub-table ([web.autoscaling]) or an array of tables ([[network.subnets]])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_tables(arg) for arg in typing.get_args(annotation))


def render_parameters(plan: InitPlan) -> str:
    """The parameters file's text, in the shipped files' structure, with comments."""
    n, azs = plan.instances, ", ".join(plan.azs)
    others = [az for az in plan.region_azs if az not in plan.azs]
    fargate = plan.runtime == "fargate"
    lines: list[str] = [
        f"# {plan.name}: written by `threetier init` for {plan.project} in {plan.region} ({azs}).",
        "# One file drives both the AWS stacks (`threetier synth/deploy`) and the local twin",
        "# (`threetier up`); every key is the shipped files' (parameters/default.toml explains each).",
        f"# The AZ names are the usual ones for {plan.region}; an account may see others: compare with",
        f'#   aws ec2 describe-availability-zones --region {plan.region} --query "AvailabilityZones[].ZoneName"',
        "# and change network.subnets[].az if they differ (docs/init.md).",
        "",
        *table("[project]", model.Project, {"name": plan.project, "region": plan.region},
               {"name": "the stacks are named PROJECT-ENV"}),
        *table("[network]", model.Network, {"vpc_cidr": plan.vpc, "nat_gateways": plan.nat_gateways, "subnets": []},
               {"nat_gateways": "one per AZ: an AZ's outage does not cut the others off"
                if plan.nat_gateways == len(plan.azs)
                else "one NAT is the cheap choice; one per AZ survives an AZ's outage"})[:-1],
        "",
        f"# Three tiers in each of {len(plan.azs)} AZs"
        + (f" ({', '.join(others)} left out)" if others else "")
        + ", laid out in order from the start of the VPC:",
        *(f"# {tier}: {role}" for tier, role in TIER_ROLES.items()),
    ]
    spare = free_space(plan.vpc, plan.subnets)
    if spare is not None:
        lines.append(f"# From {spare.network_address} on, the VPC is free for more subnets.")
    for subnet in plan.subnets:
        lines += [
            "[[network.subnets]]",
            _kv("name", subnet.name),
            _kv("tier", subnet.tier),
            _kv("az", subnet.az),
            _kv("cidr", subnet.cidr),
            "",
        ]
    lines += [
        *table("[web]", model.Web, {"runtime": plan.runtime, "instances": n}, {
            "runtime": "ECS Fargate tasks behind the ALB (target type IP)" if fargate else 'or "fargate"',
            "instances": "at least one per AZ; the twin runs this many gunicorn instances",
        }),
        *table("[web.autoscaling]                # EC2: the Auto Scaling group's bounds", model.Autoscaling,
               {"min_capacity": n, "max_capacity": 2 * n},
               {"min_capacity": "the instances above", "max_capacity": "room to double under load"}),
        *table('[web.fargate]                    # used when runtime = "fargate"', model.Fargate,
               {"min_tasks": n, "max_tasks": 2 * n},
               {"min_tasks": "the instances above", "max_tasks": "room to double under load"}),
        *table("[load_balancer]", model.LoadBalancer, {}),
        *table("[load_balancer.health_check]", model.HealthCheck, {},
               {"path": "never a path that redirects or needs login"}),
    ]
    db = plan.project.replace("-", "_")
    user = db[:10]
    lines += table("[database]", model.Database, {
        "name": db, "master_username": f"{user}_admin", "app_username": f"{user}_app", "multi_az": plan.multi_az,
    }, {
        "name": "the project's name",
        "master_username": "owner; its password is generated, never written here",
        "app_username": "what the app connects as: not a superuser",
        "multi_az": "a standby in the other AZ, failover in 60-120 s" if plan.multi_az
        else "true adds a standby in another AZ (and doubles its bill)",
        "backup_window": "UTC",
        "maintenance_window": "UTC",
    })
    lines.append("[dns]")
    if plan.domain:
        lines += [
            _kv("domain", plan.domain, "HTTPS (ACM) and DNS failover to the sorry page"),
            _kv("hosted_zone_id", plan.hosted_zone_id or "", "its Route 53 zone, delegated (docs/aws.md)"),
        ]
    else:
        lines += [
            '# domain = "www.example.com"     # set to get HTTPS (ACM) and DNS failover to the sorry page',
            '# hosted_zone_id = "Z0123456789ABCDEFGHIJ"   # required with a domain: a Route 53 zone you',
            "#                                # created and delegated at your registrar (docs/aws.md)",
        ]
    lines += table("", model.Dns, {})[1:]
    lines += table("[storage]", model.Storage, {"media_backend": "s3" if fargate else "filesystem"}, {
        "media_backend": "uploads in the media bucket (django-storages)" if fargate
        else '"s3" stores uploads in the media bucket',
    })
    monitoring = table("[monitoring]", model.Monitoring, {
        "alarm_email": plan.alarm_email, "billing_alarm_usd": plan.billing_alarm_usd,
    }, {
        "alarm_email": "AWS mails it a link to confirm first",
        "billing_alarm_usd": "above the monthly estimate `threetier check` prints",
    })
    if not plan.alarm_email:
        monitoring.insert(1, '# alarm_email = "ops@example.com"  # without it alarms reach no one; AWS mails a link')
    lines += monitoring
    lines += table(
        "[environment]", model.Environment, {}, {"retain_data": "destroy removes everything, buckets included"}
    )
    ports = plan.ports
    local = table("[local]                          # the twin on this machine; loopback only", model.Local, {
        "http_port": ports.http_port, "https_port": ports.https_port, "lb_port": ports.lb_port,
        "first_app_port": ports.first_app_port, "db_port": ports.db_port,
    }, {"lb_semantics": 'the deployed ALB\'s behaviour; "ideal" to compare (see default.toml)'})
    local.insert(1, "# The first block of ports no other parameters file here uses, so twins run side by side.")
    lines += local
    lines += render_app(plan.app)
    lines += table("[drill]", model.DrillExpectations, {})[:-1]
    return "\n".join(lines) + "\n"


def render_app(app: AppPlan | None) -> list[str]:
    """The [app] section (threetier.spec.App): the detected values, each with where it was found."""
    if app is None:
        return [
            "# [app]: none given, so the bundled registry app runs (`threetier init --app-source DIR`",
            "# fills it in from your project).",
            "",
        ]
    django = app.kind == "django"
    body = ["[app]", _kv("source", app.source, "a Django project" if django else "a WSGI app")]
    for key in ("wsgi", "settings", "requirements", "python"):
        value = getattr(app, key)
        if value:
            body.append(_kv(key, value, app.found.get(key, "")))
    if not django:
        body.append(_kv("migrate", "", "not Django: no migrations to run"))
    body.append(_kv("collectstatic", app.collectstatic, app.found.get("collectstatic", "not Django")))
    return [*body, ""]


# --- validation -------------------------------------------------------------------------------


def validate_parameters(text: str, name: str, *, base_dir: Path | None = None) -> tuple[model.Spec, list[Finding]]:
    """The spec of `text` (SpecError as for any file) and the preflight's parameter rules:
    an error among them raises (the file would fail `check`), warnings are returned.
    `base_dir`: the directory that will hold parameters/ (app.source is relative to it)."""
    source = f"parameters/{name}.toml as init would write it"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # a bug in render_parameters, not the user's
        raise ThreetierError(f"{source}: not valid TOML ({exc}); nothing was written") from None
    try:
        spec = model.parse_spec(data, env_name=name, source=source, base_dir=base_dir)
    except SpecError as exc:
        raise SpecError(
            f"{exc.message}; nothing was written",
            details=exc.details,
            fix="change the answers named above",
        ) from None
    findings = spec_problems(spec)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise ThreetierError(
            f"{source}: {len(errors)} problem(s) `check` and `deploy` would refuse; nothing was written",
            details=[f"{f.where}: {f.message}" for f in errors],
            fix="give --domain and --hosted-zone-id, or choose another NAME",
        )
    return spec, [f for f in findings if f.severity != "error"]
