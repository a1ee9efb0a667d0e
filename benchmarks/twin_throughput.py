"""The twin's throughput and latency with 1, 2 and 4 web instances, in one run.

    .venv/bin/python benchmarks/twin_throughput.py [--requests 400 --concurrency 20 --json out.json]

For each instance count it starts a fresh twin (free loopback ports, a temporary state
directory, always `down(purge=True)` afterwards), creates a few users through the API,
then loads two paths — the user list (`/users/`, one SQL query per request) and `/healthz`
(no database) — once through the load balancer (Caddy, HTTPS) and once straight at the
first instance (plain HTTP, no load balancer). The load generator is `threetier bench`'s
(Locust), so these numbers are what that command would print.

The load generator runs on the same cores as the twin; on a small machine it competes with
the instances, so read the numbers as "this whole system on this machine", not the app's
ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from threetier.bench.run import bench
from threetier.drill.load import drill_session
from threetier.local.ports import allocate_ports
from threetier.local.twin import Twin
from threetier.paths import parameters_dir
from threetier.spec import Spec, parse_spec

PATHS = ("/users/", "/healthz")
ROUTES = ("lb", "direct")
WARMUP_REQUESTS = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", "-n", type=int, default=400, help="requests per measurement")
    parser.add_argument("--concurrency", "-c", type=int, default=20, help="requests at a time")
    parser.add_argument(
        "--instances", type=_counts, default=[1, 2, 4], help="web instance counts, e.g. 1,2,4"
    )
    parser.add_argument("--users", type=int, default=20, help="users created before the load")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.users < 0:
        parser.error("--requests and --concurrency must be at least 1, --users at least 0")
    return args


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or any(not 1 <= c <= 8 for c in counts):
        raise argparse.ArgumentTypeError("instance counts are 1..8, comma separated")
    return counts


def machine_info() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine skews the numbers: say how busy it was.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


# --- a twin per instance count -------------------------------------------------------


def twin_spec(instances: int, env: str = "bench") -> Spec:
    """default.toml with `instances` web servers on free loopback ports.

    The parameters insist on at least one web server per web AZ, so a single instance
    gets a single private subnet (1a); 2 and 4 spread over 1a and 1c.
    """
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    if instances < 2:
        data["network"]["subnets"] = [
            s
            for s in data["network"]["subnets"]
            if not (s["tier"] == "private" and s["az"] != "ap-northeast-1a")
        ]
    data["web"]["instances"] = instances
    # One call, so the blocks cannot overlap (+1 of the database is reserved for a standby).
    http, https, lb, db, apps = allocate_ports(1, 1, 1, 2, instances)
    data["local"] = {
        **data.get("local", {}),
        "http_port": http[0],
        "https_port": https[0],
        "lb_port": lb[0],
        "db_port": db[0],
        "first_app_port": apps[0],
    }
    return parse_spec(data, env_name=env)


@contextmanager
def running_twin(spec: Spec) -> Iterator[tuple[Twin, float]]:
    root = Path(tempfile.mkdtemp(prefix="tt-bench-"))
    os.chmod(root, 0o755)  # PostgreSQL's unprivileged user must be able to enter it
    twin = Twin(spec, root / "state")
    try:
        began = time.monotonic()
        twin.up()
        yield twin, time.monotonic() - began
    finally:
        try:
            twin.down(purge=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def seed_users(twin: Twin, count: int) -> None:
    with drill_session(str(twin.ca_cert_path)) as session:
        for i in range(count):
            response = session.post(
                f"{twin.url}/api/users/",
                json={
                    "user_id": f"bench{i:03d}",
                    "user_name": f"Bench {i}",
                    "password": "bench-password",
                    "comment": "created by benchmarks/twin_throughput.py " * 3,
                },
                timeout=30,
            )
            if response.status_code != 201:
                raise RuntimeError(
                    f"creating a user failed: {response.status_code} {response.text[:200]}"
                )


def warm_up(url: str, verify: str | bool) -> None:
    """A few requests first, so the first measurement does not pay for lazy imports."""
    with drill_session(verify) as session:
        for _ in range(WARMUP_REQUESTS):
            session.get(url, timeout=30)


def measure_twin(
    twin: Twin, args: argparse.Namespace, report: Callable[[str], None] = lambda _: None
) -> list[dict]:
    first_port = next(iter(twin.instance_ports().values()))
    # The load balancer itself: on AWS, DNS (the twin's failover stage) is not on the request path.
    bases = {"lb": twin.lb_url, "direct": f"http://127.0.0.1:{first_port}"}
    count = len(twin.instance_names())
    rows = []
    for path in PATHS:
        for route in ROUTES:
            url = bases[route] + path
            report(f"{count} instance(s): {route} {path}")
            ca_cert = twin.ca_cert_path if route == "lb" else None
            warm_up(url, str(ca_cert) if ca_cert else False)
            result = bench(
                url, requests=args.requests, concurrency=args.concurrency, ca_cert=ca_cert
            )
            if result["requests"] != args.requests:
                raise RuntimeError(f"{url}: {result['requests']} of {args.requests} requests sent")
            rows.append({"web_instances": count, "route": route, "path": path, **result})
    return rows


# --- output ------------------------------------------------------------------------------


def results_table(machine: dict, rows: list[dict]) -> Table:
    cpus, model, python = machine["cpus"], machine["cpu_model"], machine["python"]
    table = Table(title=f"twin throughput — {cpus} × {model}, Python {python}")
    for name, justify in [
        ("instances", "right"),
        ("route", "left"),
        ("path", "left"),
        ("req/s", "right"),
        ("p50 ms", "right"),
        ("p95 ms", "right"),
        ("p99 ms", "right"),
        ("errors", "right"),
        ("requests", "right"),
        ("spread over instances", "left"),
    ]:
        table.add_column(name, justify=justify)
    for row in rows:
        latency = row["latency_ms"]
        table.add_row(
            str(row["web_instances"]),
            "LB (Caddy, HTTPS)" if row["route"] == "lb" else "direct (HTTP)",
            row["path"],
            f"{row['requests_per_second']:.0f}",
            f"{latency['p50']:.0f}",
            f"{latency['p95']:.0f}",
            f"{latency['p99']:.0f}",
            str(row["failed_requests"]),
            str(row["requests"]),
            " / ".join(str(n) for _, n in sorted(row.get("instances", {}).items())),
        )
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console, err = Console(width=140), Console(stderr=True)
    machine = machine_info()
    began = time.monotonic()
    rows: list[dict] = []
    ups: dict[int, float] = {}
    for count in args.instances:
        err.print(f"starting a twin with {count} web instance(s) ...")
        with running_twin(twin_spec(count)) as (twin, up_seconds):
            ups[count] = round(up_seconds, 1)
            seed_users(twin, args.users)
            rows += measure_twin(twin, args, report=lambda text: err.print(f"  {text}"))
    console.print(results_table(machine, rows))
    total = time.monotonic() - began
    machine["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    up = ", ".join(f"{s} s ({n})" for n, s in ups.items())
    console.print(
        f"{args.requests} requests per row, concurrency {args.concurrency}, {args.users} users "
        f"in the list; load generator: Locust on the same machine"
    )
    console.print(
        f"twin up took {up}; whole run {total:.0f} s; 1-minute load average "
        f"{machine['load_average_1m']} before, {machine['load_average_1m_after']} after"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine,
                    "settings": {
                        "requests": args.requests,
                        "concurrency": args.concurrency,
                        "users": args.users,
                    },
                    "up_seconds": ups,
                    "seconds": round(total, 1),
                    "results": rows,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
