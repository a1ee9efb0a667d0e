"""lb_semantics "ideal": the twin as first built (retries, passive health, the sorry page
at the LB), kept to compare with "alb" — a killed instance costs no request and the
sorry page comes within the LB's own window. No ALB behaves like this."""

from __future__ import annotations

import json

import pytest
from support.twin_helpers import point_cli_at

from threetier.cli.main import main

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("drill-ideal")]


@pytest.fixture
def ideal_cli(ideal_env, monkeypatch):
    return point_cli_at(ideal_env.twin, ideal_env.spec.env_name, monkeypatch)


def run_drill(name: str, capsys) -> tuple[int, dict]:
    code = main(["drill", name, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_ideal_drill_web_loses_no_request(ideal_cli, capsys):
    code, result = run_drill("web", capsys)
    assert code == 0, json.dumps(result)
    assert result["lb_semantics"] == "ideal"
    assert result["requests"] > 20 and result["failed_requests"] == 0  # fewer on a busy machine
    rows = {row["measure"]: row for row in result["scorecard"]}
    assert rows["failed requests"]["twin_model"]["high"] == 0
    assert rows["failed requests"]["aws_predicted"]["high"] > 0  # what an ALB would cost instead


def test_ideal_drill_outage_serves_the_sorry_page_from_the_lb_at_once(ideal_cli, capsys):
    code, result = run_drill("outage", capsys)
    assert code == 0, json.dumps(result)
    assert result["detect_seconds"] <= 1.5
    assert any("no-store" in note for note in result["notes"])
    assert not any("new connections → sorry" in note for note in result["notes"])  # the stage never failed over
