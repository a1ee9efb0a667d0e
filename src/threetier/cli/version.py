"""`threetier --version`: the installed package's version, from its metadata."""

from __future__ import annotations

from importlib import metadata

import typer


def installed_version() -> str:
    try:
        return metadata.version("threetier")
    except metadata.PackageNotFoundError:
        return "unknown (not installed; run ./scripts/bootstrap)"


def show_version(value: bool) -> None:
    """The --version option's callback: print `threetier X.Y.Z` and stop."""
    if value:
        typer.echo(f"threetier {installed_version()}")
        raise typer.Exit(0)
