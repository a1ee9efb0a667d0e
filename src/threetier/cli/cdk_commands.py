"""`threetier ls | diff | deploy | destroy | bootstrap`: the pinned AWS CDK CLI on our app.

diff, deploy, destroy and bootstrap check the AWS credentials first (a clear message,
not a traceback); ls needs none. With web.runtime = "fargate", deploy migrates the schema
with the new image before the service rolls to it (`threetier.aws.rollout`).
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from threetier.aws.naming import EDGE_REGION, has_edge, system_stack_name
from threetier.cli.context import AppContext, app_context
from threetier.paths import project_root

STACKS_HELP = "Stack names (default: all stacks of the environment)."


def _cdk(context: AppContext, *, credentials: bool) -> Callable[[list[str]], int]:
    """Check the credentials (if asked) and install the CDK CLI once; then run it per call."""
    from threetier.aws.cdk_cli import ensure_cdk_cli, require_credentials, run_cdk

    spec = context.spec
    if credentials:
        account = require_credentials(spec)
        context.output.info(f"AWS account {account}, environment {context.env}")
    root = project_root()
    executable = ensure_cdk_cli(root, say=context.output.info)
    return lambda args: run_cdk(executable, args, spec=spec, root=root, outdir=root / "cdk.out")


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
    """Deploy the environment's stacks (edge stack first when there is a domain).

    Fargate: deploy with the service held, run the migration task, then roll the service.
    """
    context = app_context(ctx)
    spec = context.spec
    outputs = project_root() / ".threetier" / f"aws-{context.env}-outputs.json"
    args = ["deploy", *_targets(stacks), "--outputs-file", str(outputs)]
    if yes:
        args += ["--require-approval", "never"]
    cdk = _cdk(context, credentials=True)
    if spec.web.runtime != "fargate":
        return cdk(args)  # EC2: the boot script migrates, once, under an advisory lock
    from threetier.aws import api
    from threetier.aws.rollout import deploy_with_migrations, includes_stack

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
    """Prepare the account for CDK deployments (the region, and us-east-1 with a domain)."""
    from threetier.aws.cdk_cli import require_credentials

    context = app_context(ctx)
    account = require_credentials(context.spec)
    regions = [context.spec.project.region]
    if has_edge(context.spec) and EDGE_REGION not in regions:
        regions.append(EDGE_REGION)
    return _run(
        context, ["bootstrap", *(f"aws://{account}/{r}" for r in regions)], credentials=False
    )
