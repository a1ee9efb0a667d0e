"""The copy of the app's code the twin's instances run (<state>/app/release), as an EC2
web server runs the bundle's copy: never the working tree the user edits, owned by
whoever runs `up` (the web user may read it, not change it, as on EC2). A manifest of
what was copied lets the drills' report name the files the app wrote under its own
directory — state that would be lost with an instance, or differ between instances.

>>> release = copy_release(source, state / "app")
>>> unexpected_writes(release)   # ['db.sqlite3', 'uploads/x.png']
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

# Never part of a release: version control, environments, caches, build output, the twin's state.
EXCLUDED = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "env", "node_modules", ".threetier",
            ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "cdk.out", "dist", ".tox"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
MANIFEST = ".threetier-manifest.json"
RELEASE = "release"


def _ignore(directory: str, names: list[str]) -> set[str]:  # noqa: ARG001 - shutil.copytree's signature
    return {n for n in names if n in EXCLUDED or n.endswith(EXCLUDED_SUFFIXES)}


def release_dir(app_state: Path) -> Path:
    return app_state / RELEASE


def copy_release(source: Path, app_state: Path) -> Path:
    """Copy `source` into <app_state>/release (swapped in whole), with its manifest."""
    target = release_dir(app_state)
    partial = app_state / f".{RELEASE}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    app_state.mkdir(parents=True, exist_ok=True)
    copy_tree(source, partial)
    (partial / MANIFEST).write_text(json.dumps(snapshot(partial), sort_keys=True))
    old = app_state / f".{RELEASE}.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def copy_tree(source: Path, target: Path) -> None:
    """The app's files (no version control, environments or caches), readable by all."""
    shutil.copytree(source, target, ignore=_ignore, symlinks=True)
    readable_by_all(target)


def app_files(source: Path) -> list[Path]:
    """What `copy_tree` copies, in order (for keys: the bundle and image are keyed by them)."""
    return sorted(path for path in source.rglob("*") if path.is_file() and not (
        set(path.relative_to(source).parts) & EXCLUDED) and not path.name.endswith(EXCLUDED_SUFFIXES))


def readable_by_all(root: Path) -> None:
    """Others may read the copy (the twin's web user runs it) and nobody but its owner
    may change it, whatever the source's modes were (a 0700 checkout)."""
    for path in (root, *root.rglob("*")):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o7777
        os.chmod(path, (mode | (0o755 if path.is_dir() else 0o444)) & ~0o022)


def snapshot(root: Path) -> dict[str, list[int]]:
    """Every file under `root` (caches aside): relative path → [size, mtime_ns]."""
    found = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and not path.is_symlink() and not (set(relative.parts) & EXCLUDED) \
                and not path.name.endswith(EXCLUDED_SUFFIXES) and path.name != MANIFEST:
            info = path.stat()
            found[str(relative)] = [info.st_size, info.st_mtime_ns]
    return found


def unexpected_writes(release: Path, *, allowed: tuple[Path, ...] = ()) -> list[str]:
    """Files created or changed under the release since it was copied, outside `allowed`
    (the media and static roots, should they lie inside it)."""
    manifest = release / MANIFEST
    if not manifest.is_file():
        return []
    before = json.loads(manifest.read_text())
    changed = []
    for relative, stat in sorted(snapshot(release).items()):
        if before.get(relative) != stat and not any((release / relative).is_relative_to(a) for a in allowed):
            changed.append(relative)
    return changed
