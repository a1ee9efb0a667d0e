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
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from threetier.apps.identity import AppSource
from threetier.errors import ThreetierError
from threetier.paths import tool_checkout

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
    return (root or tool_checkout()) / "requirements" / "runtime.txt"


def lock_hash(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()[:16]


def cache_dir(root: Path | None = None) -> Path:
    return (root or tool_checkout()) / "build" / "wheelhouse"


def wheelhouse(architecture: str, *, root: Path | None = None) -> Path:
    """The cached wheelhouse of `architecture` ("x86_64" | "aarch64"), built if missing."""
    if architecture not in ARCHITECTURES:
        raise ThreetierError(f"no wheelhouse for {architecture!r}", fix=f"use one of {', '.join(ARCHITECTURES)}")
    lock = lock_file(root)
    if not lock.is_file():
        raise ThreetierError(f"{lock} is missing", fix="run scripts/lock-runtime")
    return cached(cache_dir(root) / f"{lock_hash(lock)}-{architecture}",
                  lambda target: _download(lock, architecture, target))


def cached(target: Path, build: Callable[[Path], None]) -> Path:
    """`target` once complete, built by `build(target)` under the cache's lock if it is not."""
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # another synth or test worker may be building it
        if not (target / ".complete").is_file():
            build(target)
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


# --- a user's app: its requirements, resolved and locked here ------------------------------

APP_LOCK = "requirements.lock"
# A wheel's file name: distribution-version(-build)?-python-abi-platform.whl (PEP 427).
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-")


def app_wheelhouse(app: AppSource, architecture: str, *, root: Path | None = None) -> Path:
    """The user's app's wheelhouse for `architecture`: its requirements and their
    dependencies, resolved for CPython app.python on Amazon Linux 2023, as wheels, with
    the lock that pins each one by sha256 (`requirements.lock`): the bundle carries both,
    the boot installs with `--require-hashes`, the Fargate image builds from the lock.
    Cached under build/wheelhouse/app-<key>-<arch>, keyed by the requirements' text."""
    if architecture not in ARCHITECTURES:
        raise ThreetierError(f"no wheelhouse for {architecture!r}", fix=f"use one of {', '.join(ARCHITECTURES)}")
    key = hashlib.sha256(f"{app.requirements_text()}\n{architecture}".encode()).hexdigest()[:16]
    return cached(cache_dir(root) / f"app-{key}-{architecture}",
                  lambda target: _download_app(app, architecture, target))


def lock_lines(house: Path) -> list[str]:
    """`name==version --hash=sha256:...` for every wheel in `house` (what pip's hash mode wants)."""
    lines = []
    for wheel in sorted(house.glob("*.whl")):
        match = _WHEEL.match(wheel.name)
        if match:
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            lines.append(f"{match['name']}=={match['version']} --hash=sha256:{digest}")
    return lines


def _download_app(app: AppSource, architecture: str, target: Path) -> None:
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    requirements = partial / "requirements.in"
    requirements.write_text("\n".join(app.requirement_lines()) + "\n")
    abi = "cp" + app.python.replace(".", "")
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
        *(arg for tag in platform_tags(architecture) for arg in ("--platform", tag)),
        "--python-version", app.python, "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
        "--requirement", str(requirements), "--dest", str(partial),
    ]
    print(f"threetier: building the app's {architecture} wheelhouse (once per change of its requirements)",
          file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=app.directory)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise ThreetierError(
            f"could not download the app's {architecture} wheelhouse for Python {app.python}",
            details=[line for line in result.stderr.splitlines() if line.strip()][-8:],
            fix="every requirement needs a wheel for manylinux (no sdist builds on the servers); "
                "check the requirement named above, and the connection to the package index",
        )
    requirements.unlink()
    (partial / APP_LOCK).write_text("# Generated by threetier from the app's requirements: every wheel, by sha256.\n"
                                    + "\n".join(lock_lines(partial)) + "\n")
    (partial / ".complete").write_text("")
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
