"""/users/ and /api/users/ latency as the registry grows: 1k, 10k and 100k users.

    .venv/bin/python benchmarks/user_scale.py [--sizes 1000,10000,100000 --requests 200 --json out.json]

Starts one throwaway twin (2 instances, free loopback ports, a temporary state dir,
always `down(purge=True)` afterwards), grows the users table to each size with COPY as
the app's own database role (one shared, valid password hash: hashing 100k passwords
would take hours and measures nothing here), runs VACUUM ANALYZE as autovacuum would
after a bulk load (the COPY's statement trigger keeps `users_count`, migration 0005, as
a sign-up does), then measures through the load balancer with `threetier bench`'s load
generator, a few requests at a time: the first page, a page deep in the list, and a search on each of the list page and
the API, plus /healthz (no database, no template) as the machine's own floor; and each
query's execution time in PostgreSQL (EXPLAIN ANALYZE, the SQL Django sends). Pagination,
the prefix indexes and the kept count (instead of COUNT(*) over every row) are what keep
the numbers flat.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import time
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table
from twin_throughput import machine_info, running_twin, twin_spec

from threetier.bench.run import bench

SIZES = (1_000, 10_000, 100_000)
GOAL_P50_MS = 100


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda t: [int(p) for p in t.split(",")], default=list(SIZES))
    parser.add_argument("--requests", "-n", type=int, default=200, help="requests per measurement")
    parser.add_argument("--concurrency", "-c", type=int, default=4, help="requests at a time")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or any(size < 1 for size in args.sizes):
        parser.error("--requests, --concurrency and every size must be at least 1")
    return args


def shared_hash(password: str = "bench-password-1") -> str:  # noqa: S107 - a throwaway twin's
    """A Django pbkdf2_sha256 hash (what make_password writes), computed once."""
    salt, iterations = "benchsalt0123456", 1_000_000
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def user_id(number: int) -> str:
    return f"u{number:07d}"  # 8 characters: inside the seed's varchar(10)


def paths(size: int) -> list[str]:
    """What a visitor does: the first page, a page deep in the list, a search."""
    deep_page = max(1, size // 25 // 2)  # the middle of the list at the default page size
    probe = user_id(size // 2)[:6]  # a prefix that matches up to 10 or 100 users
    return [
        "/users/", f"/users/?page={deep_page}", f"/users/?q={probe}",
        "/api/users/", f"/api/users/?page={deep_page}", f"/api/users/?q={probe}",
    ]


# Each query as Django sends it for a page (every column, as `*` selects; parameters inlined,
# as Django's client-side binding does, so the planner sees the literal prefix as for the app).
QUERIES = {
    # The page's total: what the list page and the API read now (users_count, kept by
    # triggers: migration 0005), and the COUNT(*) over every row they sent before.
    "count": "SELECT n FROM users_count",
    "COUNT(*)": "SELECT COUNT(*) FROM users",
    "first page": "SELECT * FROM users ORDER BY user_id LIMIT 25",
    "deep page": "SELECT * FROM users ORDER BY user_id LIMIT 25 OFFSET %(offset)s",
    "search": "SELECT * FROM users WHERE UPPER(user_id::text) LIKE UPPER(%(prefix)s) "
    "OR UPPER(user_name::text) LIKE UPPER(%(prefix)s) ORDER BY user_id LIMIT 25",
    "search count": "SELECT COUNT(*) FROM users WHERE UPPER(user_id::text) LIKE UPPER(%(prefix)s) "
    "OR UPPER(user_name::text) LIKE UPPER(%(prefix)s)",
}


def database_ms(connection: psycopg.Connection, size: int) -> dict[str, float]:
    """Execution time of each query in QUERIES (EXPLAIN ANALYZE, best of 3), in ms."""
    params = {"offset": size // 2, "prefix": user_id(size // 2)[:6] + "%"}
    timings = {}
    with psycopg.ClientCursor(connection) as cursor:  # literals inlined, as Django sends them
        for name, sql in QUERIES.items():
            best = float("inf")
            for _ in range(3):
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
                best = min(best, cursor.fetchone()[0][0]["Execution Time"])
            timings[name] = round(best, 2)
    return timings


def grow(connection: psycopg.Connection, start: int, stop: int, password_hash: str) -> None:
    rows = io.StringIO()
    for number in range(start, stop):
        rows.write(f"{user_id(number)}\tUser {number % 100000}\t{password_hash}\tseeded by user_scale.py\t"
                   "\tf\tt\tf\tnow\tnow\n")
    rows.seek(0)
    columns = ("user_id, user_name, password, comment, attachment, is_staff, is_active, is_superuser, "
               "created_at, updated_at")
    with connection.cursor() as cursor, cursor.copy(f"COPY users ({columns}) FROM STDIN") as copy:
        copy.write(rows.read())
    # What autovacuum does after a bulk load: statistics, and the visibility map that lets
    # COUNT(*) read the primary key's index instead of every row.
    connection.execute("VACUUM ANALYZE users")


def app_connection(env: dict[str, str]) -> psycopg.Connection:
    """The app's own role and settings (the first host of the list: the primary)."""
    return psycopg.connect(
        host=env["THREETIER_DB_HOST"].split(",")[0], port=env["THREETIER_DB_PORT"].split(",")[0],
        dbname=env["THREETIER_DB_NAME"], user=env["THREETIER_DB_USER"],
        password=Path(env["THREETIER_DB_PASSWORD_FILE"]).read_text().strip(), autocommit=True,
    )


