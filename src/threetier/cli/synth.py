"""`threetier synth`: the parameters file → CloudFormation (a CDK cloud assembly), in-process.

No AWS credentials, no network and no CDK CLI: explicit AZs, no context lookups.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from threetier.cli.context import Column, app_context
from threetier.paths import project_root


def default_outdir() -> Path:
    return project_root() / "cdk.out"


def clear_assembly(outdir: Path) -> None:
    """Remove a previous cloud assembly so no stale stack or asset survives (only if it is one)."""
    if (outdir / "manifest.json").is_file():
        shutil.rmtree(outdir)


def synth(
    ctx: typer.Context,
    out: Path = typer.Option(
        None, "--out", "-o", help="Output directory (default: PROJECT/cdk.out)."
    ),
) -> None:
    """Synthesize the AWS stacks for the environment into a cloud assembly."""
    from threetier.aws.app import synthesize

    context = app_context(ctx)
    spec = context.spec
    outdir = (out or default_outdir()).resolve()
    clear_assembly(outdir)
    with context.output.status(f"synthesizing {context.env} (CDK, in-process)..."):
        result = synthesize(spec, outdir=outdir)
    context.output.table(
        f"{context.env}: stacks in {outdir}",
        ["stack", "region", Column("resources", right=True), "template"],
        [[s.name, s.region, str(s.resource_count), s.template_file.name] for s in result.stacks],
    )
    if context.output.verbose:
        for stack in result.stacks:
            types = ", ".join(
                f"{name.removeprefix('AWS::')} {count}"
                for name, count in stack.resource_types.items()
            )
            context.output.debug(f"{stack.name}: {types}")
    total = sum(s.resource_count for s in result.stacks)
    context.output.success(
        f"synthesized {len(result.stacks)} stack(s), {total} resources, into {outdir}"
    )
