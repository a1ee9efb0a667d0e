"""Child process: run a fixed number of requests at a fixed concurrency with Locust.

    python -m threetier.bench.locust_worker --url URL --requests 2000 --concurrency 100 \
        --result result.json [--ca-cert root.crt]

Writes one JSON object (see `BenchResult` in `threetier.bench.run`). Loopback-only
targets are enforced by the caller, not here.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import ssl  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
from locust import FastHttpUser, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.exception import StopUser  # noqa: E402

INSTANCE_HEADER = "X-Threetier-Instance"


def run(url: str, requests: int, concurrency: int, ca_cert: str | None, timeout: float) -> dict:
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    tickets = iter(range(requests))
    spread: Counter[str] = Counter()
    statuses: Counter[str] = Counter()

    def ssl_context() -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=ca_cert) if ca_cert else ssl.create_default_context()
        return context

    class Visitor(FastHttpUser):
        host = base
        wait_time = staticmethod(lambda: 0)
        network_timeout = timeout
        connection_timeout = timeout
        insecure = ca_cert is None and parts.scheme == "https"
        # staticmethod: a plain function here would be bound to the user and get `self`.
        ssl_context_factory = staticmethod(ssl_context) if ca_cert else None

        @task
        def fetch(self) -> None:
            if next(tickets, None) is None:
                raise StopUser()
            with self.client.get(path, name=path, catch_response=True) as response:
                statuses[str(response.status_code)] += 1
                spread[response.headers.get(INSTANCE_HEADER, "(none)") if response.headers else "(none)"] += 1
                if response.status_code != 200:
                    response.failure(f"HTTP {response.status_code}")

    env = Environment(user_classes=[Visitor], events=events)
    runner = env.create_local_runner()
    started = time.perf_counter()
    # The generator's own CPU during the load (not its imports): utime + stime of this process.
    cpu_started = time.process_time()
    runner.start(concurrency, spawn_rate=max(concurrency, 1) * 100)
    deadline = started + max(60.0, requests * timeout / max(concurrency, 1) + 30)
    # Wait for every user to spend its tickets; bounded in time whatever happens.
    gevent.sleep(0.05)
    while runner.user_count > 0 and time.perf_counter() < deadline:
        gevent.sleep(0.05)
    elapsed = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    runner.quit()
    total = env.stats.total
    done = total.num_requests
    return {
        "url": url,
        "requests": done,
        "concurrency": concurrency,
        "failed_requests": total.num_failures,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(done / elapsed, 1) if elapsed > 0 else 0.0,
        "latency_ms": {
            "mean": round(total.avg_response_time, 1),
            "p50": total.get_response_time_percentile(0.50),
            "p95": total.get_response_time_percentile(0.95),
            "p99": total.get_response_time_percentile(0.99),
            "max": round(total.max_response_time, 1),
        },
        "status_codes": dict(statuses),
        "instances": dict(spread),
        "errors": {
            **{str(err.error): err.occurrences for err in env.stats.errors.values()},
            # Exceptions inside the load generator itself (a bad TLS setup, say) never
            # become requests; without them a broken run would look like an empty one.
            **{str(exc["msg"]): exc["count"] for exc in runner.exceptions.values()},
        },
        "timed_out": runner.user_count > 0,
        "generator_cpu_seconds": round(cpu_seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--ca-cert")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--result", required=True)
    args = parser.parse_args()
    result = run(args.url, args.requests, args.concurrency, args.ca_cert, args.timeout)
    with open(args.result, "w", encoding="utf-8") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
