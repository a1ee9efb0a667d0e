"""Run a benchmark and describe its result, with the load generator's own cost.

>>> result = bench("https://127.0.0.1:8443/users/", engine="wrk", duration=10, concurrency=100)
>>> result["requests_per_second"], result["generator"]["cpu_ms_per_request"], result["generator"]["saturated"]

Two engines. wrk (the system's, `./scripts/ensure-wrk`) runs for a duration and costs a
few tens of microseconds of CPU per HTTPS request, so it can measure the system.
Locust (a dependency) sends an exact number of requests from one gevent process, which
spends 1.5-1.8 ms of its own CPU per HTTPS request and fills a core near 700 req/s.
Either way the result says what the generator spent per request and whether it was
saturated (then the number is the generator's ceiling, not the system's).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from threetier.bench.wrk import generator_cost, run_wrk, wait_with_rusage, wrk_executable
from threetier.errors import ThreetierError

ENGINES = ("auto", "wrk", "locust")
DEFAULT_REQUESTS = 2000
DEFAULT_DURATION_SECONDS = 10.0


def choose_engine(engine: str, *, requests: int | None, duration: float | None) -> str:
    """auto: wrk when it is installed and no request count was asked for (wrk knows
    durations, not counts); Locust otherwise."""
    if engine not in ENGINES:
        raise ThreetierError(f"unknown engine {engine!r}", fix=f"use one of {', '.join(ENGINES)}")
    if engine == "wrk" and requests is not None and duration is None:
        raise ThreetierError("wrk runs for a duration, not a number of requests",
                             fix="pass --duration SECONDS with --engine wrk, or --engine locust for -n")
    if engine == "locust" and duration is not None:
        raise ThreetierError("Locust sends a number of requests, not a duration",
                             fix="pass -n REQUESTS with --engine locust, or --engine wrk for --duration")
    if engine != "auto":
        return engine
    if duration is not None:
        return "wrk"
    return "wrk" if requests is None and wrk_executable() else "locust"


def ensure_loopback(url: str, *, allow_remote: bool = False) -> None:
    """Load goes to this machine unless the user says otherwise (a deployed URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ThreetierError(f"not an http(s) URL: {url!r}", fix="pass e.g. https://localhost:8443/")
    if allow_remote:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, None)}
    except socket.gaierror as exc:
        raise ThreetierError(f"cannot resolve {parts.hostname!r}: {exc}", fix="check the URL") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ThreetierError(
            f"{parts.hostname} is not a loopback address; bench only loads this machine by default",
            fix="pass --allow-remote to load a system you own (a deployed environment)",
        )


def bench(
    url: str,
    *,
    requests: int | None = None,
    concurrency: int = 100,
    ca_cert: Path | None = None,
    timeout: float = 30.0,
    allow_remote: bool = False,
    engine: str = "locust",
    duration: float | None = None,
) -> dict:
    """Load `url`, `concurrency` at a time: `requests` GETs (Locust) or for `duration`
    seconds (wrk); return the measured numbers and the generator's own cost."""
    chosen = choose_engine(engine, requests=requests, duration=duration)
    if (requests is not None and requests < 1) or concurrency < 1 or (duration is not None and duration < 1):
        raise ThreetierError("requests, concurrency and duration must be at least 1")
    ensure_loopback(url, allow_remote=allow_remote)
    if chosen == "wrk":
        if ca_cert is not None:
            verify_once(url, ca_cert)  # wrk itself does not verify certificates
        result = run_wrk(url, duration=duration or DEFAULT_DURATION_SECONDS, connections=concurrency,
                         threads=min(concurrency, os.cpu_count() or 1), timeout=timeout, count=True)
    else:
        result = locust_bench(url, requests=requests or DEFAULT_REQUESTS, concurrency=concurrency,
                              ca_cert=ca_cert, timeout=timeout)
    if result["requests"] == 0:
        problems = "; ".join(result["errors"]) or "no request was sent"
        raise ThreetierError(
            f"the load generator sent no request to {url}: {problems}",
            fix="check the URL with curl, and --ca-cert for HTTPS with a private CA",
        )
    return result


def verify_once(url: str, ca_cert: Path) -> None:
    """One GET that checks the certificate against `ca_cert` (wrk does not)."""
    import ssl  # noqa: PLC0415
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    context = ssl.create_default_context(cafile=str(ca_cert))
    try:
        urllib.request.urlopen(url, timeout=10, context=context).close()  # noqa: S310 - http(s) only, checked above
    except urllib.error.HTTPError:
        pass  # an answer: the certificate was accepted
    except (urllib.error.URLError, OSError) as exc:
        raise ThreetierError(f"{url}: {exc}", fix="check the URL and --ca-cert") from None


def locust_bench(url: str, *, requests: int, concurrency: int, ca_cert: Path | None, timeout: float) -> dict:
    """Locust in a child process (it monkey-patches the standard library with gevent)."""
    with tempfile.TemporaryDirectory(prefix="threetier-bench-") as tmp:
        result_file = Path(tmp) / "result.json"
        command = [
            sys.executable, "-m", "threetier.bench.locust_worker",
            "--url", url, "--requests", str(requests), "--concurrency", str(min(concurrency, requests)),
            "--timeout", str(timeout), "--result", str(result_file),
        ]
        if ca_cert:
            command += ["--ca-cert", str(ca_cert)]
        limit = 120 + requests * timeout / max(concurrency, 1)
        stderr_file = Path(tmp) / "stderr"
        with stderr_file.open("w") as err:
            began = time.monotonic()
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
            try:
                returncode, cpu = wait_with_rusage(process.pid, timeout=limit)
            except ThreetierError:
                raise ThreetierError(f"the load generator did not finish within {limit:.0f} s") from None
            process.returncode = returncode
            wall = time.monotonic() - began
        if returncode != 0 or not result_file.exists():
            tail = "\n".join(stderr_file.read_text().strip().splitlines()[-5:])
            raise ThreetierError(f"the load generator failed (exit {returncode}):\n{tail}")
        result = json.loads(result_file.read_text())
    # One gevent process: one core at most. Its CPU during the load, as it measured it
    # (the process's whole `cpu` includes importing Locust, about a second).
    load_cpu = result.pop("generator_cpu_seconds", cpu)
    result["engine"] = "locust"
    result["generator"] = generator_cost(load_cpu, result["seconds"] or wall, result["requests"], usable_cores=1)
    return result
