"""gunicorn's config module for the twin's instances (`--config python:threetier.local.gunicorn_conf`).

It runs in the gunicorn master before any worker forks: it reads the Django secret
key from the 0600 file named by THREETIER_SECRET_KEY_FILE into THREETIER_SECRET_KEY
(the webapp's contract), so the value never appears in supervisord.conf or in the
environment of the other programs (PostgreSQL, Caddy).
"""

import os

_path = os.environ.pop("THREETIER_SECRET_KEY_FILE", None)
if _path and "THREETIER_SECRET_KEY" not in os.environ:
    with open(_path, encoding="utf-8") as _handle:
        os.environ["THREETIER_SECRET_KEY"] = _handle.read().strip()
