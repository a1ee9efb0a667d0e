"""`threetier ls | diff | deploy | destroy | bootstrap`: the pinned AWS CDK CLI on our app.

diff, deploy, destroy and bootstrap check the AWS credentials first (a clear message,
not a traceback); ls needs none. `bootstrap` prepares every region a stack of the
environment lives in. `deploy` runs the preflight (threetier.checks.preflight) before the
CDK CLI: bootstrap marker per region, the hosted zone and its delegation, the alarm
topics' policies, retained resources with fixed names, the billing threshold against the
estimate, and Docker for Fargate; on an error nothing is deployed. With web.runtime =
"fargate", deploy then migrates the schema with the new image before the service rolls to
it (`threetier.aws.rollout`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from threetier.aws.naming import system_stack_name
from threetier.cli.context import AppContext, app_context
from threetier.errors import ThreetierError
from threetier.paths import project_root

if TYPE_CHECKING:  # the checks import the CDK: only when deploy runs
    from threetier.checks.findings import Finding
    from threetier.checks.preflight import AccountProbes
    from threetier.spec import Spec

STACKS_HELP = "Stack names (default: all stacks of the environment)."


def _cdk(
    context: AppContext, *, credentials: bool, assembly: Path | None = None, app: bool = True
) -> Callable[[list[str]], int]:
    """Check the credentials (if asked) and install the CDK CLI once; then run it per call
    (on our app, on the already synthesized `assembly`, or, `app=False`, on none)."""
    from threetier.aws.cdk_cli import ensure_cdk_cli, require_credentials, run_cdk

    spec = context.spec
    if credentials:
        account = require_credentials(spec)
        context.output.info(f"AWS account {account}, environment {context.env}")
    root = project_root()
    executable = ensure_cdk_cli(root, say=context.output.info)
    return lambda args: run_cdk(
        executable, args, spec=spec, root=root, outdir=root / "cdk.out", assembly=assembly, app=app
    )


def checked_assembly(env: str) -> Path:
    """Where deploy's preflight synthesizes the environment: the assembly the CDK CLI then
    deploys (one per environment, so two deploys never share one)."""
    return project_root() / ".threetier" / f"deploy-{env}"


def outputs_file(env: str) -> Path:
    """Where deploy writes the stack outputs (`cdk deploy --outputs-file`)."""
    return project_root() / ".threetier" / f"aws-{env}-outputs.json"


def _run(context: AppContext, args: list[str], *, credentials: bool) -> int:
    return _cdk(context, credentials=credentials)(args)


def _targets(stacks: list[str] | None) -> list[str]:
    return list(stacks) if stacks else ["--all"]


def ls(ctx: typer.Context) -> int:
    """List the environment's stacks (runs the CDK CLI; no credentials needed)."""
    return _run(app_context(ctx), ["ls"], credentials=False)


def diff(ctx: typer.Context, stacks: list[str] = typer.Argument(None, help=STACKS_HELP)) -> int:
    """Show what deploy would change in your AWS account."""
    return _run(app_context(ctx), ["diff", *(stacks or [])], credentials=True)


def deploy(
    ctx: typer.Context,
    stacks: list[str] = typer.Argument(None, help=STACKS_HELP),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask before security-relevant changes."
    ),
) -> int:
    """Deploy the environment's stacks (us-east-1 first), after the preflight passes.

    Fargate: deploy with the service held, run the migration task, then roll the service.
    """
    from threetier.aws.cdk_cli import require_credentials

    context = app_context(ctx)
    spec = context.spec
    account = require_credentials(spec)
    context.output.info(f"AWS account {account}, environment {context.env}")
    preflight(context)
    args = ["deploy", *_targets(stacks), "--outputs-file", str(outputs_file(context.env))]
    if yes:
        args += ["--require-approval", "never"]
    if spec.web.runtime != "fargate":
        # EC2: the boot script migrates, once, under an advisory lock. The CLI deploys the
        # assembly the preflight checked, without synthesizing it again.
        return _cdk(context, credentials=False, assembly=checked_assembly(context.env))(args)
    from threetier.aws import api
    from threetier.aws.rollout import deploy_with_migrations, includes_stack

    cdk = _cdk(context, credentials=False)  # the hold step synthesizes with its own context
    system = system_stack_name(spec)
    if not includes_stack(system, stacks):
        return cdk(args)  # the regional stack (and so the service) is not deployed
    return deploy_with_migrations(
        cdk,
        args,
        stack=system,
        clients=api.clients(spec.project.region, api.DEPLOY),
        say=context.output.info,
        warn=context.output.warning,
    )


