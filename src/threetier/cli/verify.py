"""`threetier verify`: check the deployed environment from its stack outputs (threetier.checks.verify)."""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from threetier.cli.context import app_context
from threetier.errors import ThreetierError

STATUS_STYLES = {"ok": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


def verify(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """After `deploy`: the URL answers, every target is healthy, the failover records and
    health check exist and are healthy, the sorry site answers 503, the alarm topics have a
    confirmed subscription, the billing alarm exists in us-east-1. Exit 1 naming what fails."""
    from threetier.aws import api
    from threetier.aws.cdk_cli import require_credentials
    from threetier.checks.verify import verify_deployment

    context = app_context(ctx)
    spec = context.spec
    account = require_credentials(spec)
    with context.output.status(f"verifying {context.env} in account {account}..."):
        report = verify_deployment(spec, clients=lambda region: api.clients(region, api.DEPLOY))
    if as_json:
        context.output.out.print_json(json.dumps(report.to_json()))
    else:
        context.output.table(
            f"{context.env}: verify (account {account})",
            ["check", "result", "detail"],
            [
                [r.check, f"[{STATUS_STYLES[r.status]}]{r.status}[/]", escape(r.detail)]
                for r in report.results
            ],
        )
    if report.failed:
        raise ThreetierError(
            f"verify failed: {', '.join(r.check for r in report.failed)}",
            details=[f"{r.check}: {r.detail}" for r in report.failed],
            fix="see each failing check's detail; after a fresh deploy, targets and Route 53 "
            "checkers need a few minutes, and the alarm e-mail's confirmation link must be clicked",
        )
    context.output.success(f"verify passed: {len(report.results)} check(s) on {context.env}")
