"""Run the app's settings inspection (threetier.apps.inspect) in its own venv and keep
the facts: `up` writes them to <state>/app/readiness.json for the drills' report;
`check` runs it too (building the venv in the twin's state directory when missing).

>>> facts = inspect_app(AppSource.of(spec), app_state)   # {"databases": {...}, ...}
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from threetier.apps.environment import ensure_venv
from threetier.apps.identity import AppSource
from threetier.errors import ThreetierError
from threetier.runtime import contract

FACTS_FILE = "readiness.json"
TIMEOUT_SECONDS = 60


def inspect_app(source: AppSource, app_state: Path, *, settings: str, directory: Path | None = None,
                progress=lambda _m: None) -> dict:  # noqa: ANN001 - a progress callback
    """The facts of the app at `directory` (default: its source), from its venv in `app_state`."""
    python = ensure_venv(source, app_state, progress=progress)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THREETIER_", "DJANGO_", "PG"))
           and k not in ("DATABASE_URL", "PYTHONPATH")}
    env.update({contract.APP_DIR: str(directory or source.checked_directory()), contract.SETTINGS: settings})
    result = subprocess.run([str(python), "-m", "threetier.apps.inspect"], capture_output=True, text=True,
                            env=env, timeout=TIMEOUT_SECONDS, check=False, cwd=str(app_state))
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise ThreetierError("could not inspect the app's settings:",
                             details=(result.stderr or result.stdout).splitlines()[-8:],
                             fix="run `python -c 'import <your settings module>'` in the app's venv and fix the error")
    return json.loads(lines[-1])


def save_facts(app_state: Path, facts: dict) -> Path:
    path = app_state / FACTS_FILE
    path.write_text(json.dumps(facts, indent=1, sort_keys=True))
    return path


def load_facts(app_state: Path) -> dict | None:
    path = app_state / FACTS_FILE
    return json.loads(path.read_text()) if path.is_file() else None
