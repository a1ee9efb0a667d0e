"""What every command gets on `ctx.obj`: the chosen environment, its spec, and the output."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import typer
from rich.console import Console
from rich.status import Status as Spinner
from rich.table import Table
from rich.text import Text

from threetier.spec import Spec, load_spec, selected_env

# A row of `Output.table` that is this instead of cells draws a line (before a total).
SECTION = None


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

    @contextmanager
    def status(self, message: str) -> Iterator[Status]:
        """Work that takes a while: a spinner on a terminal, else `message` as one line.
        `update(step)` on what it yields shows the step (a new line off a terminal).

        >>> with output.status("bringing up the twin ...") as status:
        ...     twin.up(progress=status.update)
        """
        if not self.err.is_terminal:
            self.info(message)
            yield Status(self, spinner=None)
            return
        with self.err.status(message) as spinner:
            yield Status(self, spinner=spinner)

    def table(
        self,
        title: str,
        columns: Sequence[str | Column],
        rows: Iterable[Sequence[str] | None],
    ) -> None:
        """Rows of cells (Rich markup; a row `SECTION` draws a line) to stdout: a Rich
        table on a terminal, else plain lines with the columns aligned (for pipes and grep).

        >>> output.table("stacks", ["stack", Column("resources", right=True)], [["threetier", "42"]])
        """
        columns = [c if isinstance(c, Column) else Column(c) for c in columns]
        rows = list(rows)
        if self.out.is_terminal:
            table = Table(title=title)
            for column in columns:
                table.add_column(
                    column.name, justify="right" if column.right else "left", overflow="fold"
                )
            for row in rows:
                if row is SECTION:
                    table.add_section()
                else:
                    table.add_row(*row)
            self.out.print(table)
            return
        for line in plain_table(title, columns, rows):
            self.out.out(line, highlight=False)


@dataclass(frozen=True)
class Column:
    """A column of `Output.table`; `right` aligns numbers."""

    name: str
    right: bool = False


@dataclass
class Status:
    """What `Output.status` yields: `update(step)` says which step the work is at."""

    output: Output
    spinner: Spinner | None

    def update(self, step: str) -> None:
        if self.spinner is not None:
            self.spinner.update(step)
        else:
            self.output.info(f"[dim]· {step.removesuffix('...').rstrip()}[/dim]")


def plain_table(
    title: str, columns: Sequence[Column], rows: Sequence[Sequence[str] | None]
) -> list[str]:
    """The lines of `Output.table` off a terminal: title, header, rows; markup removed,
    each column as wide as its widest cell, two spaces between columns."""
    cells = [[Text.from_markup(cell).plain for cell in row] for row in rows if row is not SECTION]
    header = [c.name for c in columns]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(columns))]

    def line(row: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if column.right else cell.ljust(width)
            for cell, width, column in zip(row, widths, columns, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    lines, plain = [title, line(header)], iter(cells)
    for row in rows:
        lines.append(rule if row is SECTION else line(next(plain)))
    return lines


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
