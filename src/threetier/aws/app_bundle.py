"""The application bundle a web server downloads at boot (seed 001, requirement 5).

Only what a server runs, staged as a directory that CDK zips into one S3 asset:

    src/threetier/...    the app (webapp, runtime) and the boot program with its few helpers
    requirements.txt     requirements/runtime.txt: the hash-locked runtime dependencies
    wheelhouse/*.whl     every wheel of that lock for the server's architecture (wheelhouse.py)

No tool code or tool dependency (CDK, linters, load tests, moto, pytest, the twin's
PostgreSQL and Caddy): the boot installs the wheelhouse with `pip install --no-index
--no-compile --require-hashes`, so a scale-out needs no package index.

The staged directory is keyed by what is in it (build/bundle/<key>/, ignored by git):
an unchanged app and lock reuse it, and the asset hash stays the same.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from threetier.aws import wheelhouse
from threetier.paths import project_root

# What a server imports, relative to src/ (the rehearsal proves it is enough).
MODULES = (
    "threetier/__init__.py",
    "threetier/errors.py",
    "threetier/dbroles.py",
    "threetier/runtime",
    "threetier/webapp",
    "threetier/aws/__init__.py",
    "threetier/aws/api.py",
    "threetier/aws/boot.py",
)
SKIPPED = ("__pycache__", ".pyc", ".pyo")


def _files(src: Path) -> list[Path]:
    found = []
    for entry in MODULES:
        path = src / entry
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        found += [p for p in candidates if not any(part.endswith(SKIPPED) for part in p.parts)]
    return found


def stage_bundle(architecture: str = "x86_64", *, root: Path | None = None) -> Path:
    """The bundle's directory for `architecture`, staged unless it already is."""
    root = root or project_root()
    src = root / "src"
    house = wheelhouse.wheelhouse(architecture, root=root)
    lock = wheelhouse.lock_file(root)
    files = _files(src)
    digest = hashlib.sha256(f"{architecture}\n{wheelhouse.lock_hash(lock)}\n".encode())
    for path in files:
        digest.update(f"{path.relative_to(src)}\n".encode() + path.read_bytes())
    target = root / "build" / "bundle" / digest.hexdigest()[:16]
    if (target / ".complete").is_file():
        return target
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    for path in files:
        copy = partial / "src" / path.relative_to(src)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    shutil.copy2(lock, partial / "requirements.txt")
    (partial / "wheelhouse").mkdir()
    for wheel in sorted(house.glob("*.whl")):
        os.link(wheel, partial / "wheelhouse" / wheel.name)  # the cache's files, not copies
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    (target / ".complete").write_text("")
    return target


def app_bundle(scope: Construct, construct_id: str, *, architecture: str = "x86_64",
               root: Path | None = None) -> s3_assets.Asset:
    """The staged bundle as an S3 asset (a zip; CDK uploads it at deploy time)."""
    return s3_assets.Asset(scope, construct_id, path=str(stage_bundle(architecture, root=root)), exclude=[".complete"])
