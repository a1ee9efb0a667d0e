"""What a web server runs at boot, from its user data: `python -m threetier.aws.boot COMMAND`.

- `secrets`: read the app role's database credentials and the Django secret key from
  Secrets Manager and write them to root-only files (never into the user data, a log or
  the template): the password to THREETIER_DB_PASSWORD_FILE (0600, owned by the app user),
  the rest to an EnvironmentFile for systemd (0600, root). gunicorn gets nothing else.
- `migrate`: once per deploy, as the master role: ensure the app role and its grants
  (threetier.dbroles), then run `python -m threetier.webapp migrate` AS THE APP ROLE, so
  the tables belong to it. Every new instance calls it, but each first takes the same
  PostgreSQL advisory lock, so they run one after another and all but the first find
  nothing to do: migrations never race. (A custom resource or SSM Run Command would also
  work, but needs a Lambda in the VPC or an extra orchestration step; the lock needs only
  the database the app already talks to.) The master credentials come from Secrets
  Manager straight into this process (EC2: `--master-secret-arn`), or from the migration
  task's environment (Fargate: THREETIER_DB_MASTER_USER/_PASSWORD); they are never
  written to disk and never reach the `migrate` child process.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from threetier.aws.api import secret_reader
from threetier.errors import ThreetierError

MASTER_USER_ENV = "THREETIER_DB_MASTER_USER"
MASTER_PASSWORD_ENV = "THREETIER_DB_MASTER_PASSWORD"  # noqa: S105 - the variable's name
# A fixed key every instance agrees on: "3tier" in ASCII.
MIGRATION_LOCK_KEY = 0x3374696572
LOCK_WAIT_SECONDS = 900
CONNECT_ATTEMPTS = 30
CONNECT_PAUSE_SECONDS = 10


def write_private(path: Path, content: str, *, owner: str | None = None) -> None:
    """Write `content` to `path` with mode 0600 from the start (no window where it is readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    if owner:
        user = pwd.getpwnam(owner)
        os.chown(tmp, user.pw_uid, user.pw_gid)
    os.replace(tmp, path)


def write_secrets(
    *,
    get_secret: Callable[[str], str],
    db_secret_arn: str,
    app_secret_arn: str,
    password_file: Path,
    secret_env_file: Path,
    app_user: str | None,
) -> None:
    """Fetch both secrets and write the password file and the secret EnvironmentFile."""
    credentials = json.loads(get_secret(db_secret_arn))
    secret_key = get_secret(app_secret_arn).strip()
    write_private(password_file, credentials["password"], owner=app_user)
    write_private(
        secret_env_file,
        f"THREETIER_SECRET_KEY={secret_key}\nTHREETIER_DB_USER={credentials['username']}\n",
    )


def migrate_with_lock(
    *,
    connect: Callable[[], object],
    run: Callable[[Sequence[str]], int],
    command: Sequence[str],
    prepare: Callable[[object], None] | None = None,
) -> int:
    """Run `prepare(conn)` then `command` while holding the migration advisory lock;
    returns the command's exit code."""
    with connect() as conn:  # type: ignore[attr-defined]
        # A stuck peer must not block this boot forever.
        conn.execute(f"SET statement_timeout = '{LOCK_WAIT_SECONDS}s'")
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            if prepare is not None:
                prepare(conn)
            return run(command)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def required(environ: Mapping[str, str], name: str) -> str:
    """An environment variable the stacks set (user data or task definition)."""
    value = environ.get(name)
    if not value:
        raise ThreetierError(
            f"{name} is not set",
            fix="run this through the stack's user data or migration task, which set it",
        )
    return value


def app_credentials(environ: Mapping[str, str]) -> tuple[str, str]:
    """The app role's user and password, as the webapp reads them (password or password file)."""
    password = environ.get("THREETIER_DB_PASSWORD")
    if not password:
        path = Path(required(environ, "THREETIER_DB_PASSWORD_FILE"))
        try:
            password = path.read_text()
        except OSError as exc:
            raise ThreetierError(
                f"cannot read the app role's password file {path}: {exc.strerror}",
                fix="run `python -m threetier.aws.boot secrets` first (the user data does)",
            ) from None
    return required(environ, "THREETIER_DB_USER"), password.strip()


def master_credentials(
    environ: Mapping[str, str], *, secret_arn: str | None, get_secret: Callable[[str], str]
) -> tuple[str, str]:
    """The master role's user and password: from Secrets Manager when an ARN is given
    (EC2), else from the task's environment (Fargate)."""
    if secret_arn:
        secret = json.loads(get_secret(secret_arn))
        return secret["username"], secret["password"]
    missing = [name for name in (MASTER_USER_ENV, MASTER_PASSWORD_ENV) if not environ.get(name)]
    if missing:
        raise ThreetierError(
            f"no master credentials: {', '.join(missing)} not set",
            fix=f"pass --master-secret-arn, or set {MASTER_USER_ENV} and {MASTER_PASSWORD_ENV} "
            "(the migration task's secrets do)",
        )
    return environ[MASTER_USER_ENV], environ[MASTER_PASSWORD_ENV]


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`migrate` runs as the app role: the master's credentials stay in this process."""
    return {k: v for k, v in environ.items() if k not in (MASTER_USER_ENV, MASTER_PASSWORD_ENV)}


def connect_as(user: str, password: str):  # noqa: ANN201 - a psycopg.Connection
    import psycopg  # noqa: PLC0415 - only the steps that reach the database load it

    last_error: Exception | None = None
    for _attempt in range(CONNECT_ATTEMPTS):
        try:
            return psycopg.connect(
                host=required(os.environ, "THREETIER_DB_HOST"),
                port=int(os.environ.get("THREETIER_DB_PORT", "5432")),
                dbname=required(os.environ, "THREETIER_DB_NAME"),
                user=user,
                password=password,
                # The stacks set THREETIER_DB_SSLMODE=require (RDS forces TLS as well).
                sslmode=os.environ.get("THREETIER_DB_SSLMODE") or "require",
                connect_timeout=10,
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            last_error = exc
            time.sleep(CONNECT_PAUSE_SECONDS)
    raise ThreetierError(
        f"the database is unreachable after {CONNECT_ATTEMPTS} attempts: {last_error}",
        fix="check THREETIER_DB_HOST/PORT, the database's security group and that it is available",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run a boot command; a ThreetierError becomes one line on stderr and exit code 1."""
    try:
        return run(argv)
    except ThreetierError as exc:
        print(f"threetier boot: {exc}", file=sys.stderr)
        return exc.exit_code


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m threetier.aws.boot")
    commands = parser.add_subparsers(dest="command", required=True)
    secrets = commands.add_parser("secrets", help="write the password file and the secret env file")
    secrets.add_argument("--region", required=True)
    secrets.add_argument("--db-secret-arn", required=True)
    secrets.add_argument("--app-secret-arn", required=True)
    secrets.add_argument("--password-file", type=Path, required=True)
    secrets.add_argument("--secret-env-file", type=Path, required=True)
    secrets.add_argument("--app-user", default=None)
    migrate = commands.add_parser(
        "migrate",
        help="ensure the app role as master, then migrate as app, under the advisory lock",
    )
    migrate.add_argument("--region", default=None)
    migrate.add_argument(
        "--master-secret-arn", default=None, help=f"else ${MASTER_USER_ENV}/${MASTER_PASSWORD_ENV}"
    )
    args = parser.parse_args(argv)

    if args.command == "secrets":
        write_secrets(
            get_secret=secret_reader(args.region),
            db_secret_arn=args.db_secret_arn,
            app_secret_arn=args.app_secret_arn,
            password_file=args.password_file,
            secret_env_file=args.secret_env_file,
            app_user=args.app_user,
        )
        return 0
    from threetier import dbroles  # noqa: PLC0415 - only `migrate` needs it

    master_user, master_password = master_credentials(
        os.environ,
        secret_arn=args.master_secret_arn,
        get_secret=lambda arn: secret_reader(args.region)(arn),
    )
    app_user, app_password = app_credentials(os.environ)
    child_env = child_environment(os.environ)
    return migrate_with_lock(
        connect=lambda: connect_as(master_user, master_password),
        prepare=lambda conn: dbroles.ensure_app_access(
            conn, database=required(os.environ, "THREETIER_DB_NAME"), app_user=app_user,
            app_password=app_password,
        ),
        run=lambda command: subprocess.run(command, check=False, env=child_env).returncode,
        command=[sys.executable, "-m", "threetier.webapp", "migrate", "--noinput"],
    )


if __name__ == "__main__":
    sys.exit(main())
