"""A Django project as a user has it: `django-admin startproject NAME DIR`, run in-process
(startproject needs no settings), optionally with a requirements file."""

from __future__ import annotations

from pathlib import Path


def startproject(parent: Path, name: str = "mysite", *, requirements: str | None = None) -> Path:
    """`parent` holding manage.py and the NAME package (settings, urls, wsgi, asgi)."""
    from django.core.management import call_command
    from django.core.management.commands.startproject import Command

    parent.mkdir(parents=True, exist_ok=True)
    call_command(Command(), name, str(parent))
    if requirements is not None:
        (parent / "requirements.txt").write_text(requirements)
    return parent
