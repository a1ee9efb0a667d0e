"""The app's own Python environment in the twin (and for `check`'s inspection): a venv
under the twin's state directory, never the tool's, with the app's requirements and
gunicorn. Built with the interpreter app.python names and pip as the machine has it
configured (its index or mirror, its wheel cache); rebuilt only when the requirements
change (the key file holds what it was built from).

>>> python = ensure_venv(AppSource.of(spec), state_dir / "app", progress=print)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from threetier.apps.identity import AppSource
from threetier.errors import ThreetierError
from threetier.paths import PACKAGE_DIR

KEY_FILE = ".threetier-requirements"
PTH_FILE = "threetier-runtime.pth"
INSTALL_TIMEOUT_SECONDS = 900


def interpreter(version: str) -> str:
    """A Python `version` ("3.11") others may run (the twin's web user): this one's base
    interpreter when it is that version, else python<version> on PATH."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        for name in (f"python{version}", "python3"):
            candidate = Path(sys.base_prefix) / "bin" / name
            if candidate.is_file():
                return str(candidate)
    found = shutil.which(f"python{version}")
    if not found:
        raise ThreetierError(f"app.python = {version!r}, but no python{version} is installed",
                             fix=f"install Python {version}, or set app.python to {sys.version_info.major}."
                                 f"{sys.version_info.minor} (this machine's)")
    return found


def venv_key(app: AppSource) -> str:
    return hashlib.sha256(app.requirements_text().encode()).hexdigest()[:16]


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(app: AppSource, app_state: Path, *, progress: Callable[[str], None] = lambda _m: None) -> Path:
    """<app_state>/venv with the app's requirements; returns its python."""
    venv = app_state / "venv"
    key = venv_key(app)
    marker = venv / KEY_FILE
    if marker.is_file() and marker.read_text().strip() == key and venv_python(venv).is_file():
        return venv_python(venv)
    progress(f"installing the app's dependencies into {venv} (once per change of its requirements)")
    shutil.rmtree(venv, ignore_errors=True)
    app_state.mkdir(parents=True, exist_ok=True)
    run([interpreter(app.python), "-m", "venv", str(venv)], what="create the app's venv")
    requirements = app_state / "requirements.in"
    requirements.write_text("\n".join(app.requirement_lines()) + "\n")
    run([str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--requirement", str(requirements)], what="install the app's requirements")
    # threetier's runtime (stdlib only: the contract, the wrapper, gunicorn's config), not its dependencies.
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / PTH_FILE).write_text(f"{PACKAGE_DIR.parent}\n")
    marker.write_text(key + "\n")
    return venv_python(venv)


def run(command: list[str], *, what: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env,
                            timeout=INSTALL_TIMEOUT_SECONDS)
    if result.returncode != 0:
        raise ThreetierError(
            f"could not {what} (`{' '.join(command[:4])} ...` exit {result.returncode}):",
            details=[line for line in (result.stderr or result.stdout).splitlines() if line.strip()][-10:],
            fix="fix the app's requirements (app.requirements), or pip's index/mirror configuration",
        )
