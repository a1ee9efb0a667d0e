"""`up` fails clearly and leaves nothing half-started."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest
from support.twin_helpers import HEALTH, traversable_tempdir, twin_ports, write_project

from threetier.cli.main import main
from threetier.local.layout import STATE_DIR_VARIABLE, Layout

pytestmark = pytest.mark.integration


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def other_env(monkeypatch):
    root = traversable_tempdir("tt-err-")
    ports = twin_ports()
    write_project(root / "project", "clash", {**ports, "health_check": HEALTH})
    monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(root / "project"))
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(root / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    yield {"https": ports["https_port"], "app": ports["first_app_port"] + 1, "state": root / "state"}
    main(["--env", "clash", "down", "--purge"])
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("which, key", [("https", "local.https_port"), ("app", "local.first_app_port")])
def test_a_port_in_use_is_named_with_its_key_and_nothing_is_left_running(other_env, capsys, which, key):
    port = other_env[which]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        code = main(["--env", "clash", "up"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"port {port} ({key}" in err and "already in use" in err
    assert f"pid {os.getpid()}" in err  # the program holding it
    assert "parameters/clash.toml" in err
    assert "Traceback" not in err
    assert not Layout(other_env["state"]).supervisor_socket.exists()
    assert processes_mentioning(str(other_env["state"])) == []


FAKE_INITDB = """#!/bin/sh
# initdb -D DATA ...: just enough of a cluster for threetier to configure it.
mkdir -p "$2" && echo 18 > "$2/PG_VERSION" && touch "$2/postgresql.conf"
"""
FAKE_POSTGRES = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "postgres (PostgreSQL) 18.6"; exit 0; fi
echo "FATAL:  fake-postgres-cannot-start: data directory is broken" >&2
exit 1
"""


def test_a_database_that_will_not_start_shows_its_log_and_up_undoes_itself(other_env, monkeypatch, capsys):
    bin_dir = other_env["state"].parent / "fake-bin"
    bin_dir.mkdir()
    for name in ("initdb", "postgres", "pg_ctl", "psql", "pg_basebackup"):
        script = bin_dir / name
        script.write_text({"initdb": FAKE_INITDB, "postgres": FAKE_POSTGRES}.get(name, "#!/bin/sh\nexit 0\n"))
        script.chmod(0o755)
    project = Path(os.environ["THREETIER_PROJECT_ROOT"])
    toml = project / "parameters" / "clash.toml"
    system = f'[local]\npostgres = "system"\npostgres_bin_dir = "{bin_dir}"\n'
    toml.write_text(toml.read_text().replace("[local]\n", system))
    code = main(["--env", "clash", "up"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "PostgreSQL db-1a did not become ready" in err
    assert "fake-postgres-cannot-start" in err  # the tail of its log
    assert not Layout(other_env["state"]).supervisor_socket.exists()
    assert processes_mentioning(str(other_env["state"])) == []


def test_status_and_down_of_a_twin_that_is_not_running_say_so_and_exit_0(other_env, capsys):
    assert main(["--env", "clash", "status"]) == 0
    assert "the twin of 'clash' is not running" in capsys.readouterr().err
    assert main(["--env", "clash", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["running"] is False
    assert main(["--env", "clash", "down"]) == 0
    assert "was not running" in capsys.readouterr().err


def test_up_refuses_a_non_empty_directory_that_is_not_a_state_dir(other_env, monkeypatch, capsys):
    precious = other_env["state"].parent / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(precious))
    assert main(["--env", "clash", "up"]) == 1
    assert "is not a threetier state directory" in capsys.readouterr().err
    assert sorted(p.name for p in precious.iterdir()) == ["notes.txt"]
