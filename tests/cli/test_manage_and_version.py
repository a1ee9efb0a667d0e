"""`threetier --version`, and `threetier manage COMMAND...` refusing to run without the
twin it needs (the run against a live twin is tests/local/test_manage_command.py)."""

from __future__ import annotations

from importlib import metadata


def test_version_prints_the_installed_version(cli):
    result = cli("--version")

    assert result.code == 0, result
    assert result.out.strip() == f"threetier {metadata.version('threetier')}"


def test_manage_needs_a_running_twin_and_says_how_to_start_it(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("THREETIER_STATE_DIR", str(tmp_path / "state"))

    result = cli("manage", "migrate", "--plan")

    assert result.code == 1, result
    assert "is not running" in result.err and "threetier --env default up" in result.err


def test_manage_passes_the_commands_own_options_through(cli, tmp_path, monkeypatch):
    from threetier.cli import manage

    seen = {}
    monkeypatch.setenv("THREETIER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("threetier.local.twin.Twin.require_running", lambda self: None)
    monkeypatch.setattr("threetier.local.twin.Twin.manage_env", lambda self: {"X": "1"})

    class Recorder:
        def __init__(self, argv, **kwargs):
            seen.update(argv=argv, **kwargs)

        def wait(self):
            return 3

    monkeypatch.setattr(manage.subprocess, "Popen", Recorder)

    result = cli("manage", "migrate", "--plan", "--database", "default")

    assert result.code == 3, result  # the command's own exit code
    assert seen["argv"][1:] == ["-m", "threetier.webapp", "migrate", "--plan", "--database", "default"]
    assert seen["env"] == {"X": "1"}


def test_manage_passes_only_createsuperusers_variables_from_the_callers_environment():
    from threetier.cli.manage import passed_through

    assert passed_through({"DJANGO_SUPERUSER_PASSWORD": "p", "DJANGO_SUPERUSER_USER_ID": "ops",
                           "DJANGO_SETTINGS_MODULE": "x", "PYTHONPATH": "/opt/x", "HOME": "/root"}) == {
        "DJANGO_SUPERUSER_PASSWORD": "p", "DJANGO_SUPERUSER_USER_ID": "ops",
    }
