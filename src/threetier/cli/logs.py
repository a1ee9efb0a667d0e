"""`threetier logs [COMPONENT]`: the last lines of the twin's logs, optionally followed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from threetier.cli.context import app_context
from threetier.errors import ThreetierError


def logs(
    ctx: typer.Context,
    components: list[str] = typer.Argument(
        None,
        help="db-1a, db-1c, db-watchdog, web-1a, lb, lb-health, asg, supervisord, migrate...; "
        "all but lb-health when omitted.",
    ),
    lines: int = typer.Option(20, "--lines", "-n", min=0, help="How many lines to show from the end."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C stops)."),
) -> None:
    """Show the end of the components' logs (stdout and stderr), or of every log."""
    from threetier.local.programs import tail_lines  # noqa: PLC0415
    from threetier.local.twin import Twin  # noqa: PLC0415

    context = app_context(ctx)
    twin = Twin.for_spec(context.spec)
    log_dir = twin.layout.logs
    available = sorted(p.stem for p in log_dir.glob("*.log")) if log_dir.is_dir() else []
    if components:
        for component in components:
            if component not in available:
                raise ThreetierError(
                    f"no log for {component!r} in {log_dir}",
                    fix=f"choose one of: {', '.join(available)}" if available else "start the twin with `threetier up`",
                )
        names = list(components)
    else:
        # The LB's health-event log is machine food (one JSON line per TLS handshake too).
        names = [name for name in available if name != "lb-health"]
        if not names:
            context.output.info(f"no logs yet in {log_dir}")
            return
    out = context.output.out
    prefix = (lambda name: f"{name:<12}| ") if len(names) > 1 else (lambda _name: "")
    for name in names:
        for line in tail_lines(log_dir / f"{name}.log", lines):
            out.out(prefix(name) + line, highlight=False)
    if follow:
        _follow([log_dir / f"{name}.log" for name in names], prefix, out)


def _follow(paths: list[Path], prefix: Callable[[str], str], out: Console) -> None:
    positions = {path: path.stat().st_size if path.exists() else 0 for path in paths}
    try:
        while True:
            for path in paths:
                try:
                    size = path.stat().st_size
                except OSError:
                    continue
                if size < positions[path]:  # rotated by supervisord: start from the top
                    positions[path] = 0
                if size > positions[path]:
                    with path.open("rb") as handle:
                        handle.seek(positions[path])
                        chunk = handle.read(size - positions[path])
                    # Keep a partial last line for the next round.
                    complete = chunk[: chunk.rfind(b"\n") + 1]
                    positions[path] += len(complete)
                    for line in complete.decode(errors="replace").splitlines():
                        out.out(prefix(path.stem) + line, highlight=False)
            time.sleep(0.25)
    except KeyboardInterrupt:
        return

