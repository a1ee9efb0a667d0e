"""gunicorn's config module on every runtime (`--config python:threetier.runtime.gunicorn_conf`).

It runs in the gunicorn master before any worker forks:

- It reads the Django secret key from the file named by THREETIER_SECRET_KEY_FILE into
  THREETIER_SECRET_KEY (the webapp's contract), so the value is never in a unit file,
  supervisord.conf or the environment of any other program. Fargate passes the value
  itself (ECS secrets) and no file: then there is nothing to do.
- SIGQUIT stops gracefully, as SIGTERM does. nginx's graceful stop is SIGQUIT (its
  SIGTERM drops requests in flight); in the twin an instance's nginx and gunicorn share
  one process group, which supervisord stops as one, so both must take the same signal
  as "finish what you are doing". systemd (EC2) and ECS (Fargate) send SIGTERM.
"""

from __future__ import annotations

import os
import signal

from threetier.runtime.contract import SECRET_KEY


def load_secret_key(environ: dict = os.environ) -> None:  # noqa: B006 - the process environment, on purpose
    """THREETIER_SECRET_KEY_FILE's content → THREETIER_SECRET_KEY (the variable is removed)."""
    path = environ.pop(SECRET_KEY.variable, None)
    if path and SECRET_KEY.value_variable not in environ:
        with open(path, encoding="utf-8") as handle:
            environ[SECRET_KEY.value_variable] = handle.read().strip()


def when_ready(server) -> None:  # noqa: ANN001 - gunicorn's Arbiter
    """The master: SIGQUIT is handled as SIGTERM (graceful)."""
    server.handle_quit = server.handle_term


def post_worker_init(worker) -> None:  # noqa: ANN001 - a gunicorn Worker
    """Each worker: SIGQUIT finishes the requests in flight, as SIGTERM does."""
    signal.signal(signal.SIGQUIT, worker.handle_exit)
    signal.siginterrupt(signal.SIGQUIT, False)


load_secret_key()
