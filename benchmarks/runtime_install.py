"""What the EC2 boot's install costs (issue 10, item 4): bundle size, install time, pip's
peak memory and the venv's size, measured on the boot's own code.

    .venv/bin/python benchmarks/runtime_install.py [--architecture x86_64] [--json out.json]

Stages the bundle the stack ships (threetier.aws.app_bundle.stage_bundle: code, lock,
wheelhouse), zips it as CDK zips a directory asset (its size is the S3 object a server
downloads), unpacks it under a temporary root and runs `threetier.aws.boot.install_runtime`
there: the venv, `pip install --no-index --no-compile --require-hashes` from the bundle's
wheelhouse, then the byte-compiling. Every command the boot runs is timed and its peak
resident memory read from the kernel (wait4's ru_maxrss: the process and what it waited
for), so pip's number is pip's alone. No network, no index: what a booting server does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

from threetier.aws import boot
from threetier.aws.app_bundle import stage_bundle

MB = 1_000_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architecture", default=platform.machine() if platform.machine() == "aarch64" else "x86_64")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


def tree_bytes(path: Path) -> int:
    """Bytes of the files under `path` (as `du --apparent-size` counts them)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def disk_bytes(path: Path) -> int:
    """Bytes the files under `path` take on disk (as `du` counts them: whole blocks)."""
    return sum(p.lstat().st_blocks * 512 for p in path.rglob("*") if not p.is_symlink())


def zip_bundle(staged: Path, archive: Path) -> int:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:  # as CDK zips a directory asset
        for path in sorted(staged.rglob("*")):
            if path.is_file() and path.name != ".complete":
                bundle.write(path, path.relative_to(staged))
    return archive.stat().st_size


class Recorder:
    """Stands in for threetier.aws.boot.run: the same command, plus its time and peak RSS."""

    def __init__(self) -> None:
        self.steps: list[dict] = []

    def __call__(self, command: Sequence[str], **kwargs: object) -> None:
        began = time.monotonic()
        process = subprocess.Popen(list(command), **kwargs)  # type: ignore[call-overload]
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - began
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:3])} ... failed with exit code {process.returncode}")
        self.steps.append({"command": label(command), "seconds": round(seconds, 2),
                           "peak_rss_mb": round(usage.ru_maxrss * 1024 / MB, 1)})


def label(command: Sequence[str]) -> str:
    text = " ".join(str(part) for part in command)
    for needle, name in (("compileall", "compileall"), (" install ", "pip install"), ("-m venv", "venv")):
        if needle in text:
            return name
    return text[:40]


def measure(architecture: str) -> dict:
    staged = stage_bundle(architecture)
    root = Path(tempfile.mkdtemp(prefix="tt-install-"))
    try:
        layout = boot.Ec2Layout(root)
        layout.app_dir.mkdir(parents=True)
        archive = layout.app_dir / "bundle.zip"
        bundle_bytes = zip_bundle(staged, archive)
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(layout.release)
        recorder, original = Recorder(), boot.run
        boot.run = recorder
        try:
            began = time.monotonic()
            pip_seconds, compile_seconds = boot.install_runtime(layout)
            total = time.monotonic() - began
        finally:
            boot.run = original
        site = next((layout.venv / "lib").glob("python3*/site-packages"))
        compiled = tree_bytes(layout.venv)
        source_only = compiled - sum(p.stat().st_size for p in layout.venv.rglob("*.pyc"))
        return {
            "architecture": architecture,
            "bundle_mb": round(bundle_bytes / MB, 1),
            "wheelhouse_files": len(list((layout.release / "wheelhouse").glob("*.whl"))),
            "packages_installed": len(list(site.glob("*.dist-info"))),
            "venv_mb": round(source_only / MB, 1),
            "venv_compiled_mb": round(compiled / MB, 1),
            "venv_compiled_disk_mb": round(disk_bytes(layout.venv) / MB, 1),
            "pip_seconds": round(pip_seconds, 1),
            "compile_seconds": round(compile_seconds, 1),
            "total_seconds": round(total, 1),
            "steps": recorder.steps,
            "python": sys.version.split()[0],
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = measure(args.architecture)
    pip = next(step for step in result["steps"] if step["command"] == "pip install")
    print(f"bundle (zip, as uploaded)   {result['bundle_mb']} MB ({result['wheelhouse_files']} wheels)")
    print(f"venv                        {result['venv_mb']} MB without .pyc, {result['venv_compiled_mb']} MB "
          f"byte-compiled ({result['venv_compiled_disk_mb']} MB on disk; {result['packages_installed']} packages)")
    print(f"pip install (--no-index --no-compile --require-hashes)  {result['pip_seconds']} s, "
          f"peak {pip['peak_rss_mb']} MB resident")
    print(f"byte-compiling              {result['compile_seconds']} s")
    for step in result["steps"]:
        print(f"  step {step['command']:<12} {step['seconds']:>6} s  peak {step['peak_rss_mb']:>6} MB")
    print(f"Python {result['python']}, load average {result['load_average_1m']} when done")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
