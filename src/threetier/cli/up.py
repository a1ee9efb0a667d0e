"""`threetier up`: start the local twin in the background and return once it answers."""

from __future__ import annotations

import typer

from threetier.cli.context import app_context


def up(ctx: typer.Context) -> None:
    """Start the local twin (PostgreSQL, web instances, Caddy) under supervisord.

    Returns once the load balancer answers over HTTPS. Running it again changes
    nothing, or starts only what is down.
    """
    from threetier.local.twin import Twin  # noqa: PLC0415 - keeps `--help` fast

    context = app_context(ctx)
    output = context.output
    twin = Twin.for_spec(context.spec)
    with output.status(f"bringing up the twin of {context.env!r}...") as status:
        result = twin.up(progress=lambda step: status.update(f"{step} ..."))
    if result.orphans_stopped:
        output.warning(
            f"stopped {result.orphans_stopped} processes an earlier run left behind when its supervisord died"
        )
    if result.changed:
        output.success(
            f"the twin of {context.env!r} is up in {result.seconds:.1f} s "
            f"(started {', '.join(result.started)}); state in {twin.layout.root}"
        )
    else:
        output.success(f"the twin of {context.env!r} is already running; nothing changed")
    if context.spec.database.multi_az:
        roles = twin.database_roles()
        output.info("databases: " + ", ".join(f"{name} {role}" for name, role in roles.items())
                    + " (synchronous streaming replication; the db-watchdog fails over)")
    output.info(f"CA certificate: {result.ca_cert}  (e.g. curl --cacert {result.ca_cert} {result.url}/)")
    output.info(
        f"public URL {result.url} (the failover stage, Route 53's part); the load balancer itself: "
        f"{twin.lb_url} (lb_semantics {context.spec.local.lb_semantics!r}; `threetier bench` measures it)"
    )
    output.out.print(result.url, markup=False)

