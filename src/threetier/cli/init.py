"""`threetier init`: write parameters/NAME.toml for your own system, from flags or prompts.

The logic (checks, layout, detection, the file's text, the atomic write) is in
threetier.init; this module asks, and prints what was written and what to run next.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.markup import escape

from threetier.cli.context import Output, app_context
from threetier.errors import ThreetierError

if TYPE_CHECKING:  # threetier.init is imported when init runs, so `--help` stays quick
    from threetier.init.render import InitAnswers

T = TypeVar("T")
# A prompt asks again after a bad answer, this many times in all.
PROMPT_ATTEMPTS = 3


def init(
    ctx: typer.Context,
    name: str = typer.Argument(None, metavar="NAME", help="The environment: writes parameters/NAME.toml."),
    region: str = typer.Option(None, "--region", "-r", help="AWS region (default ap-northeast-1)."),
    azs: str = typer.Option(
        None, "--azs", help="AZs, comma-separated: names or letters (a,c); default the region's first two."
    ),
    vpc_cidr: str = typer.Option(None, "--vpc-cidr", help="The VPC's CIDR block (default 10.0.0.0/16)."),
    instances: int = typer.Option(None, "--instances", "-n", help="Web instances (default one per AZ)."),
    runtime: str = typer.Option(None, "--runtime", help="ec2 (default) or fargate."),
    nat_gateways: int = typer.Option(1, "--nat-gateways", help="NAT gateways: 1 (cheap) up to one per AZ."),
    multi_az: bool = typer.Option(False, "--multi-az", help="A standby database in another AZ."),
    domain: str = typer.Option(None, "--domain", help="The site's name (HTTPS, DNS failover): www.example.com."),
    hosted_zone_id: str = typer.Option(None, "--hosted-zone-id", help="The Route 53 hosted zone of --domain."),
    alarm_email: str = typer.Option(None, "--alarm-email", help="Where the alarms are mailed."),
    app_source: Path = typer.Option(
        None, "--app-source", help="Your app's directory (a Django project: the one with manage.py)."
    ),
    wsgi: str = typer.Option(None, "--wsgi", help="The WSGI callable, module:name (default: detected)."),
    settings: str = typer.Option(None, "--settings", help="The Django settings module (default: detected)."),
    requirements: str = typer.Option(
        None, "--requirements", help="Requirements file or pyproject.toml, relative to the app (default: detected)."
    ),
    project: str = typer.Option(None, "--project", help="Project name (stacks: PROJECT-NAME); default the app's."),
    force: bool = typer.Option(False, "--force", help="Replace parameters/NAME.toml if it exists."),
    interactive: bool = typer.Option(
        None, "--interactive/--no-interactive",
        help="Ask for every value not given as a flag (default: when stdin is a terminal).",
    ),
) -> None:
    """Write parameters/NAME.toml for your own system: region and AZs, subnets, instances,
    domain, alarm e-mail, your app and the runtime; validated before it is written."""
    from threetier.init import inputs
    from threetier.init.render import (
        InitAnswers,
        build_plan,
        render_parameters,
        used_ports,
        validate_parameters,
    )
    from threetier.init.write import refuse_existing, write_parameters
    from threetier.paths import new_project_root

    output = app_context(ctx).output
    ask = sys.stdin.isatty() if interactive is None else interactive
    directory = new_project_root() / "parameters"

    if name is None:
        if not ask:
            raise inputs.BadInputError(
                "NAME: which environment to write (parameters/NAME.toml)?", fix="e.g. threetier init shop"
            )
        name = prompt(output, "Environment name (writes parameters/NAME.toml)", None, inputs.env_name)
    name = inputs.env_name(name)
    path = directory / f"{name}.toml"
    if not force:
        refuse_existing(path)

    answers = InitAnswers(
        name=name,
        region=region or "ap-northeast-1",
        azs=split_list(azs),
        vpc_cidr=vpc_cidr or "10.0.0.0/16",
        instances=instances,
        runtime=runtime or "ec2",
        nat_gateways=nat_gateways,
        multi_az=multi_az,
        domain=domain,
        hosted_zone_id=hosted_zone_id,
        alarm_email=alarm_email,
        project=project,
        app_source=app_source,
        wsgi=wsgi,
        settings=settings,
        requirements=requirements,
    )
    if ask:
        answers = ask_missing(output, answers, given=ctx.params)
    # app.source is relative to the directory that holds parameters/ (threetier.spec.App).
    plan = build_plan(answers, existing_ports=used_ports(directory), root=directory.parent)
    text = render_parameters(plan)
    _spec, warnings = validate_parameters(text, plan.name, base_dir=directory.parent)
    write_parameters(path, text, force=force)

    output.table(
        f"{plan.name}: subnets in {plan.vpc} ({plan.region})",
        ["name", "tier", "az", "cidr"],
        [[s.name, s.tier, s.az, str(s.cidr)] for s in plan.subnets],
    )
    if plan.app:
        rows = [["source", escape(plan.app.source), plan.app.kind]]
        for key in ("wsgi", "settings", "requirements", "python"):
            value = getattr(plan.app, key)
            rows.append([key, escape(value or "-"), escape(plan.app.found.get(key, ""))])
        output.table(f"{plan.name}: the app", ["key", "value", "found"], rows)
    for warning in plan.app.warnings if plan.app else []:
        output.warning(escape(warning))
    if plan.app and not plan.app.requirements:
        output.warning(
            escape(f"app.requirements: none found ({plan.app.found.get('requirements', '')}); the app's "
                   "environment gets only gunicorn" + (" and Django" if plan.app.kind == "django" else "")
                   + ": give --requirements, or add requirements.txt and run init again with --force")
        )
    for finding in warnings:
        output.warning(escape(f"{finding.where}: {finding.message}"))
    output.success(
        f"wrote {escape(str(path))}: {plan.project} in {plan.region} ({', '.join(plan.azs)}), "
        f"{plan.instances} web instances on {plan.runtime}"
        + (f", {escape(plan.domain)}" if plan.domain else ", no domain (plain HTTP)")
    )
    print_next_steps(
        output, plan.name, plan.ports.https_port, app=plan.app is not None,
        wrapper=(directory.parent / "threetier").is_file(),
    )


def print_next_steps(output: Output, name: str, https_port: int, *, app: bool, wrapper: bool) -> None:
    command = "./threetier" if wrapper else "threetier"
    steps = [
        ("params", "the file, validated: subnets, instances, AZs"),
        ("up", f"the twin on this machine: https://127.0.0.1:{https_port}"),
        ("check", "synth with cdk-nag and cfn-lint, the parameters' traps, the monthly cost"
         + (", the app's HA-readiness" if app else "")),
        ("synth", "the CloudFormation templates, in cdk.out/"),
        ("bootstrap", "with AWS credentials: once per account and region"),
        ("deploy", "its preflight first, then the stacks"),
    ]
    width = max(len(step) for step, _ in steps)
    output.out.out("next:", highlight=False)
    for step, why in steps:
        output.out.out(f"  {command} --env {name} {step.ljust(width)}   # {why}", highlight=False)


def known_region(text: str) -> str:
    from threetier.init.regions import zones_of

    zones_of(text)  # BadInputError when init does not know it
    return text.strip().lower()


def split_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def prompt(output: Output, label: str, default: str | None, check: Callable[[str], T]) -> T:
    """Ask until `check` accepts the answer (PROMPT_ATTEMPTS times); its BadInputError is shown
    and the question asked again, the last one raised."""
    attempt = 1
    while True:
        answer = typer.prompt(label, default=default, show_default=bool(default))
        try:
            return check(answer)
        except ThreetierError as exc:
            if attempt >= PROMPT_ATTEMPTS:
                raise
            output.error(escape(str(exc)))
            attempt += 1


def ask_missing(output: Output, answers: InitAnswers, *, given: dict) -> InitAnswers:
    """Prompt for each answer no flag gave, its default shown; each one checked as it comes."""
    from dataclasses import replace

    from threetier.init import inputs
    from threetier.init.detect import detect_app
    from threetier.init.regions import choose_azs, region_table, zones_of

    def missing(key: str) -> bool:
        return given.get(key) is None

    values: dict = {}
    region = answers.region
    if missing("region"):
        output.info(f"regions: {', '.join(sorted(region_table()))}")
        region = prompt(output, "AWS region", region, known_region)
        values["region"] = region
    chosen = choose_azs(region, answers.azs) if answers.azs else None
    if missing("azs"):
        zones = zones_of(region)
        output.info(f"AZs of {region}: {', '.join(zones)}")
        default = ",".join(az.removeprefix(region) for az in choose_azs(region))
        chosen = prompt(output, "AZs (letters or names, comma-separated)", default,
                        lambda text: choose_azs(region, split_list(text)))
        values["azs"] = chosen
    az_count = len(chosen or choose_azs(region))
    if missing("vpc_cidr"):
        values["vpc_cidr"] = str(prompt(output, "VPC CIDR", answers.vpc_cidr, inputs.vpc_cidr))
    if missing("runtime"):
        values["runtime"] = prompt(output, "Runtime (ec2 or fargate)", answers.runtime, inputs.runtime)
    if missing("instances"):
        values["instances"] = prompt(
            output, "Web instances", str(az_count), lambda text: inputs.instances(text, azs=az_count)
        )
    domain = answers.domain
    if missing("domain"):
        domain = prompt(output, "Domain (empty: none, plain HTTP)", "", inputs.domain)
        values["domain"] = domain
    if domain and missing("hosted_zone_id"):
        values["hosted_zone_id"] = prompt(
            output, "Route 53 hosted zone id", None, lambda t: inputs.hosted_zone_id(t, domain_name=domain)
        )
    if missing("alarm_email"):
        values["alarm_email"] = prompt(output, "Alarm e-mail (empty: none)", "", inputs.alarm_email)
    source = answers.app_source
    if missing("app_source"):
        text = prompt(output, "Your app's directory (empty: the bundled registry app)", "", lambda t: t.strip())
        source = Path(text).expanduser() if text else None
        values["app_source"] = source
    if source is not None:
        detected = detect_app(source)
        if missing("wsgi"):
            values["wsgi"] = prompt(output, "WSGI application (module:callable)", detected.wsgi, inputs.wsgi_callable)
        if detected.is_django and missing("settings"):
            values["settings"] = prompt(output, "Django settings module", detected.settings, inputs.settings_module)
        if missing("requirements") and detected.requirements:
            values["requirements"] = prompt(output, "Requirements", detected.requirements, str.strip)
    return replace(answers, **values)
