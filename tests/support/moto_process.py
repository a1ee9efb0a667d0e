"""A moto server in its own process, on a free loopback port.

moto keeps its fake AWS in process-global state, so two in-process servers (or a
server and `mock_aws`) in one test worker share and reset each other's resources.
One process per test module keeps every module's account to itself.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from threetier.local.ports import free_port


@contextmanager
def moto_server(
    start_timeout: float = 30.0,
    *,
    server: Path | None = None,
    host: str = "127.0.0.1",
    log: Path | None = None,
) -> Iterator[str]:
    """Yield the endpoint URL of a fresh moto server; stop it afterwards.

    `server` is a script run instead of `moto.server` (the patched one of the CDK CLI test),
    `host` the name the endpoint URL uses, `log` where the server's output goes."""
    port = free_port()
    endpoint = f"http://{host}:{port}"
    command = [sys.executable, str(server)] if server else [sys.executable, "-m", "moto.server"]
    with contextlib.ExitStack() as files:
        out = files.enter_context(log.open("w")) if log else subprocess.DEVNULL
        process = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    said = f": {log.read_text()[-2000:]}" if log else ""
                    raise RuntimeError(f"the moto server did not start on {endpoint}{said}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
