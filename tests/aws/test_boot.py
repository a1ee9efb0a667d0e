"""What a web server runs at boot: secrets to 0600 files, migrations under one advisory lock."""

from __future__ import annotations

import json
import stat

import pytest

from threetier.aws import boot


def test_secrets_land_in_private_files_and_nowhere_else(tmp_path, capsys):
    values = {
        "arn:db": json.dumps({"username": "uda_app", "password": "s3cr3t-pw"}),
        "arn:app": "django-key-123\n",
    }
    boot.write_secrets(
        get_secret=values.__getitem__,
        db_secret_arn="arn:db",
        app_secret_arn="arn:app",
        password_file=tmp_path / "etc" / "db-password",
        secret_env_file=tmp_path / "etc" / "secret.env",
        app_user=None,
    )
    password = tmp_path / "etc" / "db-password"
    env_file = tmp_path / "etc" / "secret.env"
    assert password.read_text() == "s3cr3t-pw"
    assert (
        env_file.read_text() == "THREETIER_SECRET_KEY=django-key-123\nTHREETIER_DB_USER=uda_app\n"
    )
    for path in (password, env_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3cr3t" not in capsys.readouterr().out + capsys.readouterr().err
    assert not list((tmp_path / "etc").glob("*.tmp"))


class FakeConnection:
    """Records statements; stands in for psycopg in this unit test only."""

    def __init__(self, log):
        self.log = log

    def execute(self, sql, params=None):
        self.log.append(sql.split("(")[0].strip() if "advisory" in sql else sql)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.log.append("close")


def test_migrate_runs_inside_the_advisory_lock():
    log: list[str] = []

    def run(command):
        log.append("migrate")
        return 0

    code = boot.migrate_with_lock(connect=lambda: FakeConnection(log), run=run, command=["migrate"])
    assert code == 0
    assert log[1:] == ["SELECT pg_advisory_lock", "migrate", "SELECT pg_advisory_unlock", "close"]
    assert log[0].startswith("SET statement_timeout")


def test_lock_is_released_when_migrate_fails():
    log: list[str] = []

    def run(command):
        raise RuntimeError("migration crashed")

    with pytest.raises(RuntimeError):
        boot.migrate_with_lock(connect=lambda: FakeConnection(log), run=run, command=["migrate"])
    assert log[-2:] == ["SELECT pg_advisory_unlock", "close"]


def test_migrate_exit_code_is_passed_on():
    code = boot.migrate_with_lock(
        connect=lambda: FakeConnection([]), run=lambda c: 3, command=["migrate"]
    )
    assert code == 3


def test_the_app_role_is_ensured_inside_the_lock_before_migrating():
    log: list[str] = []

    def run(command):
        log.append("migrate")
        return 0

    boot.migrate_with_lock(
        connect=lambda: FakeConnection(log),
        prepare=lambda conn: log.append("ensure app role"),
        run=run,
        command=["migrate"],
    )
    assert log[1:] == [
        "SELECT pg_advisory_lock", "ensure app role", "migrate", "SELECT pg_advisory_unlock", "close"
    ]


def test_master_credentials_come_from_secrets_manager_on_ec2_and_the_task_env_on_fargate():
    secret = json.dumps({"username": "uda_admin", "password": "m-pw"})
    assert boot.master_credentials(
        {}, secret_arn="arn:master", get_secret={"arn:master": secret}.__getitem__
    ) == ("uda_admin", "m-pw")
    environ = {"THREETIER_DB_MASTER_USER": "uda_admin", "THREETIER_DB_MASTER_PASSWORD": "m-pw"}
    assert boot.master_credentials(environ, secret_arn=None, get_secret=None) == ("uda_admin", "m-pw")
    with pytest.raises(SystemExit, match="THREETIER_DB_MASTER_USER"):
        boot.master_credentials({}, secret_arn=None, get_secret=None)


def test_migrate_child_runs_as_the_app_role_without_the_masters_credentials(tmp_path):
    password_file = tmp_path / "db-password"
    password_file.write_text("app-pw\n")
    environ = {
        "THREETIER_DB_USER": "uda_app",
        "THREETIER_DB_PASSWORD_FILE": str(password_file),
        "THREETIER_DB_MASTER_USER": "uda_admin",
        "THREETIER_DB_MASTER_PASSWORD": "m-pw",
        "PATH": "/usr/bin",
    }
    assert boot.app_credentials(environ) == ("uda_app", "app-pw")
    assert boot.app_credentials({"THREETIER_DB_USER": "u", "THREETIER_DB_PASSWORD": "p"}) == ("u", "p")
    child = boot.child_environment(environ)
    assert "m-pw" not in json.dumps(child)
    assert child["THREETIER_DB_USER"] == "uda_app" and child["PATH"] == "/usr/bin"
