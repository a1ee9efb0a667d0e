"""What a web server runs at boot, from its user data: `python -m threetier.aws.boot COMMAND`.

- `secrets`: read the database credentials and the Django secret key from Secrets
  Manager and write them to root-only files (never into the user data, a log or the
  template): the password to THREETIER_DB_PASSWORD_FILE (0600, owned by the app user),
  the rest to an EnvironmentFile for systemd (0600, root).
- `migrate`: run `python -m threetier.webapp migrate` once per deploy. Every new instance
  calls it, but each first takes the same PostgreSQL advisory lock, so they run one after
  another and all but the first find nothing to do: migrations never race. (A custom
  resource or SSM Run Command would also work, but needs a Lambda in the VPC or an extra
  orchestration step; the lock needs only the database the app already talks to.)
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

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
) -> int:
    """Run `command` while holding the migration advisory lock; returns its exit code."""
    with connect() as conn:  # type: ignore[attr-defined]
        # A stuck peer must not block this boot forever.
        conn.execute(f"SET statement_timeout = '{LOCK_WAIT_SECONDS}s'")
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            return run(command)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _connect_from_environment():
    import psycopg

    last_error: Exception | None = None
    for _attempt in range(CONNECT_ATTEMPTS):
        try:
            return psycopg.connect(
                host=os.environ["THREETIER_DB_HOST"],
                port=int(os.environ.get("THREETIER_DB_PORT", "5432")),
                dbname=os.environ["THREETIER_DB_NAME"],
                user=os.environ["THREETIER_DB_USER"],
                password=Path(os.environ["THREETIER_DB_PASSWORD_FILE"]).read_text().strip(),
                sslmode="require",
                connect_timeout=10,
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            last_error = exc
            time.sleep(CONNECT_PAUSE_SECONDS)
    raise SystemExit(
        f"threetier boot: database unreachable after {CONNECT_ATTEMPTS} attempts: {last_error}"
    )


def _secrets_manager_reader(region: str) -> Callable[[str], str]:
    import boto3

    client = boto3.client("secretsmanager", region_name=region)
    return lambda arn: client.get_secret_value(SecretId=arn)["SecretString"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m threetier.aws.boot")
    commands = parser.add_subparsers(dest="command", required=True)
    secrets = commands.add_parser("secrets", help="write the password file and the secret env file")
    secrets.add_argument("--region", required=True)
    secrets.add_argument("--db-secret-arn", required=True)
    secrets.add_argument("--app-secret-arn", required=True)
    secrets.add_argument("--password-file", type=Path, required=True)
    secrets.add_argument("--secret-env-file", type=Path, required=True)
    secrets.add_argument("--app-user", default=None)
    commands.add_parser(
        "migrate", help="migrate under the advisory lock (env from the EnvironmentFiles)"
    )
    args = parser.parse_args(argv)

    if args.command == "secrets":
        write_secrets(
            get_secret=_secrets_manager_reader(args.region),
            db_secret_arn=args.db_secret_arn,
            app_secret_arn=args.app_secret_arn,
            password_file=args.password_file,
            secret_env_file=args.secret_env_file,
            app_user=args.app_user,
        )
        return 0
    return migrate_with_lock(
        connect=_connect_from_environment,
        run=lambda command: subprocess.run(command, check=False).returncode,
        command=[sys.executable, "-m", "threetier.webapp", "migrate", "--noinput"],
    )


if __name__ == "__main__":
    sys.exit(main())
