"""What a server runs at boot: secrets into the contract's layout, the app role under one advisory lock."""

from __future__ import annotations

import json
import stat

import pytest

from threetier.aws import boot
from threetier.errors import ThreetierError
from threetier.runtime import contract
from threetier.local.ports import free_port


class FakePlatform:
    """Secrets Manager as a dict (the boot's only other platform part these steps use)."""

    def __init__(self, values):
        self.values = values

    def secret(self, arn):
        return self.values[arn]


def test_secrets_land_in_the_contracts_layout_and_nowhere_else(tmp_path, capsys):
    import os

    settings = boot.BootSettings(
        region="r", bundle_url="s3://b/k", app_port=8000, db_host="h", db_port="5432", db_name="d",
        db_secret_arn="arn:db", app_secret_arn="arn:app", allowed_hosts=["x"], csrf_trusted_origins=["http://x"],
        secure_cookies=False,
    )
    layout = boot.Ec2Layout(tmp_path)
    gid = os.getgid()
    contract.secure_secrets_dir(layout.config_dir, app_gid=gid)
    platform = FakePlatform({
        "arn:db": json.dumps({"username": "uda_app", "password": "s3cr3t-pw"}), "arn:app": "django-key-123\n",
    })
    assert boot.write_app_secrets(platform, settings, layout, app_gid=gid) == "uda_app"
    password = layout.config_dir / contract.DB_PASSWORD.name
    key = layout.config_dir / contract.SECRET_KEY.name
    assert password.read_text() == "s3cr3t-pw" and key.read_text() == "django-key-123"
    for path in (password, key):
        assert (stat.S_IMODE(path.stat().st_mode), path.stat().st_gid) == (contract.SECRET_FILE_MODE, gid)
    assert stat.S_IMODE(layout.config_dir.stat().st_mode) == contract.SECRETS_DIR_MODE
    out, err = capsys.readouterr()
    assert "s3cr3t" not in out + err and "django-key" not in out + err
    assert sorted(p.name for p in layout.config_dir.iterdir()) == sorted([password.name, key.name])
    environment = boot.app_environment(settings, layout, db_user="uda_app", name="i-1", az="az-1")
    assert environment[contract.DB_PASSWORD.variable] == str(password)
    assert "s3cr3t" not in json.dumps(environment)


def test_the_environment_file_round_trips_and_refuses_what_systemd_would_mangle(tmp_path):
    path = tmp_path / "app.env"
    values = {"A": "1", "HOSTS": "a.example,b.example", "EMPTY": "", "STAR": "*"}
    path.write_text(boot.env_file(values))
    assert boot.read_env_file(path) == values
    with pytest.raises(ThreetierError, match="newline or a quote"):
        boot.env_file({"BAD": 'a"b'})


def test_settings_travel_as_json_without_the_bash_steps():
    settings = boot.BootSettings(
        region="r", bundle_url="s3://b/k", app_port=8000, db_host="h", db_port="5432", db_name="d",
        db_secret_arn="arn:db", app_secret_arn="arn:app", allowed_hosts=["x"], csrf_trusted_origins=["http://x"],
        secure_cookies=True, extra_commands=["mount /media"],
    )
    again = boot.BootSettings.from_json(settings.to_json())
    assert "mount" not in settings.to_json()
    assert again.app_port == 8000 and list(again.allowed_hosts) == ["x"] and again.secure_cookies is True


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
