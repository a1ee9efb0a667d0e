"""Each drill, run through the CLI against a real twin, holds its expectations
(0 failed requests, detection within the health-check window, 0 lost writes, RTO)."""

from __future__ import annotations

import json

import pytest

from threetier.cli.main import main
from threetier.local.probes import wait_until

pytestmark = pytest.mark.integration


def run_drill(name: str, capsys) -> tuple[int, dict]:
    code = main(["drill", name, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_drill_web_loses_no_request_when_an_instance_is_killed(cli_env, capsys):
    code, result = run_drill("web", capsys)
    assert code == 0, json.dumps(result)
    assert result["drill"] == "web"
    assert result["requests"] > 50
    assert result["failed_requests"] == 0
    # HEALTH: interval 0.5 s x unhealthy threshold 1, + 1 s slack
    assert 0 < result["detect_seconds"] <= 1.5
    assert result["recover_seconds"] is not None and result["recover_seconds"] > result["detect_seconds"]
    assert all(cli_env.target_health().values())


def test_drill_outage_serves_the_sorry_page_then_recovers(cli_env, capsys):
    code, result = run_drill("outage", capsys)
    assert code == 0, json.dumps(result)
    assert result["detect_seconds"] <= 1.5
    assert result["recover_seconds"] is not None
    assert any("no-store" in note for note in result["notes"])
    assert wait_until(lambda: all(cli_env.target_health().values()), timeout=20)


def test_drill_db_fails_over_without_losing_an_acknowledged_write(cli_env, capsys):
    before = cli_env.database_roles()
    code, result = run_drill("db", capsys)
    assert code == 0, json.dumps(result)
    assert result["lost_writes"] == 0
    assert result["acknowledged_writes"] > 0
    assert result["rto_seconds"] is not None and result["rto_seconds"] <= 10
    # The old standby is the primary now, and the watchdog rebuilds a standby on the old node.
    after = cli_env.database_roles()
    old_primary = next(name for name, role in before.items() if role == "primary")
    assert after[old_primary] != "primary"
    assert wait_until(cli_env.database_redundant, timeout=60), cli_env.database_roles()
    assert sorted(cli_env.database_roles().values()) == ["primary", "standby"]


def test_a_drill_on_a_stopped_twin_says_how_to_start_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("THREETIER_STATE_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("COLUMNS", "200")
    code = main(["drill", "web"])
    err = capsys.readouterr().err
    assert code == 1
    assert "not running" in err and "threetier --env default up" in err