def preflight(context: AppContext) -> None:
    """Run the deploy preflight; print its findings; ThreetierError (nothing deployed) on an error."""
    from threetier.aws.cdk_cli import docker_daemon_problem
    from threetier.checks.run import run_preflight
    from threetier.cli.check import show_findings
    from threetier.cli.synth import clear_assembly

    spec = context.spec
    clear_assembly(checked_assembly(context.env))  # no asset of an older synth is deployed
    with context.output.status(f"preflight of {context.env}: bootstrap, zone, synth and template rules..."):
        report = run_preflight(
            spec,
            outdir=checked_assembly(context.env),
            probes=account_probes(spec),
            docker_problem=docker_daemon_problem,
        )
    show_findings(
        context.output,
        f"{context.env}: deploy preflight",
        [f for f in report.findings if f.severity != "info"],
    )
    problems = [f for f in report.findings if f.severity == "error"]
    if problems:
        raise ThreetierError(
            f"deploy stopped before the CDK CLI ran: {len(problems)} preflight error(s) ("
            + ", ".join(sorted({f.rule for f in problems}))
            + ")",
            fix=preflight_fix(problems, spec),
        )
    context.output.success("preflight passed")


def preflight_fix(problems: list[Finding], spec: Spec) -> str:
    """The fix line: the exact bootstrap command when a region lacks it, and the table's rows."""
    from threetier.checks.preflight import bootstrap_command

    steps = []
    if any(f.rule in ("not-bootstrapped", "old-bootstrap") for f in problems):
        steps.append(f"run `{bootstrap_command(spec)}`")
    if any(f.rule not in ("not-bootstrapped", "old-bootstrap") for f in problems):
        steps.append("correct what each error in the table above names")
    return ", then ".join(steps) + ", and deploy again"


def account_probes(spec: Spec) -> AccountProbes:
    """The preflight's questions to the account, through threetier.aws.api."""
    from threetier.aws import api
    from threetier.aws.delegation import public_name_servers
    from threetier.checks.preflight import BOOTSTRAP_PARAMETER, AccountProbes, HostedZone

    def bootstrap_version(region: str) -> str | None:
        return api.parameter_value(api.clients(region, api.IDENTITY)("ssm"), BOOTSTRAP_PARAMETER)

    def hosted_zone(zone_id: str) -> HostedZone | None:
        found = api.hosted_zone(api.clients(spec.project.region, api.IDENTITY)("route53"), zone_id)
        return None if found is None else HostedZone(name=found[0], name_servers=found[1])

    return AccountProbes(
        bootstrap_version=bootstrap_version,
        hosted_zone=hosted_zone,
        public_name_servers=public_name_servers,
        availability_zones=lambda region: api.availability_zones(api.clients(region, api.IDENTITY)("ec2")),
    )


def destroy(
    ctx: typer.Context,
    stacks: list[str] = typer.Argument(None, help=STACKS_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> int:
    """Delete the environment's stacks (what retain_data keeps is listed first)."""
    context = app_context(ctx)
    if context.spec.environment.retain_data:
        context.output.warning(
            "environment.retain_data is true: the database's final snapshot, its secrets and "
            "the log buckets stay (and bill) after destroy"
        )
    if context.spec.database.deletion_protection:
        context.output.warning("database.deletion_protection is on: destroy stops at the database")
    args = ["destroy", *_targets(stacks)] + (["--force"] if yes else [])
    return _run(context, args, credentials=True)


def bootstrap(ctx: typer.Context) -> int:
    """Prepare the account for CDK deployments in every region the environment's stacks
    use (its region and us-east-1, where the billing alarm and the sorry page live)."""
    from threetier.aws.cdk_cli import require_credentials
    from threetier.checks.preflight import stack_regions

    context = app_context(ctx)
    account = require_credentials(context.spec)
    regions = stack_regions(context.spec)
    context.output.info(f"bootstrapping aws://{account} in {', '.join(regions)}")
    # Explicit environments: the CLI needs no app (and does not synthesize one).
    cdk = _cdk(context, credentials=False, app=False)
    return cdk(["bootstrap", *(f"aws://{account}/{r}" for r in regions)])
