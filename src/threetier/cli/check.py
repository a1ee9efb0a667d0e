"""`threetier check`: cdk-nag (AwsSolutions), cfn-lint, architecture rules and the parameters'
traps on the environment; exit 1 on any error that no acknowledgment (with its reason) covers.
It also prints what the synthesized system bills per month (a dated list-price table) and
what `destroy` would leave billing, so nobody learns it from the invoice (seed 004)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from threetier.cli.context import AppContext, app_context
from threetier.errors import ThreetierError

if TYPE_CHECKING:  # the checks import the CDK: only when `check` runs
    from threetier.checks.run import CheckReport


def check(
    ctx: typer.Context,
    notes: bool = typer.Option(False, "--notes", help="Also list informational notes."),
) -> None:
    """Check the AWS stacks and the parameters; exit 1 on any error."""
    from threetier.checks.run import run_checks

    context = app_context(ctx)
    spec = context.spec
    with tempfile.TemporaryDirectory(prefix="threetier-check-") as tmp:
        with context.output.err.status(f"checking {context.env}: synth with cdk-nag, cfn-lint..."):
            report = run_checks(spec, outdir=Path(tmp))
    shown = [f for f in report.findings if notes or f.severity != "info"]
    if shown:
        table = Table(title=f"{context.env}: findings")
        for column in ("severity", "source", "rule", "where", "message"):
            table.add_column(column, overflow="fold")
        for f in shown:
            table.add_row(f.severity, f.source, escape(f.rule), escape(f.where), escape(f.message))
        context.output.out.print(table)
    _print_cost(context, report)
    stacks = ", ".join(f"{s.name} ({s.resource_count})" for s in report.synth.stacks)
    summary = (
        f"{report.count('error')} error(s), {report.count('warning')} warning(s), "
        f"{report.count('info')} note(s) — stacks: {stacks}"
    )
    if not report.passed:
        raise ThreetierError(
            f"check failed: {summary}",
            fix="fix the errors above, or acknowledge a rule with its reason",
        )
    context.output.success(f"check passed: {summary}")


def _print_cost(context: AppContext, report: CheckReport) -> None:
    from threetier.checks.cost import render_cost_table

    cost = report.cost
    context.output.out.print(
        render_cost_table(
            cost.rows,
            title=f"{context.env}: monthly cost while running (USD, list prices of {cost.price_date})",
        )
    )
    for row in cost.unpriced:
        context.output.warning(
            f"no price for {row.driver} in src/threetier/checks/prices.toml: the total leaves it out"
        )
    if report.leftovers:
        table = Table(title=f"{context.env}: still billing after `threetier destroy`")
        for column in ("what", "resource", "why"):
            table.add_column(column, overflow="fold")
        for leftover in report.leftovers:
            table.add_row(leftover.what, escape(leftover.logical_id), escape(leftover.why))
        context.output.out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(check)
