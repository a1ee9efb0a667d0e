"""The CLI's one terminal: tables and spinners on a terminal, plain lines in a pipe."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from threetier.cli.context import SECTION, Column, Output


@pytest.fixture(autouse=True)
def not_dumb(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")  # Rich draws a dumb terminal 80 columns wide


def console(*, terminal: bool, width: int = 100) -> Console:
    return Console(
        file=io.StringIO(), width=width, record=True, color_system=None, force_terminal=terminal
    )


ROWS = [["web-1a", "[green]RUNNING[/green]", "8001"], ["db-1a", "[red]FATAL[/red]", "15432"], SECTION,
        ["total", "", "2"]]
COLUMNS = ["component", "state", Column("port", right=True)]


def test_table_off_a_terminal_is_plain_aligned_lines_without_markup():
    out = console(terminal=False)
    Output(out=out).table("twin default", COLUMNS, ROWS)
    assert out.export_text().splitlines() == [
        "twin default",
        "component  state     port",
        "web-1a     RUNNING   8001",
        "db-1a      FATAL    15432",
        "-------------------------",
        "total                   2",
    ]


def test_table_on_a_terminal_is_a_rich_table():
    out = console(terminal=True)
    Output(out=out).table("twin default", COLUMNS, ROWS)
    text = out.export_text()
    assert "┃ component" in text and "│ web-1a" in text and "RUNNING" in text
    assert "[green]" not in text


def test_a_long_line_is_not_wrapped_in_a_pipe():
    out = console(terminal=False, width=20)
    Output(out=out).table("t", ["message"], [["a message far wider than the console is"]])
    assert out.export_text().splitlines()[-1] == "a message far wider than the console is"


def test_status_off_a_terminal_prints_the_message_and_each_step():
    err = console(terminal=False)
    with Output(err=err).status("bringing up the twin ...") as status:
        status.update("starting PostgreSQL ...")
        status.update("web-1a")
    assert err.export_text().splitlines() == [
        "bringing up the twin ...",
        "· starting PostgreSQL",
        "· web-1a",
    ]


def test_status_on_a_terminal_is_a_spinner_that_leaves_no_lines():
    err = console(terminal=True)
    with Output(err=err).status("bringing up the twin ...") as status:
        status.update("starting PostgreSQL ...")
    assert "· starting" not in err.export_text()


def test_a_drill_result_shows_each_expectation_against_its_limit():
    from threetier.cli.drill import show_result
    from threetier.drill.report import DrillResult

    result = DrillResult(drill="web", target="twin default", requests=120, failed_requests=2, detect_seconds=1.25)
    result.expect("failed requests", 2, 0)
    result.expect("detect seconds", 1.25, 3.0)
    result.notes.append("replaced web-1a in 4.1 s")
    out = console(terminal=False)
    show_result(Output(out=out), result)
    lines = out.export_text().splitlines()
    assert lines[0] == "drill web on twin default: FAILED"
    assert lines[2].split() == ["failed", "requests", "2", "≤", "0", "✗"]
    assert lines[3].split() == ["detect", "seconds", "1.25", "s", "≤", "3.00", "✓"]
    assert lines[4].split() == ["requests", "120"] and lines[-1] == "replaced web-1a in 4.1 s"
