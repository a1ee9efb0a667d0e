"""`threetier bench`: the seeds' load test (`ab -n 2000 -c 100`) as a command, with a load
generator that can measure the system (wrk) and what the generator itself spent."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from threetier.bench.run import DEFAULT_DURATION_SECONDS, DEFAULT_REQUESTS, choose_engine
from threetier.bench.run import bench as run_bench
from threetier.cli.context import AppContext, Column, Output, app_context
from threetier.errors import ThreetierError


def bench(
    ctx: typer.Context,
    url: str = typer.Option(None, "--url", help="Target URL (default: the local twin's load balancer, path /users/)."),
    path: str = typer.Option("/users/", "--path", help="Path on the twin when --url is not given."),
    requests: int = typer.Option(
        None, "--requests", "-n", min=1, max=1_000_000,
        help="Total requests (Locust; default 2000 when Locust runs)."),
    duration: float = typer.Option(
        None, "--duration", "-d", min=1, max=3600, help="Seconds of load (wrk; default 10 when wrk runs)."),
    engine: str = typer.Option(
        "auto", "--engine",
        help="wrk (from the system; ./scripts/ensure-wrk), locust, or auto: wrk when installed and no -n is given."),
    concurrency: int = typer.Option(100, "--concurrency", "-c", min=1, max=1000, help="Requests at a time."),
    ca_cert: Path = typer.Option(None, "--ca-cert", help="CA certificate to verify HTTPS with."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a non-loopback target you own."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Load the system and report requests/s, latency percentiles, errors, the spread over
    instances and what the load generator itself spent (warning when it was the bottleneck)."""
    context = app_context(ctx)
    if url is None:
        url, ca_cert = _twin_target(context, path, ca_cert)
    chosen = choose_engine(engine, requests=requests, duration=duration)
    what = (f"{duration or DEFAULT_DURATION_SECONDS:g} s of load" if chosen == "wrk"
            else f"{requests or DEFAULT_REQUESTS} requests")
    with context.output.status(f"{chosen}: {what}, {concurrency} at a time, to {url} ..."):
        result = run_bench(
            url, requests=requests, concurrency=concurrency, ca_cert=ca_cert, allow_remote=allow_remote,
            engine=chosen, duration=duration,
        )
    if as_json:
        context.output.out.print_json(json.dumps(result))
    else:
        show_result(context.output, result)
    generator = result["generator"]
    if generator["saturated"]:
        context.output.warning(
            f"the load generator ({result['engine']}) was saturated: {generator['cores_busy']:.2f} of its "
            f"{generator['usable_cores']} core(s) busy, {generator['cpu_ms_per_request']} ms of its own CPU per "
            "request; the rate above is its ceiling, not the system's"
            + (" (install wrk: ./scripts/ensure-wrk, then --engine wrk)" if result["engine"] == "locust" else ""))
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
        ["latency p50 / p95 / p99 (ms)", f"{latency['p50']:.1f} / {latency['p95']:.1f} / {latency['p99']:.1f}"],
        ["latency mean / max (ms)", f"{latency['mean']:.1f} / {latency['max']:.0f}"],
        ["status codes", ", ".join(f"{k}: {v}" for k, v in sorted(result["status_codes"].items()))],
    ]
    total = max(result["requests"], 1)
    for instance, count in sorted(result["instances"].items()):
        rows.append([f"served by {escape(instance)}", f"{count} ({100 * count / total:.0f} %)"])
    generator = result["generator"]
    rows.append([
        f"load generator ({escape(result['engine'])})",
        f"{generator['cpu_ms_per_request']} ms CPU/request, {generator['cores_busy']:.2f} of "
        f"{generator['usable_cores']} core(s){' — SATURATED' if generator['saturated'] else ''}",
    ])
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
