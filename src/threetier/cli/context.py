"""What every command gets on `ctx.obj`: the chosen environment, its spec, and the output."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

import typer
from rich.console import Console

from threetier.spec import Spec, load_spec, selected_env


def _console(stderr: bool) -> Console:
    # CI and tests set NO_COLOR / a fixed width; a real terminal gets colour.
    width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
    return Console(stderr=stderr, highlight=False, width=width, soft_wrap=False)


@dataclass
class Output:
    """All output goes through here: results to stdout, messages to stderr."""

    out: Console = field(default_factory=lambda: _console(stderr=False))
    err: Console = field(default_factory=lambda: _console(stderr=True))
    verbose: bool = False

    def info(self, message: str) -> None:
        self.err.print(message)

    def success(self, message: str) -> None:
        self.err.print(f"[green]✓[/green] {message}")

    def warning(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {message}")

    def error(self, message: str) -> None:
        self.err.print(f"[red]error:[/red] {message}", markup=True)

    def debug(self, message: str) -> None:
        if self.verbose:
            self.err.print(f"[dim]{message}[/dim]")


@dataclass
class AppContext:
    """The chosen environment; its spec is loaded on first use so `--help` never needs it."""

    env: str
    output: Output

    @cached_property
    def spec(self) -> Spec:
        return load_spec(self.env)


def app_context(ctx: typer.Context) -> AppContext:
    if not isinstance(ctx.obj, AppContext):
        ctx.obj = AppContext(env=selected_env(None), output=Output())
    return ctx.obj