def measure(args: argparse.Namespace, report=print) -> list[dict]:
    rows: list[dict] = []
    with running_twin(twin_spec(2, env="scale")) as (twin, _):
        env, password_hash, have = twin.manage_env(), shared_hash(), 0
        with app_connection(env) as connection:
            for size in sorted(args.sizes):
                report(f"growing the registry to {size} users ...")
                grow(connection, have, size, password_hash)
                have = size
                timings = database_ms(connection, size)
                report(f"  {size:>7} database: " + ", ".join(f"{k} {v} ms" for k, v in timings.items()))
                rows.append({"users": size, "path": "(database)", "database_ms": timings})
                for path in [*paths(size), "/healthz"]:
                    url = twin.url + path
                    bench(url, requests=10, concurrency=1, ca_cert=twin.ca_cert_path)  # warm up
                    result = bench(url, requests=args.requests, concurrency=args.concurrency,
                                   ca_cert=twin.ca_cert_path)
                    report(f"  {size:>7} {path:<28} p50 {result['latency_ms']['p50']:.0f} ms")
                    rows.append({"users": size, "path": path, **result})
    return rows


def results_table(machine: dict, rows: list[dict]) -> Table:
    table = Table(title=f"registry size vs latency through the LB — {machine['cpus']} × {machine['cpu_model']}")
    for name in ("users", "path", "req/s", "p50 ms", "p95 ms", "errors"):
        table.add_column(name, justify="left" if name == "path" else "right")
    for row in rows:
        if "database_ms" in row:
            continue
        latency = row["latency_ms"]
        table.add_row(str(row["users"]), row["path"], f"{row['requests_per_second']:.0f}",
                      f"{latency['p50']:.0f}", f"{latency['p95']:.0f}", str(row["failed_requests"]))
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console, err = Console(width=140), Console(stderr=True)
    machine, began = machine_info(), time.monotonic()
    rows = measure(args, report=lambda text: err.print(text))
    console.print(results_table(machine, rows))
    for row in rows:
        if "database_ms" in row:
            console.print(f"{row['users']:>7} users, in the database: "
                          + ", ".join(f"{k} {v} ms" for k, v in row["database_ms"].items()))
    measured = [r for r in rows if "latency_ms" in r]
    slow = [r for r in measured if r["latency_ms"]["p50"] >= GOAL_P50_MS or r["failed_requests"]]
    console.print(f"{args.requests} requests per row, {args.concurrency} at a time; "
                  f"whole run {time.monotonic() - began:.0f} s; load average {machine['load_average_1m']} before")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    if slow:
        console.print(f"{len(slow)} row(s) at or over p50 {GOAL_P50_MS} ms or with errors")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
