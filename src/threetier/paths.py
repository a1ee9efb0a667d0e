"""Where things live: the project checkout, its parameters and the packaged assets."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"
SORRY_PAGE = ASSETS_DIR / "sorry.html"


def project_root() -> Path:
    """The checkout that holds `parameters/`; THREETIER_PROJECT_ROOT overrides it.

    Found by walking up from the current directory, then from this package (an
    editable install lives inside the checkout), so commands work from any sub-folder.
    """
    override = os.environ.get("THREETIER_PROJECT_ROOT")
    if override:
        return Path(override).resolve()
    for start in (Path.cwd(), PACKAGE_DIR):
        for candidate in (start, *start.parents):
            if (candidate / "parameters").is_dir() and (candidate / "pyproject.toml").is_file():
                return candidate
    return Path.cwd()


def parameters_dir() -> Path:
    return project_root() / "parameters"
