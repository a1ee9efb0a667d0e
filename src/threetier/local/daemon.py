"""The shape the twin's own long-running programs (watchdog, replacer) share: a loop
that runs until supervisord's SIGTERM (or Ctrl-C) asks it to stop after its current step."""

from __future__ import annotations

import signal
from typing import Protocol


class Loop(Protocol):
    stopping: bool

    def run(self) -> None: ...


def run_until_signalled(loop: Loop) -> int:
    """Run `loop`; SIGTERM and SIGINT set its `stopping` flag instead of killing it mid-step."""

    def stop(signum, frame) -> None:  # noqa: ANN001, ARG001
        loop.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    loop.run()
    return 0
