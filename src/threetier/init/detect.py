"""What `threetier init` finds in an app's source directory: a Django project (manage.py,
its settings module, its WSGI module), or another WSGI app; its requirements; its Python.

The source is read, never imported or run: names come from the files' syntax trees
(`os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)`, `WSGI_APPLICATION = ...`, a
module-level `application`). Each value says where it was found, so the user can judge it.

>>> app = detect_app(Path("~/src/mysite").expanduser())
>>> app.settings, app.wsgi, app.requirements
('mysite.settings', 'mysite.wsgi:application', 'requirements.txt')
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from threetier.init.inputs import BadInputError

SETTINGS_VARIABLE = "DJANGO_SETTINGS_MODULE"
# Directories that hold someone else's code (environments, dependencies, builds), not the app's.
SKIPPED_DIRS = {
    ".git", ".hg", ".venv", "venv", "env", ".env", "node_modules", "__pycache__", ".tox",
    ".nox", "build", "dist", "site-packages", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    "static", "media", "staticfiles",
}
# How deep below the source a settings or WSGI module is looked for (config/settings/base.py: 3).
MAX_DEPTH = 3
MAX_FILES = 5000
# The requirements a deploy installs, in the order a project usually means them.
REQUIREMENTS_FILES = (
    "requirements.txt",
    "requirements/production.txt",
    "requirements/prod.txt",
    "requirements/base.txt",
    "requirements/common.txt",
)
# Module names a plain WSGI app's entry point usually has, and the callables' names.
WSGI_MODULES = ("wsgi", "app", "application", "main", "server")
WSGI_CALLABLES = ("application", "app")


@dataclass(frozen=True)
class DetectedApp:
    """The app's values for the parameters' [app] section; `found` says where each came from."""

    source: Path
    kind: Literal["django", "wsgi"]
    wsgi: str | None
    settings: str | None
    requirements: str | None
    python: str | None
    collectstatic: bool
    found: dict[str, str] = field(default_factory=dict)

    @property
    def is_django(self) -> bool:
        return self.kind == "django"


def detect_app(source: Path) -> DetectedApp:
    """Read `source` (a directory) and return what it is; BadInputError when it is no app."""
    source = source.expanduser().resolve()
    if not source.is_dir():
        raise BadInputError(
            f"--app-source: {source} is not a directory",
            fix="give the directory of your project (the one that holds manage.py)",
        )
    found: dict[str, str] = {}
    requirements = _requirements(source, found)
    python = _python(source, found)
    if (source / "manage.py").is_file():
        settings = _settings(source, found)
        wsgi = _django_wsgi(source, settings, found)
        settings = _wsgi_settings(source, wsgi, settings, found)
        collectstatic = _uses_staticfiles(source, settings)
        found["collectstatic"] = (
            "django.contrib.staticfiles is in INSTALLED_APPS" if collectstatic else "no django.contrib.staticfiles"
        )
        return DetectedApp(source, "django", wsgi, settings, requirements, python, collectstatic, found)
    nested = sorted(p.parent for p in _walk(source, depth=2) if p.name == "manage.py")
    if nested:
        raise BadInputError(
            f"--app-source: {source} has no manage.py, but {nested[0]} does",
            fix=f"point --app-source at {nested[0]} (the directory of manage.py)",
        )
    wsgi = _plain_wsgi(source, found)
    return DetectedApp(source, "wsgi", wsgi, None, requirements, python, False, found)


# --- Django ------------------------------------------------------------------------------


def _settings(source: Path, found: dict[str, str]) -> str | None:
    value = settings_default(source / "manage.py")
    if value:
        found["settings"] = f"manage.py sets {SETTINGS_VARIABLE} to {value}"
        return value
    candidates = sorted(
        module_of(source, p.parent if p.name == "__init__.py" else p)
        for p in _walk(source, depth=2)
        if p.name == "settings.py" or (p.name == "__init__.py" and p.parent.name == "settings")
    )
    if len(candidates) == 1:
        found["settings"] = f"the only settings module under {source.name}/"
        return candidates[0]
    found["settings"] = (
        f"manage.py sets no {SETTINGS_VARIABLE}"
        + (f"; candidates: {', '.join(candidates)}" if candidates else "")
    )
    return None


def _django_wsgi(source: Path, settings: str | None, found: dict[str, str]) -> str | None:
    if settings:
        for path in settings_files(source, settings):
            value = assigned_string(path, "WSGI_APPLICATION")
            if value and "." in value:
                module, _, name = value.rpartition(".")
                found["wsgi"] = f"WSGI_APPLICATION in {path.relative_to(source)}"
                return f"{module}:{name}"
        package = settings.split(".")[0]
        beside = source / package / "wsgi.py"
        if beside.is_file() and defines(beside, "application"):
            found["wsgi"] = f"{package}/wsgi.py defines application"
            return f"{package}.wsgi:application"
    modules = sorted(
        module_of(source, p)
        for p in _walk(source, depth=MAX_DEPTH)
        if p.name == "wsgi.py" and defines(p, "application")
    )
    if len(modules) == 1:
        found["wsgi"] = f"the only wsgi.py under {source.name}/ that defines application"
        return f"{modules[0]}:application"
    found["wsgi"] = "no WSGI_APPLICATION and " + (
        f"several wsgi.py files: {', '.join(modules)}" if modules else "no wsgi.py defining application"
    )
    return None


def _wsgi_settings(source: Path, wsgi: str | None, settings: str | None, found: dict[str, str]) -> str | None:
    """The WSGI module's own settings default wins over manage.py's: it is what the server
    runs (manage.py often points at development settings, wsgi.py at production's)."""
    if not wsgi:
        return settings
    path = module_file(source, wsgi.split(":")[0])
    value = settings_default(path) if path else None
    if value and value != settings:
        found["settings"] = (
            f"{path.relative_to(source)} sets {SETTINGS_VARIABLE} to {value} (what the server runs"
            + (f"; manage.py says {settings})" if settings else ")")
        )
        return value
    return settings


def _uses_staticfiles(source: Path, settings: str | None) -> bool:
    if not settings:
        return False
    return any("django.contrib.staticfiles" in _text(path) for path in settings_files(source, settings))


def settings_default(path: Path) -> str | None:
    """The value `os.environ.setdefault("DJANGO_SETTINGS_MODULE", VALUE)` gives in `path`."""
    tree = _tree(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and len(node.args) == 2
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
            and node.args[0].value == SETTINGS_VARIABLE
        ):
            return node.args[1].value
    return None


def settings_files(source: Path, settings: str) -> list[Path]:
    """The files of a settings module: its own, then the modules of the project it imports
    from (split settings: production.py does `from .base import *`, and base.py holds
    INSTALLED_APPS and WSGI_APPLICATION)."""
    path = module_file(source, settings)
    if path is None:
        return []
    files = [path]
    tree = _tree(path)
    package = settings.split(".")[:-1] if path.name != "__init__.py" else settings.split(".")
    for node in tree.body if tree else []:
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
        else:
            base = (node.module or "").split(".")
        imported = module_file(source, ".".join(base)) if base else None
        if imported and imported not in files:
            files.append(imported)
    return files


# --- any WSGI app --------------------------------------------------------------------------


def _plain_wsgi(source: Path, found: dict[str, str]) -> str | None:
    for module in WSGI_MODULES:
        path = source / f"{module}.py"
        if not path.is_file():
            continue
        for name in WSGI_CALLABLES:
            if defines(path, name):
                found["wsgi"] = f"{module}.py defines {name}"
                return f"{module}:{name}"
    found["wsgi"] = f"no manage.py, and none of {', '.join(m + '.py' for m in WSGI_MODULES)} defines application or app"
    return None


# --- requirements and Python ----------------------------------------------------------------


def _requirements(source: Path, found: dict[str, str]) -> str | None:
    for name in REQUIREMENTS_FILES:
        if (source / name).is_file():
            found["requirements"] = f"{name} exists"
            return name
    pyproject = _pyproject(source) or {}
    if pyproject.get("project", {}).get("dependencies"):
        found["requirements"] = "pyproject.toml lists [project] dependencies"
        return "pyproject.toml"
    found["requirements"] = f"none of {', '.join(REQUIREMENTS_FILES)} or a pyproject.toml with [project] dependencies"
    if pyproject.get("tool", {}).get("poetry", {}).get("dependencies"):
        # The app's environment installs what pip reads: [project] dependencies, not Poetry's table.
        found["requirements"] += (
            "; Poetry's [tool.poetry.dependencies] are not read: `poetry export -o requirements.txt`"
        )
    return None


_VERSION = re.compile(r"(\d+)\.(\d+)")


def _python(source: Path, found: dict[str, str]) -> str | None:
    """X.Y from .python-version, runtime.txt or pyproject's requires-python lower bound."""
    for name in (".python-version", "runtime.txt"):
        match = _VERSION.search(_text(source / name))
        if match:
            found["python"] = f"{name} says {match.group(0)}"
            return match.group(0)
    requires = str((_pyproject(source) or {}).get("project", {}).get("requires-python", ""))
    match = re.search(r"(?:>=|~=|==)\s*(\d+\.\d+)", requires)
    if match:
        found["python"] = f"pyproject.toml requires-python {requires.strip()}"
        return match.group(1)
    found["python"] = "no .python-version, runtime.txt or requires-python"
    return None


# --- reading source without running it --------------------------------------------------------


def module_of(source: Path, path: Path) -> str:
    """The dotted module name of `path` (a .py file or a package directory) under `source`."""
    relative = path.relative_to(source)
    parts = list(relative.with_suffix("").parts) if path.suffix == ".py" else list(relative.parts)
    return ".".join(parts)


def module_file(source: Path, module: str) -> Path | None:
    base = source.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def defines(path: Path, name: str) -> bool:
    """`name` is bound at the module level of `path` (assigned, a def or a class)."""
    tree = _tree(path)
    if tree is None:
        return False
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            return True
    return False


def assigned_string(path: Path, name: str) -> str | None:
    """The string constant assigned to `name` at the module level of `path`."""
    tree = _tree(path)
    if tree is None:
        return None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


def _walk(source: Path, *, depth: int) -> Iterator[Path]:
    """The .py files under `source`, at most `depth` directories down, skipping
    environments and dependencies, and at most MAX_FILES of them."""
    seen = 0
    pending = [(source, 0)]
    while pending:
        directory, level = pending.pop(0)
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir():
                if level < depth and entry.name not in SKIPPED_DIRS and not entry.name.startswith("."):
                    pending.append((entry, level + 1))
            elif entry.suffix == ".py":
                seen += 1
                if seen > MAX_FILES:
                    return
                yield entry


def _tree(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _pyproject(source: Path) -> dict | None:
    try:
        return tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
