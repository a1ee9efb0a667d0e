"""The web servers' runtime dependencies as a wheelhouse: every wheel requirements/runtime.txt
pins, for CPython 3.11 on Amazon Linux 2023 (manylinux, x86_64 or aarch64), each checked
against the lock's sha256. The EC2 bundle carries it, so a booting server installs with
`pip install --no-index --require-hashes` and needs no package index.

Building it needs PyPI once per lock file: it is cached under build/wheelhouse/ (ignored
by git), keyed by the lock file's hash and the architecture, so synth stays fast and
offline after the first build. `python -m threetier.aws.wheelhouse [ARCH...]` builds it
ahead (scripts/test does, before its parallel workers could race to).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.paths import project_root

ARCHITECTURES = ("x86_64", "aarch64")
# Amazon Linux 2023's glibc is 2.34, so every manylinux tag up to 2.34 runs there. pip does
# not widen a `--platform` on its own: each tag is listed.
GLIBC_MINOR = 34


def platform_tags(architecture: str) -> list[str]:
    return [f"manylinux_2_{minor}_{architecture}" for minor in range(GLIBC_MINOR, 16, -1)] + [
        f"manylinux2014_{architecture}"
    ]
PYTHON_VERSION = "3.11"


def lock_file(root: Path | None = None) -> Path:
    return (root or project_root()) / "requirements" / "runtime.txt"


def lock_hash(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()[:16]


def cache_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "build" / "wheelhouse"


def wheelhouse(architecture: str, *, root: Path | None = None) -> Path:
    """The cached wheelhouse of `architecture` ("x86_64" | "aarch64"), built if missing."""
    if architecture not in ARCHITECTURES:
        raise ThreetierError(f"no wheelhouse for {architecture!r}", fix=f"use one of {', '.join(ARCHITECTURES)}")
    lock = lock_file(root)
    if not lock.is_file():
        raise ThreetierError(f"{lock} is missing", fix="run scripts/lock-runtime")
    cache = cache_dir(root)
    target = cache / f"{lock_hash(lock)}-{architecture}"
    if (target / ".complete").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # another synth or test worker may be building it
        if not (target / ".complete").is_file():
            _download(lock, architecture, target)
    return target


def _download(lock: Path, architecture: str, target: Path) -> None:
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--require-hashes", "--no-deps", "--only-binary=:all:",
        *(arg for tag in platform_tags(architecture) for arg in ("--platform", tag)),
        "--python-version", PYTHON_VERSION,
        "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none",
        "--requirement", str(lock), "--dest", str(partial),
    ]
    print(f"threetier: building the {architecture} wheelhouse for {lock.name} (once per lock file)", file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise ThreetierError(
            f"could not download the {architecture} wheelhouse of {lock}",
            details=[line for line in result.stderr.splitlines() if line.strip()][-8:],
            fix="check the connection to PyPI (needed once per lock file; then it is cached in build/wheelhouse)",
        )
    (partial / ".complete").write_text(lock_hash(lock) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def main(argv: list[str]) -> int:
    try:
        for architecture in argv or ["x86_64"]:
            print(wheelhouse(architecture))
    except ThreetierError as exc:
        print(f"threetier: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
