"""The test suite's own machinery (tests/support): the environment a run starts from and
the guards that keep the markers honest."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

from support import environment, guards


def test_a_run_starts_with_a_plain_terminal_and_none_of_the_runners_aws_or_twin_settings():
    environ = {
        "AWS_PROFILE": "work", "AWS_ACCESS_KEY_ID": "AKIAREAL", "AWS_SESSION_TOKEN": "t",
        "AWS_CONFIG_FILE": "/home/me/.aws/config", "THREETIER_ENV": "prod", "THREETIER_STATE_DIR": "/x",
        "THREETIER_TEST_WORKERS": "0", "FORCE_COLOR": "1", "HOME": "/home/me",
    }
    environment.isolate(environ)
    assert environ["AWS_ACCESS_KEY_ID"] == environ["AWS_SECRET_ACCESS_KEY"] == environment.FAKE_AWS_KEY
    assert "AWS_PROFILE" not in environ and "AWS_SESSION_TOKEN" not in environ
    assert environ["AWS_CONFIG_FILE"] == environ["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert urlsplit(environ["AWS_ENDPOINT_URL"]).hostname == "127.0.0.1"
    assert "THREETIER_ENV" not in environ and "THREETIER_STATE_DIR" not in environ
    assert environ["THREETIER_TEST_WORKERS"] == "0" and environ["HOME"] == "/home/me"
    assert (environ["NO_COLOR"], environ["TERM"], environ["COLUMNS"]) == ("1", "dumb", "120")
    assert "FORCE_COLOR" not in environ


def test_this_process_runs_in_that_environment():
    assert os.environ["AWS_ACCESS_KEY_ID"] == environment.FAKE_AWS_KEY
    assert os.environ["NO_COLOR"] == "1" and "AWS_PROFILE" not in os.environ


def test_the_programs_a_command_starts_are_found_however_it_is_spelled():
    assert guards.program_names(["/opt/pg/bin/initdb", "-D", "/srv/pg/data", "-U", "postgres"]) == {"initdb"}
    assert {"moto.server", "server"} <= guards.program_names([sys.executable, "-m", "moto.server", "-p", "1"])
    assert "caddy" in guards.program_names(["/bin/sh", "-c", "/usr/bin/caddy run --config x"])
    assert guards.program_names([b"/usr/bin/supervisord", b"-c", b"conf"]) == {"supervisord"}
    assert guards.program_names(["/opt/pg/bin/postgres", "--version"]) == set()  # starts no server


def test_only_loopback_addresses_count_as_loopback():
    assert guards.is_loopback(("127.0.0.1", 5432)) and guards.is_loopback(("::1", 443, 0, 0))
    assert guards.is_loopback(("localhost", 80)) and guards.is_loopback("/srv/state/supervisor.sock")
    assert not guards.is_loopback(("192.0.2.10", 80))
    assert not guards.is_loopback(("registry.npmjs.org", 443))


def test_module_markers_are_read_without_importing_the_module(tmp_path):
    module = tmp_path / "test_x.py"
    module.write_text(
        "import sys\nimport pytest\nsys.exit('imported')\n"
        "pytestmark = [pytest.mark.integration, pytest.mark.xdist_group('twin')]\n"
    )
    assert guards.module_markers(module) == {"integration", "xdist_group"}
    single = tmp_path / "test_y.py"
    single.write_text("import pytest\n\npytestmark = pytest.mark.synth  # jsii\n")
    assert guards.module_markers(single) == {"synth"}
    assert guards.module_markers(tmp_path / "test_missing.py") == frozenset()
