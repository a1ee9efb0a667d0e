"""Run a benchmark and describe its result.

>>> result = bench("https://127.0.0.1:8443/users/", requests=2000, concurrency=100)
>>> result["requests_per_second"]
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from threetier.errors import ThreetierError


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
    requests: int = 2000,
    concurrency: int = 100,
    ca_cert: Path | None = None,
    timeout: float = 30.0,
    allow_remote: bool = False,
) -> dict:
    """Send `requests` GETs to `url`, `concurrency` at a time; return the measured numbers."""
    if requests < 1 or concurrency < 1:
        raise ThreetierError("requests and concurrency must be at least 1")
    ensure_loopback(url, allow_remote=allow_remote)
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
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            raise ThreetierError(f"the load generator did not finish within {limit:.0f} s") from None
        if done.returncode != 0 or not result_file.exists():
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise ThreetierError(f"the load generator failed (exit {done.returncode}):\n{tail}")
        result = json.loads(result_file.read_text())
    if result["requests"] == 0:
        problems = "; ".join(result["errors"]) or "no request was sent"
        raise ThreetierError(
            f"the load generator sent no request to {url}: {problems}",
            fix="check the URL with curl, and --ca-cert for HTTPS with a private CA",
        )
    return result
