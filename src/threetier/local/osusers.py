"""The unprivileged OS users the twin's programs run as when it is started by root:
creating one on demand, and finding what stands between such a user and a path."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

from threetier.errors import ThreetierError


def ensure_system_user(name: str, why: str) -> str:
    """The system user `name`, created (no home, no shell) unless it exists; `why` says
    in an error message what needs it."""
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],  # noqa: S607 - from PATH
        capture_output=True, text=True,
    )
    try:  # another twin may have created it at the same moment: that is fine too
        pwd.getpwnam(name)
    except KeyError:
        raise ThreetierError(
            f"could not create the OS user {name!r} {why}: {result.stderr.strip() or result.returncode}",
            fix=f"create it yourself: useradd --system --no-create-home --shell /usr/sbin/nologin {name}",
        ) from None
    return name


def closed_parent(path: Path, user: str) -> Path | None:
    """The first directory on the way to `path` (itself included) that `user` may not
    enter, or None. Only ownership and the others' x bit count: a user that does not
    exist yet owns nothing, and the twin never relies on group bits for traversal."""
    try:
        uid: int | None = pwd.getpwnam(user).pw_uid
    except KeyError:
        uid = None
    for parent in reversed([path, *path.parents]):
        try:
            info = parent.stat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid == uid:
            continue
        if not info.st_mode & stat.S_IXOTH:
            return parent
    return None


def owner_ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def chown_tree(root: Path, user: str) -> int:
    """Give `root` and everything under it to `user` (its primary group too); return how
    many entries changed. Only entries owned by someone else are touched, so a second
    call changes nothing."""
    uid, gid = owner_ids(user)
    changed = 0
    paths = [str(root)]
    for directory, dirnames, filenames in os.walk(root):  # symlinks are not followed
        paths.extend(os.path.join(directory, name) for name in (*dirnames, *filenames))
    for path in paths:
        info = os.lstat(path)
        if (info.st_uid, info.st_gid) != (uid, gid):
            os.lchown(path, uid, gid)
            changed += 1
    return changed
