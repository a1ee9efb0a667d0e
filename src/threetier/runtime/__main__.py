"""`python -m threetier.runtime COMMAND`: the app's one-off steps and the container's entrypoint.

    migrate                 apply migrations as the app role, holding the migration
                            advisory lock (twin `up`, the EC2 migrator, the Fargate
                            migration task: every runtime migrates through this)
    manage ARGS...          a Django management command of the app (THREETIER_APP_DIR and
                            DJANGO_SETTINGS_MODULE say which), with the contract's variables
    run -- CMD...           the app's own one-off command (app.migrate) in its directory,
                            with the contract's variables (DATABASE_URL, ...)
    entrypoint CMD...       the image's ENTRYPOINT: name this task and its AZ from the ECS
                            task metadata, collect static files before gunicorn, exec CMD
    serve                   gunicorn as the contract says, on 0.0.0.0:$PORT (the image's CMD)

A broken environment (no THREETIER_SECRET_KEY, ...) stops with one line naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence

from threetier.apps.process import prepare
from threetier.errors import ThreetierError
from threetier.runtime import contract

DEFAULT_PORT = "8000"


def migrate() -> int:
    """Django's `migrate` inside pg_advisory_lock(MIGRATION_LOCK_KEY), on the one
    connection the migrations use (the lock is held by the session that migrates)."""
    os.environ.setdefault(contract.SETTINGS, contract.SETTINGS_MODULE)
    prepare(os.environ)
    import django  # noqa: PLC0415 - Django only for the steps that need it
    from django.core.management import CommandError, call_command  # noqa: PLC0415
    from django.db import connection  # noqa: PLC0415

    django.setup()
    if connection.vendor != "postgresql":  # a user's app on SQLite (`check` names it): no lock to take
        try:
            call_command("migrate", interactive=False)
        except CommandError as error:
            raise ThreetierError(f"migrate failed: {error}", fix="fix the migration, then run it again") from None
        return 0
    with connection.cursor() as cursor:
        # A stuck peer must not block a boot or a deploy forever.
        cursor.execute(f"SET statement_timeout = '{contract.MIGRATION_LOCK_WAIT_SECONDS}s'")
        cursor.execute("SELECT pg_advisory_lock(%s)", [contract.MIGRATION_LOCK_KEY])
        cursor.execute("RESET statement_timeout")
        try:
            call_command("migrate", interactive=False)
        except CommandError as error:
            raise ThreetierError(f"migrate failed: {error}", fix="fix the migration, then run it again") from None
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [contract.MIGRATION_LOCK_KEY])
    return 0


def manage(args: Sequence[str]) -> int:
    """`manage.py ARGS` of the app named by the environment (the registry by default)."""
    os.environ.setdefault(contract.SETTINGS, contract.SETTINGS_MODULE)
    prepare(os.environ)
    from django.core.management import execute_from_command_line  # noqa: PLC0415

    execute_from_command_line(["manage.py", *args])
    return 0


def run(command: Sequence[str]) -> int:
    """The app's own command in its directory, with the contract's variables; its exit code."""
    command = list(command[1:] if command[:1] == ["--"] else command)
    if not command:
        raise ThreetierError("run: no command", fix="give the command after `run --`")
    prepare(os.environ)
    directory = os.environ.get(contract.APP_DIR) or None
    return subprocess.run(command, cwd=directory, check=False).returncode  # noqa: S603 - the parameters' command


def task_identity(metadata_uri: str | None, *, timeout: float = 2) -> dict[str, str]:
    """THREETIER_INSTANCE_NAME/AZ of an ECS task, from its metadata endpoint (v4); {} off ECS."""
    if not metadata_uri:
        return {}
    try:
        with urllib.request.urlopen(metadata_uri + "/task", timeout=timeout) as response:  # noqa: S310 - ECS's own endpoint
            task = json.load(response)
        return contract.instance_environment(task["TaskARN"].rsplit("/", 1)[-1], task.get("AvailabilityZone", ""))
    except (OSError, ValueError, KeyError) as exc:
        print(f"threetier.runtime: no task metadata ({exc})", file=sys.stderr)
        return {}


def entrypoint(command: Sequence[str]) -> int:
    if not command:
        raise ThreetierError("entrypoint: no command to run", fix="give the command after `entrypoint`")
    if not os.environ.get(contract.INSTANCE_NAME):
        os.environ.update(task_identity(os.environ.get("ECS_CONTAINER_METADATA_URI_V4")))
    collect = contract.collectstatic_command(sys.executable, contract.app_identity(os.environ))
    if collect and ("gunicorn" in command or command[-1:] == ["serve"]):
        # Each task collects into its own disk: the image is read-only but for this.
        subprocess.run(collect, check=True)
    os.execvp(command[0], list(command))  # noqa: S606 - the task definition's command, as given
    return 0  # not reached


def serve() -> int:
    bind = f"0.0.0.0:{os.environ.get('PORT') or DEFAULT_PORT}"
    command = contract.gunicorn_command(sys.executable, bind=bind, name="threetier",
                                        app=contract.app_identity(os.environ))
    os.execv(command[0], command)  # noqa: S606 - an argv list, no shell
    return 0  # not reached


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["migrate"]:
            return migrate()
        if args[:1] == ["entrypoint"]:
            return entrypoint(args[1:])
        if args[:1] == ["serve"]:
            return serve()
        if args[:1] == ["manage"]:
            return manage(args[1:])
        if args[:1] == ["run"]:
            return run(args[1:])
        print(__doc__, file=sys.stderr)
        return 2
    except ThreetierError as error:  # SettingsError too: a missing or malformed variable
        print(f"threetier.runtime: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
