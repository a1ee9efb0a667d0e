"""`threetier drill web|db|outage`: rehearse a failure under load and hold the numbers
to the expectations in the parameters file (exit 1 when one is missed)."""

from __future__ import annotations

import json
from enum import Enum

import typer
from rich.markup import escape

from threetier.cli.context import AppContext, Column, Output, app_context
from threetier.drill.report import DrillResult
from threetier.drill.target import DrillTarget

drill_app = typer.Typer(help="Rehearse failures under load and measure them.", no_args_is_help=True)


class TargetKind(str, Enum):
    twin = "twin"
    aws = "aws"


TARGET_OPTION = typer.Option(TargetKind.twin, "--target", help="The local twin, or the deployed AWS environment.")
JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")


def _target(context: AppContext, kind: TargetKind, *, database: bool = False) -> DrillTarget:
    if kind is TargetKind.aws:
        if database:
            from threetier.errors import ThreetierError

            raise ThreetierError(
                "drill db runs on the local twin only",
                fix="on AWS, rehearse an RDS failover with `aws rds reboot-db-instance --force-failover`",
            )
        from threetier.drill.aws_target import AwsTarget

        return AwsTarget.for_spec(context.spec)
    from threetier.drill.twin_target import TwinTarget

    return TwinTarget.for_spec(context.spec)


def _finish(context: AppContext, result: DrillResult, as_json: bool) -> None:
    if as_json:
        context.output.out.print_json(json.dumps(result.to_json()))
    else:
        show_result(context.output, result)
    if not result.passed:
        missed = ", ".join(e.name for e in result.expectations if not e.met)
        context.output.error(f"drill {result.drill}: expectation missed: {missed}")
        raise typer.Exit(1)


def _fmt(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}{unit}"
    return f"{value}{unit}"


def show_result(output: Output, result: DrillResult) -> None:
    """The measures, each expectation with ✓/✗ against its limit, then the notes."""
    measured = {
        "requests": _fmt(result.requests),
        "failed requests": _fmt(result.failed_requests),
        "detect seconds": _fmt(result.detect_seconds, " s"),
        "recover seconds": _fmt(result.recover_seconds, " s"),
        "RTO seconds": _fmt(result.rto_seconds, " s"),
        "acknowledged writes": _fmt(result.acknowledged_writes),
        "lost writes": _fmt(result.lost_writes),
    }
    rows = []
    for expectation in result.expectations:
        value = measured.get(expectation.name, _fmt(expectation.actual))
        mark = "[green]✓[/green]" if expectation.met else "[red]✗[/red]"
        rows.append([expectation.name, value, f"≤ {_fmt(expectation.limit)}", mark])
    shown = {e.name for e in result.expectations}
    rows += [[name, value, "", ""] for name, value in measured.items() if name not in shown and value != "—"]
    rows += [[f"[dim]{escape(note)}[/dim]", "", "", ""] for note in result.notes]
    verdict = "PASSED" if result.passed else "FAILED"
    output.table(
        f"drill {result.drill} on {result.target}: {verdict}",
        ["measure", Column("value", right=True), Column("expected", right=True), ""],
        rows,
    )


@drill_app.command("web")
def web(ctx: typer.Context, target: TargetKind = TARGET_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Kill -9 one web instance under steady load; count failed requests and time detection and replacement."""
    from threetier.drill.web import drill_web

    context = app_context(ctx)
    with context.output.status("drill web: killing one instance under load ..."):
        result = drill_web(_target(context, target), context.spec)
    _finish(context, result, as_json)


@drill_app.command("db")
def db(ctx: typer.Context, target: TargetKind = TARGET_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Kill -9 the primary database under steady writes; measure RTO and lost acknowledged writes."""
    from threetier.drill.db import drill_db

    context = app_context(ctx)
    with context.output.status("drill db: killing the primary database under writes ..."):
        result = drill_db(_target(context, target, database=True), context.spec)
    _finish(context, result, as_json)


@drill_app.command("outage")
def outage(ctx: typer.Context, target: TargetKind = TARGET_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Stop every instance; time the sorry page; start them; time the recovery."""
    from threetier.drill.outage import drill_outage

    context = app_context(ctx)
    with context.output.status("drill outage: stopping every instance ..."):
        result = drill_outage(_target(context, target), context.spec)
    _finish(context, result, as_json)
