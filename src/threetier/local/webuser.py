"""The OS user the web instances (gunicorn) and `up`'s one-off steps (migrate,
collectstatic) run as when the twin is started by root: an unprivileged `threetier-web`,
as the EC2 web servers run the app as a user of its own.

What it may touch: read the two secrets the app needs (the Django secret key and the
app role's password: group-readable 0640 files in a 0710 secrets/), write media/ and
static/ (it owns them). The master and replication passwords stay root's 0600 files.

It must also reach the Python that runs threetier. An interpreter it cannot enter (say
pyenv's under a 0700 /root) leaves the instances running as root, with a warning from
`up` saying what to open up: refusing would make the twin unusable on such a machine.
"""

from __future__ import annotations

import os
import stat
import sys
import sysconfig
from pathlib import Path

from threetier.local import osusers
from threetier.local.layout import Layout
from threetier.local.secrets import DB_APP_PASSWORD, DJANGO_SECRET_KEY

WEB_OS_USER = "threetier-web"
WEB_SECRETS = (DJANGO_SECRET_KEY, DB_APP_PASSWORD)


def runtime_dirs() -> list[Path]:
    """Directories a web process must enter: the venv's bin, the real interpreter's, the
    standard library (libpython sits next to it), installed packages, threetier itself."""
    import threetier  # noqa: PLC0415

    return [
        Path(sys.executable).parent,
        Path(os.path.realpath(sys.executable)).parent,
        Path(os.__file__).resolve().parent,
        Path(sysconfig.get_paths()["purelib"]).resolve(),
        Path(threetier.__file__).resolve().parent,
    ]


def runtime_blocker(user: str) -> Path | None:
    """The first path that keeps `user` from running this Python and threetier, or None."""
    for directory in runtime_dirs():
        closed = osusers.closed_parent(directory, user)
        if closed is not None:
            return closed
    interpreter = Path(os.path.realpath(sys.executable))
    if not interpreter.stat().st_mode & stat.S_IXOTH:
        return interpreter
    return None


def planned_web_user() -> str | None:
    """WEB_OS_USER when we are root and it can run this Python; None: as ourselves."""
    if os.geteuid() != 0 or runtime_blocker(WEB_OS_USER) is not None:
        return None
    return WEB_OS_USER


def root_fallback_warning() -> str | None:
    """Why the instances run as root although we are root (None when they do not)."""
    if os.geteuid() != 0:
        return None
    blocker = runtime_blocker(WEB_OS_USER)
    if blocker is None:
        return None
    return (
        f"warning: the web instances run as root: the OS user {WEB_OS_USER!r} cannot reach the Python "
        f"that runs threetier ({blocker} is closed to others). To run them unprivileged: chmod o+x {blocker}, "
        "or rebuild .venv from a Python installed outside it (PYTHON=/usr/bin/python3.11 ./scripts/bootstrap)"
    )


def ensure_web_user(planned: str | None) -> str | None:
    """The planned user (see planned_web_user), created unless it exists."""
    return None if planned is None else osusers.ensure_system_user(planned, "that the web instances run as")


def web_os_user() -> str | None:
    """As root, the web user, created unless it exists (scripts/test does this before its
    parallel workers could race to create it); None otherwise."""
    return osusers.ensure_system_user(WEB_OS_USER, "that the web instances run as") if os.geteuid() == 0 else None


def give_shared_dirs(layout: Layout, user: str) -> None:
    """media/ and static/ belong to the web user; a state dir from before it existed
    (root-owned files) is converted here, once."""
    for directory in (layout.media, layout.static):
        osusers.chown_tree(directory, user)
