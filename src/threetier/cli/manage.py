"""`threetier manage COMMAND...`: a Django manage.py command in the twin's instance
environment, e.g. `threetier manage createsuperuser`, `threetier manage shell`,
`threetier manage migrate --plan`.

It runs `python -m threetier.webapp COMMAND...` with exactly the settings the web
instances get (database hosts, the secret key, media and static roots), as the same
unprivileged OS user they run as, with this terminal attached; its exit code is
threetier's. On AWS the same is done on a web server or in a task: docs/operating.md.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping

import typer

from threetier.cli.context import app_context



def manage(
    ctx: typer.Context,
    command: list[str] = typer.Argument(
        ..., metavar="COMMAND...", help="The manage.py command and its arguments, e.g. createsuperuser."
    ),
) -> None:
    """Run a manage.py command in the twin's instance environment, as the web instances' user."""
    from threetier.local.postgres import demote_kwargs
    from threetier.local.twin import Twin

    context = app_context(ctx)
    twin = Twin.for_spec(context.spec)
    twin.require_running()  # the command needs the database the instances use
    user = twin.web_user
    context.output.debug(f"as {user or 'this user'}: python -m threetier.webapp {' '.join(command)}")
    argv = [sys.executable, "-m", "threetier.webapp", *command]
    if not twin.plan.app.app.bundled:  # a user's app: its manage.py commands, in its own venv
        argv = [twin.plan.app.python, "-m", "threetier.runtime", "manage", *command]
    # Ctrl-C belongs to the command (a shell, createsuperuser's prompt): we only wait.
    # A handler, not SIG_IGN: exec resets handlers to the default, an ignore it would inherit.
    previous = signal.signal(signal.SIGINT, _wait_for_the_command)
    try:
        process = subprocess.Popen(argv, env={**twin.manage_env(), **passed_through(os.environ)},
                                   cwd=twin.layout.root, **demote_kwargs(user))
        code = process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    raise typer.Exit(code)


def _wait_for_the_command(_signum: int, _frame: object) -> None:
    pass


# The instances' environment is the twin's, not the caller's; only what a command is
# meant to be given this way passes: `createsuperuser --noinput` reads its fields and the
# password from DJANGO_SUPERUSER_<FIELD> (the password never on a command line).
PASSED_THROUGH_PREFIXES = ("DJANGO_SUPERUSER_",)


def passed_through(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k.startswith(PASSED_THROUGH_PREFIXES)}


# COMMAND's own options (`migrate --plan`) pass through; `threetier manage help COMMAND`
# shows Django's help for one.
CONTEXT_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}
