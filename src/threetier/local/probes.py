"""Readiness is probed, not assumed: bounded waits and HTTP(S) checks on loopback."""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Clock:
    """Time and sleep, injectable so a unit test can replay a wait without sleeping."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def wait_until(
    check: Callable[[], bool], *, timeout: float, interval: float = 0.1, clock: Clock | None = None
) -> bool:
    """Call `check` until it returns True or `timeout` seconds pass; True if it did."""
    clock = clock or Clock()
    deadline = clock.now() + timeout
    while True:
        if check():
            return True
        if clock.now() >= deadline:
            return False
        clock.sleep(interval)


def http_status(
    port: int,
    path: str = "/",
    *,
    host: str = "127.0.0.1",
    tls_ca: Path | None = None,
    timeout: float = 2.0,
    headers: dict[str, str] | None = None,
) -> int | None:
    """The status of GET http(s)://host:port/path, or None when nothing answers.

    With `tls_ca` the request is HTTPS and the certificate is verified against that CA.
    """
    try:
        if tls_ca is not None:
            context = ssl.create_default_context(cafile=str(tls_ca))
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=context
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ssl.SSLError):
        return None
