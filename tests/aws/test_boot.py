"""What a web server runs at boot: secrets to 0600 files, migrations under one advisory lock."""

from __future__ import annotations

import json
import stat

import pytest

from threetier.aws import boot
from threetier.errors import ThreetierError
from threetier.local.ports import free_port


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
    with pytest.raises(ThreetierError, match="THREETIER_DB_MASTER_USER") as raised:
        boot.master_credentials({}, secret_arn=None, get_secret=None)
    assert "--master-secret-arn" in (raised.value.fix or "")


def test_boot_errors_are_one_line_and_exit_1_not_a_traceback(monkeypatch, capsys):
    for name in ("THREETIER_DB_MASTER_USER", "THREETIER_DB_MASTER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THREETIER_DB_USER", "uda_app")
    monkeypatch.setenv("THREETIER_DB_PASSWORD", "app-pw")
    assert boot.main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("threetier boot: no master credentials") and "fix: " in err, err
    assert "Traceback" not in err and "app-pw" not in err


def test_an_unreachable_database_is_a_threetier_error(monkeypatch):
    monkeypatch.setattr(boot, "CONNECT_ATTEMPTS", 2)
    monkeypatch.setattr(boot, "CONNECT_PAUSE_SECONDS", 0)
    monkeypatch.setenv("THREETIER_DB_HOST", "127.0.0.1")
    monkeypatch.setenv("THREETIER_DB_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("THREETIER_DB_NAME", "app")
    monkeypatch.setenv("THREETIER_DB_SSLMODE", "disable")
    with pytest.raises(ThreetierError, match="unreachable after 2 attempts") as raised:
        boot.connect_as("uda_admin", "m-pw")
    assert "security group" in (raised.value.fix or "")
    assert "m-pw" not in str(raised.value)


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
