"""`threetier drill web|outage|db|az`: rehearse a failure under load, hold the numbers to
their expectations (exit 1 when one is missed), and show the scorecard: the twin's
numbers beside what AWS would show with the same parameters, each with its source."""

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


def _target(context: AppContext, kind: TargetKind) -> DrillTarget:
    if kind is TargetKind.aws:
        from threetier.drill.aws_target import AwsTarget

        return AwsTarget.for_spec(context.spec)
    from threetier.drill.twin_target import TwinTarget

    return TwinTarget.for_spec(context.spec)


def _finish(context: AppContext, result: DrillResult, as_json: bool) -> None:
    if as_json:
        context.output.out.print_json(json.dumps(result.to_json()))
    else:
        show_result(context.output, result)
        show_scorecard(context.output, result)
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


def show_scorecard(output: Output, result: DrillResult) -> None:
    """Measured beside modelled: the twin (its own settings), AWS predicted (the deployed
    settings), AWS measured (with --target aws); each prediction's source below."""
    if not result.scorecard:
        return
    rows, sources = [], []
    for row in result.scorecard:
        for source in (row.twin_model.source, row.aws_predicted.source):
            if source not in sources:
                sources.append(source)
        rows.append([
            row.measure,
            _fmt(row.twin_measured, row.unit),
            f"{row.twin_model.text(row.unit)} [{sources.index(row.twin_model.source) + 1}]",
            f"{row.aws_predicted.text(row.unit)} [{sources.index(row.aws_predicted.source) + 1}]",
            _fmt(row.aws_measured, row.unit),
        ])
    rows += [[f"[dim][{i}] {escape(source)}[/dim]", "", "", "", ""] for i, source in enumerate(sources, 1)]
    output.table(
        f"scorecard: drill {result.drill} (lb_semantics {result.lb_semantics})",
        ["measure", Column("twin measured", right=True), Column("twin model", right=True),
         Column("AWS predicted", right=True), Column("AWS measured", right=True)],
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
    """Kill -9 the primary database under steady writes (on AWS: reboot it with ForceFailover);
    measure RTO and lost acknowledged writes."""
    from threetier.drill.db import drill_db

    context = app_context(ctx)
    with context.output.status("drill db: killing the primary database under writes ..."):
        result = drill_db(_target(context, target), context.spec)
    _finish(context, result, as_json)


@drill_app.command("outage")
def outage(ctx: typer.Context, target: TargetKind = TARGET_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Stop every instance; time the sorry page; start them; time the recovery."""
    from threetier.drill.outage import drill_outage

    context = app_context(ctx)
    with context.output.status("drill outage: stopping every instance ..."):
        result = drill_outage(_target(context, target), context.spec)
    _finish(context, result, as_json)


@drill_app.command("az")
def az(
    ctx: typer.Context,
    target: TargetKind = TARGET_OPTION,
    as_json: bool = JSON_OPTION,
    zone: str = typer.Option(None, "--az", help="The AZ to lose (default: the primary database's)."),
) -> None:
    """AWS FIS "AZ Availability: Power Interruption": under reads and writes, stop every
    component in one AZ at once; the other AZ must keep serving and lose no acknowledged write."""
    from threetier.drill.az import drill_az

    context = app_context(ctx)
    with context.output.status("drill az: powering off one AZ under load ..."):
        result = drill_az(_target(context, target), context.spec, az=zone)
    _finish(context, result, as_json)
