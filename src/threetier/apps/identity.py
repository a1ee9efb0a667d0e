"""The parameters' [app] → what a runtime needs to know of the app: the contract's
AppIdentity (where its code is on that runtime), its requirements and its interpreter.

>>> app_identity(spec.app, directory="/opt/threetier/app/app")   # the EC2 release's copy
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.runtime import contract
from threetier.spec import App, Spec

# What every user app's environment gets besides its own requirements: the app server,
# at the version the bundled registry runs (requirements/runtime.txt).
SERVER_REQUIREMENTS = ("gunicorn==23.0.0",)


def app_identity(app: App, directory: str | Path) -> contract.AppIdentity:
    """The bundled registry's identity, or the user's app with its code at `directory`."""
    if app.bundled:
        return contract.BUNDLED_APP
    return contract.AppIdentity(
        wsgi=app.wsgi_callable() or "", settings=app.settings or "", directory=str(directory),
        migrate=app.migrate, collectstatic=app.collectstatic, health_path=app.health_path or "",
    )


@dataclass(frozen=True)
class AppSource:
    """Where a user's app comes from (no file is read to build one): its directory, its
    requirements (app.requirements, relative to the directory) and interpreter version."""

    directory: Path
    requirements: str | None
    python: str
    django: bool

    @classmethod
    def of(cls, spec: Spec) -> AppSource | None:
        source = spec.app_source()
        if source is None:
            return None
        return cls(source, spec.app.requirements, spec.app.python, spec.app.django)

    def checked_directory(self) -> Path:
        if not self.directory.is_dir():
            raise ThreetierError(f"app.source: {self.directory} is not a directory",
                                 fix="set app.source to your project's directory (where manage.py is)")
        return self.directory

    def requirements_file(self) -> Path | None:
        """app.requirements, else the project's requirements.txt, else its pyproject.toml; None if none."""
        source = self.checked_directory()
        if self.requirements:
            path = Path(self.requirements)
            path = path if path.is_absolute() else source / path
            if not path.is_file():
                raise ThreetierError(f"app.requirements: {path} does not exist",
                                     fix="point it at your requirements file (or pyproject.toml)")
            return path
        for name in ("requirements.txt", "pyproject.toml"):
            if (source / name).is_file():
                return source / name
        return None

    def requirement_lines(self) -> list[str]:
        """The app's requirements as pip reads them (a pyproject's [project] dependencies), plus
        the app server; no file gives the server alone (and Django for a Django app)."""
        path = self.requirements_file()
        if path is None:
            lines = ["django"] if self.django else []
        elif path.name == "pyproject.toml":
            lines = list(tomllib.loads(path.read_text(encoding="utf-8")).get("project", {}).get("dependencies", []))
        else:
            lines = [f"-r {path}"]
        return [*lines, *SERVER_REQUIREMENTS]

    def requirements_text(self) -> str:
        """What the app's dependencies are, for keys and locks: the files' own text included."""
        path = self.requirements_file()
        own = path.read_text(encoding="utf-8") if path else ""
        return f"python {self.python}\n" + "\n".join(self.requirement_lines()) + "\n" + own
