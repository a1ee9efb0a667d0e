"""`threetier bench`: the seeds' load test (`ab -n 2000 -c 100`) as a command."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from threetier.bench.run import bench as run_bench
from threetier.bench.run import result_table
from threetier.cli.context import app_context


def bench(
    ctx: typer.Context,
    url: str = typer.Option(None, "--url", help="Target URL (default: the local twin's load balancer, path /users/)."),
    path: str = typer.Option("/users/", "--path", help="Path on the twin when --url is not given."),
    requests: int = typer.Option(2000, "--requests", "-n", min=1, max=1_000_000, help="Total requests."),
    concurrency: int = typer.Option(100, "--concurrency", "-c", min=1, max=1000, help="Requests at a time."),
    ca_cert: Path = typer.Option(None, "--ca-cert", help="CA certificate to verify HTTPS with."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a non-loopback target you own."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Load the system and report requests/s, latency percentiles, errors and the spread over instances."""
    context = app_context(ctx)
    if url is None:
        url, ca_cert = _twin_target(context, path, ca_cert)
    with context.output.err.status(f"sending {requests} requests, {concurrency} at a time, to {url} ..."):
        result = run_bench(
            url, requests=requests, concurrency=concurrency, ca_cert=ca_cert, allow_remote=allow_remote
        )
    if as_json:
        context.output.out.print_json(json.dumps(result))
    else:
        context.output.out.print(result_table(result))


def _twin_target(context, path: str, ca_cert: Path | None) -> tuple[str, Path | None]:
    from threetier.local.twin import Twin

    twin = Twin.for_spec(context.spec)
    twin.require_running()
    return twin.url.rstrip("/") + path, ca_cert or twin.ca_cert_path


def register(app: typer.Typer) -> None:
    app.command()(bench)
