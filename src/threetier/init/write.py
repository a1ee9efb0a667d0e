"""Writing the parameters file: atomically, and never over an existing one unless asked.

A reader (`threetier up` of another shell, an editor) sees the old file or the whole new
one, never half of it: the text goes to a temporary file in the same directory, reaches
the disk, and then takes the file's name in one step.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from threetier.errors import ThreetierError

# No secret is ever in a parameters file (passwords are generated elsewhere): readable by all.
FILE_MODE = 0o644


class ParametersExistError(ThreetierError):
    """The parameters file is there already and --force was not given."""


def refuse_existing(path: Path) -> None:
    if path.exists():
        raise ParametersExistError(
            f"{path} exists; init does not replace a parameters file unless told to",
            fix=f"choose another NAME, or pass --force to replace {path.name} (its contents are lost)",
        )


def write_parameters(path: Path, text: str, *, force: bool) -> None:
    """Write `text` to `path` atomically; without `force`, ParametersExistError if `path` exists
    (also when another process creates it meanwhile: the new name is linked, not renamed)."""
    if not force:
        refuse_existing(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, FILE_MODE)
        if force:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                refuse_existing(path)
                raise
        _sync_directory(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _sync_directory(directory: Path) -> None:
    """The new name reaches the disk too (the directory entry), where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
