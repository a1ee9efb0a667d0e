"""`threetier`: the root command. Each sub-command lives in its own module and
registers itself through `register(app)`; errors become one message and an exit code."""

from __future__ import annotations

import sys
from importlib import import_module

import click
import typer
from typer._click import exceptions as typer_click  # Typer 0.2x parses with its own copy of click
from rich.markup import escape

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

COMMAND_MODULES = [
    "threetier.cli.params",
    "threetier.cli.bench",
    "threetier.cli.drill",
    "threetier.cli.up",
    "threetier.cli.status",
    "threetier.cli.down",
    "threetier.cli.logs",
    "threetier.cli.synth",
    "threetier.cli.check",
    "threetier.cli.cdk_commands",
]


@app.callback()
def root(
    ctx: typer.Context,
    env: str = typer.Option(
        None, "--env", "-e", help=f"Environment: parameters/ENV.toml (default: ${ENV_VARIABLE} or 'default')."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show more detail."),
) -> None:
    ctx.obj = AppContext(env=selected_env(env), output=Output(verbose=verbose))


for _name in COMMAND_MODULES:
    import_module(_name).register(app)


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
    """Run the CLI and return its exit code (0 ok, 1 user error, 2 usage error, 130 interrupted)."""
    output = Output()
    argv = hoist_env_option(list(sys.argv[1:] if argv is None else argv))
    try:
        result = app(args=argv, prog_name="threetier", standalone_mode=False)
    except ThreetierError as exc:
        output.error(escape(str(exc)))
        return exc.exit_code
    except _EXIT as exc:
        return getattr(exc, "exit_code", 0)
    except _ABORT:
        output.error("interrupted")
        return 130
    except _USAGE as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())
