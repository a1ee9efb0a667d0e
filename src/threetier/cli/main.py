"""`threetier`: the root command. Each sub-command lives in its own module and
registers itself through `register(app)`; errors become one message and an exit code."""

from __future__ import annotations

import sys
from importlib import import_module

import click
import typer
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 user error, 130/143 signals)."""
    output = Output()
    try:
        result = app(args=argv, prog_name="threetier", standalone_mode=False)
    except ThreetierError as exc:
        output.error(escape(str(exc)))
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        output.error("interrupted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())
