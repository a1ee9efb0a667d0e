"""`threetier status`: every component of the local twin, its state and target health."""

from __future__ import annotations

import json

import typer

from threetier.cli.context import app_context

STATE_STYLES = {"RUNNING": "green", "STARTING": "yellow", "BACKOFF": "yellow", "STOPPING": "yellow"}
HEALTH_STYLES = {"healthy": "green", "unhealthy": "red", "unknown": "yellow"}


def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Show each component (name, kind, AZ, pid, port, state) and each instance's target health.

    Databases show their live role (primary / standby / down) and, for a standby, its
    replication lag (replay bytes and seconds behind the primary, from pg_stat_replication).

    Target health is the load balancer's own view (Caddy's health-check events), like
    `aws elbv2 describe-target-health`. Exit code 0 when the twin runs without problems
    or is cleanly stopped; 1 when something is wrong: processes of the twin running
    without a supervisord (it died, or the state directory was deleted), or a program
    that failed (FATAL, EXITED, BACKOFF).
    """
    from threetier.local.twin import Twin  # noqa: PLC0415

    context = app_context(ctx)
    twin = Twin.for_spec(context.spec)
    result = twin.status()
    problems = result.problems
    if as_json:
        context.output.out.print_json(json.dumps(result.to_json()))
        if problems:
            raise typer.Exit(1)
        return
    if not result.running and not result.orphans:
        context.output.info(
            f"the twin of {context.env!r} is not running (state dir {result.state_dir}); "
            f"start it with `threetier --env {context.env} up`"
        )
        return
    has_lag = any(c.kind == "database" and c.role == "standby" for c in result.components)
    columns = ("component", "kind", "az", "pid", "port", "state", "health") + (("replication lag",) if has_lag else ())
    rows = []
    for c in result.components:
        state_style = STATE_STYLES.get(c.state, "red")
        health = c.health or "-"
        kind = f"{c.kind} ({c.role})" if c.role else c.kind
        row = [
            c.name, kind, c.az or "-", str(c.pid or "-"), str(c.port or "-"),
            f"[{state_style}]{c.state}[/{state_style}]",
            f"[{HEALTH_STYLES.get(health, 'default')}]{health}[/]" if c.health else "-",
        ]
        if has_lag:
            row.append(describe_lag(c.lag) if c.kind == "database" and c.role == "standby" else "-")
        rows.append(row)
    context.output.table(
        f"twin {context.env}: {result.url} (load balancer {result.lb_url}, lb_semantics {result.lb_semantics})",
        columns, rows,
    )
    for problem in problems:
        context.output.error(problem)
    if problems:
        raise typer.Exit(1)


def describe_lag(lag: dict | None) -> str:
    """'0 B, 0.000 s (streaming, sync)': how far the standby's replay is behind the primary."""
    if not lag:
        return "not connected"
    size = "?" if lag.get("bytes") is None else f"{lag['bytes']} B"
    seconds = "?" if lag.get("seconds") is None else f"{lag['seconds']:.3f} s"
    return f"{size}, {seconds} ({lag.get('state')}, {lag.get('sync_state')})"

