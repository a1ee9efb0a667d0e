"""Secrets the twin generates once and keeps: files of mode 0600 in <state>/secrets.

Values are never printed, logged or written into a config file; configs carry the
file's path and the process that needs the value reads it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from threetier.runtime import contract

DB_MASTER_PASSWORD = "db-master-password"
DB_APP_PASSWORD = contract.DB_PASSWORD.name  # the secrets layout every runtime shares
DB_REPLICATION_PASSWORD = "db-replication-password"  # multi-AZ: the standby's login
DJANGO_SECRET_KEY = contract.SECRET_KEY.name


def ensure_secret(directory: Path, name: str, *, nbytes: int = 32, reader_gid: int | None = None) -> Path:
    """Create `directory/name` with a fresh random value unless it exists; return its path.

    `reader_gid`: one group may read it too (mode 0640, group-owned), e.g. the web
    instances' unprivileged user for the two secrets they need; otherwise 0600.
    """
    path = directory / name
    if not path.exists():
        # O_EXCL + mode at creation: the value is never readable by anyone else, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(nbytes))
    contract.secure_secret_file(path, app_gid=reader_gid)
    return path


def read_secret(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()
