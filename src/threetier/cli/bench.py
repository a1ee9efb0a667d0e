"""`threetier bench`: the seeds' load test (`ab -n 2000 -c 100`) as a command."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from threetier.bench.run import bench as run_bench
from threetier.cli.context import AppContext, Column, Output, app_context
from threetier.errors import ThreetierError


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
    with context.output.status(f"sending {requests} requests, {concurrency} at a time, to {url} ..."):
        result = run_bench(
            url, requests=requests, concurrency=concurrency, ca_cert=ca_cert, allow_remote=allow_remote
        )
    if as_json:
        context.output.out.print_json(json.dumps(result))
    else:
        show_result(context.output, result)
    if result["requests"] and result["failed_requests"] == result["requests"]:
        # A load test that got no answer measured nothing: a script must see it fail.
        raise ThreetierError(
            f"every one of the {result['requests']} requests to {url} failed",
            fix="check that the target is up (`threetier status`) and the URL, then run bench again",
        )


def show_result(output: Output, result: dict) -> None:
    """Requests/s, failures, latency percentiles, status codes and the spread over instances."""
    latency = result["latency_ms"]
    rows = [
        ["requests/s", f"{result['requests_per_second']:.1f}"],
        ["failed requests", str(result["failed_requests"])],
        ["latency p50 / p95 / p99 (ms)", f"{latency['p50']:.0f} / {latency['p95']:.0f} / {latency['p99']:.0f}"],
        ["latency mean / max (ms)", f"{latency['mean']:.1f} / {latency['max']:.0f}"],
        ["status codes", ", ".join(f"{k}: {v}" for k, v in sorted(result["status_codes"].items()))],
    ]
    total = max(result["requests"], 1)
    for instance, count in sorted(result["instances"].items()):
        rows.append([f"served by {escape(instance)}", f"{count} ({100 * count / total:.0f} %)"])
    for error, count in result["errors"].items():
        rows.append([f"error: {escape(error[:60])}", str(count)])
    output.table(
        f"bench {result['url']}  ({result['requests']} requests, concurrency {result['concurrency']})",
        ["metric", Column("value", right=True)],
        rows,
    )


def _twin_target(context: AppContext, path: str, ca_cert: Path | None) -> tuple[str, Path | None]:
    from threetier.local.twin import Twin

    twin = Twin.for_spec(context.spec)
    twin.require_running()
    # The load balancer itself: on AWS, DNS (the twin's failover stage) is not on the request path.
    return twin.lb_url.rstrip("/") + path, ca_cert or twin.ca_cert_path
