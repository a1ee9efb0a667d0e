"""`threetier`: the root command. Each sub-command lives in its own module and is
registered below, one line each; errors become one message and an exit code."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click
import typer
from typer._click import exceptions as typer_click  # Typer 0.2x parses with its own copy of click
from rich.markup import escape

from threetier.cli import bench, cdk_commands, check, down, drill, logs, params, status, synth, up, verify
from threetier.cli import init, manage, version
from threetier.cli.context import AppContext, Output
from threetier.errors import ThreetierError
from threetier.spec import ENV_VARIABLE, selected_env

# Tracebacks with local variables could print secrets, so Typer's pretty ones are off.
app = typer.Typer(
    name="threetier",
    help="The classic highly available web system: on AWS (CDK) and as a local twin.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Exit codes of a run that a signal ended (the shell's convention: 128 + the signal).
SIGINT_EXIT = 128 + signal.SIGINT
SIGTERM_EXIT = 128 + signal.SIGTERM


@app.callback()
def root(
    ctx: typer.Context,
    env: str = typer.Option(
        None, "--env", "-e", help=f"Environment: parameters/ENV.toml (default: ${ENV_VARIABLE} or 'default')."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show more detail."),
    show_version: bool = typer.Option(  # noqa: ARG001 - eager: its callback prints and exits
        False, "--version", callback=version.show_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    ctx.obj = AppContext(env=selected_env(env), output=Output(verbose=verbose))


app.command()(init.init)
app.command()(params.params)
app.command()(bench.bench)
app.add_typer(drill.drill_app, name="drill")
app.command()(up.up)
app.command()(status.status)
app.command()(down.down)
app.command()(logs.logs)
app.command()(synth.synth)
app.command()(check.check)
app.command()(cdk_commands.ls)
app.command()(cdk_commands.diff)
app.command()(cdk_commands.deploy)
app.command()(cdk_commands.destroy)
app.command()(cdk_commands.bootstrap)
app.command(context_settings=manage.CONTEXT_SETTINGS)(manage.manage)
app.command()(verify.verify)


class Terminated(BaseException):  # noqa: N818 - named for the signal, like KeyboardInterrupt
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so no `except Exception`
    on the way swallows it; `finally` blocks and context managers still clean up."""


def _terminate(_signum: int, _frame: object) -> None:
    raise Terminated


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises Terminated while the command runs (the main thread only can set it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# Both copies of click: ours (typer.Exit, raised in commands) and Typer's bundled one (parsing).
_EXIT = (click.exceptions.Exit, typer.Exit)
_ABORT = (click.exceptions.Abort, typer.Abort)
_USAGE = (click.ClickException, typer_click.ClickException)
_ENV_FLAGS = ("--env", "-e")


def hoist_env_option(argv: list[str]) -> list[str]:
    """Accept `--env NAME` anywhere (`threetier status --env prod`), as users type it,
    by moving it in front of the sub-command where the root command reads it."""
    args, hoisted, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            args.extend(argv[i:])
            break
        if arg in _ENV_FLAGS and i + 1 < len(argv):
            hoisted += [arg, argv[i + 1]]
            i += 2
            continue
        if arg.startswith("--env="):
            hoisted.append(arg)
        else:
            args.append(arg)
        i += 1
    return hoisted + args


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 user error, 2 usage error, the CDK
    CLI's own code, 130 on SIGINT / Ctrl-C, 143 on SIGTERM)."""
    output = Output()
    argv = hoist_env_option(list(sys.argv[1:] if argv is None else argv))
    try:
        with sigterm_raises():
            result = app(args=argv, prog_name="threetier", standalone_mode=False)
    except ThreetierError as exc:
        output.error(escape(str(exc)))
        return exc.exit_code
    except _EXIT as exc:
        return getattr(exc, "exit_code", 0)
    except (*_ABORT, KeyboardInterrupt):
        output.error("interrupted")
        return SIGINT_EXIT
    except Terminated:
        output.error("terminated (SIGTERM)")
        return SIGTERM_EXIT
    except _USAGE as exc:
        exc.show()
        return exc.exit_code
    if result == SIGINT_EXIT:  # Typer's answer to Ctrl-C (or a child that got it too)
        output.error("interrupted")
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())
