"""Where things live: the project checkout, its parameters and the packaged assets."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"
SORRY_PAGE = ASSETS_DIR / "sorry.html"


def tool_checkout() -> Path:
    """The checkout threetier runs from (its src/, requirements/, Dockerfile and build/
    cache), whichever project's parameters are in use: a user's own project holds only
    parameters/ (and its app)."""
    candidate = PACKAGE_DIR.parent.parent
    return candidate if (candidate / "requirements" / "runtime.txt").is_file() else project_root()


def _holds_parameters(directory: Path) -> bool:
    folder = directory / "parameters"
    return folder.is_dir() and any(folder.glob("*.toml"))


def _found_from_cwd() -> Path | None:
    override = os.environ.get("THREETIER_PROJECT_ROOT")
    if override:
        return Path(override).resolve()
    cwd = Path.cwd()
    return next((c for c in (cwd, *cwd.parents) if _holds_parameters(c)), None)


def project_root() -> Path:
    """The project whose `parameters/` is in use; THREETIER_PROJECT_ROOT overrides it.

    Found by walking up from the current directory to a folder whose parameters/ holds a
    .toml file (threetier's checkout, or a user's own project after `threetier init`), so
    commands work from any sub-folder; outside any project, threetier's own checkout (an
    editable install lives inside it).
    """
    found = _found_from_cwd()
    if found:
        return found
    checkout = PACKAGE_DIR.parent.parent
    return checkout if _holds_parameters(checkout) else Path.cwd()


def new_project_root() -> Path:
    """Where `threetier init` writes parameters/: the project found as project_root()
    finds it or, run outside any project and outside threetier's checkout, the current
    directory (a user's own project starts there)."""
    found = _found_from_cwd()
    if found:
        return found
    cwd, checkout = Path.cwd().resolve(), PACKAGE_DIR.parent.parent.resolve()
    return checkout if cwd == checkout or checkout in cwd.parents else cwd


def parameters_dir() -> Path:
    return project_root() / "parameters"
