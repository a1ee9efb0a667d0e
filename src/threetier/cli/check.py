"""`threetier check`: cdk-nag (AwsSolutions), cfn-lint, architecture rules, the parameters'
traps and the deploy preflight's rules that need no account (threetier.checks.preflight) on
the environment; exit 1 on any error that no acknowledgment (with its reason) covers.
It also prints what the synthesized system bills per month (a dated list-price table) and
what `destroy` would leave billing, so nobody learns it from the invoice (seed 004)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from threetier.cli.context import SECTION, AppContext, Column, Output, app_context
from threetier.errors import ThreetierError

if TYPE_CHECKING:  # the checks import the CDK: only when `check` runs
    from threetier.checks.findings import Finding
    from threetier.checks.pricer import CostRow
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
        with context.output.status(f"checking {context.env}: synth with cdk-nag, cfn-lint..."):
            report = run_checks(spec, outdir=Path(tmp))
    show_findings(
        context.output,
        f"{context.env}: findings",
        [f for f in report.findings if notes or f.severity != "info"],
    )
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


def show_findings(output: Output, title: str, findings: Sequence[Finding]) -> None:
    """The findings as one table (nothing when there are none)."""
    if findings:
        output.table(
            title,
            ["severity", "source", "rule", "where", "message"],
            [[f.severity, f.source, escape(f.rule), escape(f.where), escape(f.message)] for f in findings],
        )


def _print_cost(context: AppContext, report: CheckReport) -> None:
    cost = report.cost
    show_cost(
        context.output,
        cost.rows,
        title=f"{context.env}: monthly cost while running (USD, list prices of {cost.price_date})",
    )
    for row in cost.unpriced:
        context.output.warning(
            f"no price for {row.driver} in src/threetier/checks/prices.toml: the total leaves it out"
        )
    if report.leftovers:
        context.output.table(
            f"{context.env}: still billing after `threetier destroy`",
            ["what", "resource", "why"],
            [[o.what, escape(o.logical_id), escape(o.why)] for o in report.leftovers],
        )


def show_cost(
    output: Output, rows: Sequence[CostRow], *, title: str = "Monthly cost while running (USD, list prices)"
) -> None:
    """The cost lines with the fixed monthly total as the last line."""
    from threetier.checks.pricer import total_usd

    lines: list[list[str] | None] = []
    for row in rows:
        unit_price = "?" if row.unit_price_usd is None else f"{row.unit_price_usd:g} / {row.unit}"
        monthly = "usage" if row.monthly_usd is None else f"{row.monthly_usd:,.2f}"
        lines.append([escape(row.driver), f"{row.count:g}", unit_price, monthly, escape(row.note)])
    lines.append(SECTION)
    lines.append(
        ["Total (fixed drivers)", "", "", f"{total_usd(rows):,.2f}", "usage-based drivers not included"]
    )
    output.table(
        title,
        ["Driver", Column("Count", right=True), Column("Unit price", right=True),
         Column("Monthly", right=True), "Note"],
        lines,
    )
