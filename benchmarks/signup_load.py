"""What concurrent sign-ups cost the readers: /users/ latency through the twin's LB while
16 clients sign up as fast as they can, without and with the sign-up throttle.

    .venv/bin/python benchmarks/signup_load.py [--signers 16 --requests 100 --json out.json]

Each sign-up hashes a password (PBKDF2, ~0.4 s of CPU). "unthrottled" signs up as staff,
whom the throttles exempt: exactly the cost an anonymous client could impose before the
throttle. "throttled" signs up anonymously, as anyone on the internet would: the
per-client limit (THREETIER_SIGNUP_RATE, 10/minute) and the overall one (60/minute)
answer 429 before any hashing. One throwaway twin (2 instances), torn down afterwards.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table
from twin_throughput import machine_info, running_twin, twin_spec

from threetier.bench.run import bench
from threetier.local.postgres import demote_kwargs

STAFF_PASSWORD = "bench-staff-pass-7731"  # noqa: S105 - a throwaway twin's throwaway account


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signers", type=int, default=16, help="clients signing up at once")
    parser.add_argument("--requests", "-n", type=int, default=100, help="/users/ requests per measurement")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


class SignUps:
    """`signers` threads creating users until stopped; counts each status code."""

    def __init__(self, url: str, ca: str, signers: int, headers: dict[str, str], prefix: str):
        self.url, self.ca, self.headers, self.prefix = url, ca, headers, prefix
        self.counter, self.lock, self.stop = itertools.count(), threading.Lock(), threading.Event()
        self.statuses: dict[int, int] = {}
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(signers)]

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            number = next(self.counter)
            try:
                status = session.post(f"{self.url}/api/users/", verify=self.ca, timeout=60, headers=self.headers, json={
                    "user_id": f"{self.prefix}{number:06d}", "user_name": "load", "password": "load-pass-5532",
                }).status_code
            except requests.RequestException:
                status = 0
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1

    def __enter__(self) -> SignUps:
        for thread in self.threads:
            thread.start()
        time.sleep(2)  # let them get going
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)


def wait_until_serving(url: str, ca: str, timeout: float = 120) -> None:
    """Until /users/ answers 200 five times in a row (instances healthy again, no backlog)."""
    deadline, streak = time.monotonic() + timeout, 0
    while streak < 5 and time.monotonic() < deadline:
        try:
            streak = streak + 1 if requests.get(url + "/users/", verify=ca, timeout=10).status_code == 200 else 0
        except requests.RequestException:
            streak = 0
        time.sleep(0.5)


def staff_token(twin, url: str, ca: str) -> str:
    env = {**twin.manage_env(), "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD}
    subprocess.run(
        [sys.executable, "-m", "threetier.webapp", "createsuperuser", "--noinput", "--user_id", "benchstaff",
         "--user_name", "Bench"],
        env=env, cwd=twin.layout.root, check=True, capture_output=True, stdin=subprocess.DEVNULL,
        **demote_kwargs(twin.web_user),
    )
    answer = requests.post(f"{url}/api/auth/login/", json={"user_id": "benchstaff", "password": STAFF_PASSWORD},
                           verify=ca, timeout=30)
    answer.raise_for_status()
    return answer.json()["token"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console, err = Console(width=140), Console(stderr=True)
    machine, rows = machine_info(), []
    with running_twin(twin_spec(2, env="signup")) as (twin, _):
        url, ca = twin.url, str(twin.ca_cert_path)
        token = staff_token(twin, url, ca)

        def users_page(label: str, statuses: dict[int, int] | None = None) -> None:
            bench(url + "/users/", requests=10, concurrency=2, ca_cert=twin.ca_cert_path)
            began = time.monotonic()
            result = bench(url + "/users/", requests=args.requests, concurrency=4, ca_cert=twin.ca_cert_path)
            took = time.monotonic() - began
            rows.append({"case": label, "seconds": round(took, 1), "signups": dict(statuses or {}), **result})
            err.print(f"{label}: /users/ p50 {result['latency_ms']['p50']:.0f} ms, {result['status_codes']}; "
                      f"sign-ups {statuses}")

        users_page("idle")
        # Throttled first: the unthrottled run leaves a backlog of hashing behind it.
        with SignUps(url, ca, args.signers, {}, "an") as load:
            users_page(f"{args.signers} signing up, throttled (anonymous)", load.statuses)
        wait_until_serving(url, ca)
        with SignUps(url, ca, args.signers, {"Authorization": f"Token {token}"}, "st") as load:
            users_page(f"{args.signers} signing up, unthrottled (as staff)", load.statuses)

    table = Table(title=f"/users/ while clients sign up — {machine['cpus']} × {machine['cpu_model']}")
    for name in ("case", "/users/ p50 ms", "p95 ms", "/users/ not 200", "sign-ups 201", "refused 429", "other"):
        table.add_column(name, justify="left" if name == "case" else "right")
    for row in rows:
        latency = row["latency_ms"]
        other = sum(n for code, n in row["signups"].items() if code not in (201, 429))
        table.add_row(row["case"], f"{latency['p50']:.0f}", f"{latency['p95']:.0f}", str(row["failed_requests"]),
                      str(row["signups"].get(201, 0)), str(row["signups"].get(429, 0)), str(other))
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    raise SystemExit(main())
