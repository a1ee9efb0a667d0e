"""A signal ends the CLI with the shell's exit code and one line, never a traceback:
143 on SIGTERM (what `kill`, systemd and CI send), 130 on SIGINT / Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from threetier.cli import context
from threetier.cli.main import SIGINT_EXIT, SIGTERM_EXIT, main

THREETIER = Path(sys.executable).with_name("threetier")


@pytest.fixture
def follow_a_log(tmp_path) -> list[str]:
    """`threetier logs -f web-1a` on a state directory that holds only that log: a command
    that runs until it is stopped, and needs no twin."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "web-1a.log").write_text("first line\n")
    return [str(THREETIER), "logs", "-f", "web-1a"], {
        **os.environ, "THREETIER_STATE_DIR": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "120"
    }


def test_sigterm_ends_the_cli_with_143_and_one_line(follow_a_log):
    command, environ = follow_a_log
    process = subprocess.Popen(
        command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # The log's line is printed before following starts: the command is running.
        assert process.stdout.readline() == "first line\n"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == SIGTERM_EXIT == 143, err
    assert err.strip() == "error: terminated (SIGTERM)", err


def test_sigterm_in_process_exits_143_and_restores_the_handler(monkeypatch, capsys):
    before = signal.getsignal(signal.SIGTERM)

    def terminated(env: str) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(context, "load_spec", terminated)
    assert main(["params"]) == SIGTERM_EXIT
    assert "terminated (SIGTERM)" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    def interrupted(env: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(context, "load_spec", interrupted)
    assert main(["params"]) == SIGINT_EXIT == 130
    err = capsys.readouterr().err
    assert err.strip() == "error: interrupted" and "Traceback" not in err
