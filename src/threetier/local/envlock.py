"""One `up`/`down` at a time per environment (a user and a drill may race): an flock
on <state dir>/.lock. The watchdog takes the same lock (`Watchdog.locked`) to rebuild."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local.probes import Clock, wait_until

LOCK_TIMEOUT = 120.0


@contextmanager
def exclusive(root: Path, env_name: str, clock: Clock) -> Iterator[None]:
    """Hold the environment's lock for the block; wait a bounded time for it."""
    with open(root / ".lock", "w") as handle:
        if not wait_until(lambda: _try_lock(handle), timeout=LOCK_TIMEOUT, interval=0.2, clock=clock):
            raise ThreetierError(
                f"another `threetier up` or `down` is still running for {env_name!r}",
                fix="wait for it to finish, then try again",
            )
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _try_lock(handle) -> bool:  # noqa: ANN001 - an open file
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
