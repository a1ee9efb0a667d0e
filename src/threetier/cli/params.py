"""`threetier params`: validate the parameters file and show what it describes."""

from __future__ import annotations

import json

import typer

from threetier.cli.context import app_context


def params(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the validated parameters as JSON."),
) -> None:
    """Validate parameters/ENV.toml and print the system it describes."""
    context = app_context(ctx)
    spec = context.spec
    if as_json:
        context.output.out.print_json(json.dumps(spec.model_dump(mode="json")))
        return
    context.output.table(
        f"{context.env}: subnets in {spec.network.vpc_cidr} ({spec.project.region})",
        ["name", "tier", "az", "cidr"],
        [[s.name, s.tier, s.az, str(s.cidr)] for s in spec.network.subnets],
    )
    azs = ", ".join(spec.instance_azs())
    context.output.success(
        f"parameters/{context.env}.toml is valid: {spec.web.instances} web instances ({azs}), "
        f"database {spec.database.name} (multi-AZ: {spec.database.multi_az})"
    )
