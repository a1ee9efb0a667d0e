"""`threetier down`: stop the local twin; `--purge` also deletes its data."""

from __future__ import annotations

import typer

from threetier.cli.context import app_context


def down(
    ctx: typer.Context,
    purge: bool = typer.Option(False, "--purge", help="Also delete the state directory (database, media, CA)."),
) -> None:
    """Stop every program (SIGTERM to each process group, a bounded wait, then SIGKILL) and supervisord.

    The database, uploads and the local CA are kept unless --purge.
    """
    from threetier.local.twin import Twin  # noqa: PLC0415

    context = app_context(ctx)
    output = context.output
    twin = Twin.for_spec(context.spec)
    with output.status(f"stopping the twin of {context.env!r}..."):
        result = twin.down(purge=purge)
    if result.orphans:
        output.warning(
            f"{result.orphans} processes of the twin ran without a supervisord (it died, or the state "
            f"directory was deleted); stopped them"
        )
    if result.was_running:
        output.success(f"stopped the twin of {context.env!r}: {len(result.stopped_pids)} processes, none left")
    else:
        output.info(f"the twin of {context.env!r} was not running")
    if result.leftovers:
        output.warning(
            f"{len(result.leftovers)} process(es) did not stop in time and were killed: "
            + ", ".join(map(str, result.leftovers))
        )
    if result.purged:
        output.success(f"removed {twin.layout.root}")
    elif purge or not twin.layout.is_state_dir():
        output.info(f"nothing to remove at {twin.layout.root}")
    else:
        output.info(f"data kept in {twin.layout.root} (`threetier down --purge` removes it)")

