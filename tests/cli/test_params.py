"""`threetier params` and the root: environment selection and errors as exit codes."""

from __future__ import annotations

import json

import pytest

from threetier.cli.main import main


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("THREETIER_ENV", raising=False)


def test_params_validates_the_default_file(capsys):
    code = main(["params"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "10.0.0.0/24" in out and "isolated-1c" in out
    assert "parameters/default.toml is valid" in err


def test_env_option_selects_the_file(capsys):
    code = main(["--env", "prod", "params", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["database"]["multi_az"] is True


def test_env_variable_selects_the_file(capsys, monkeypatch):
    monkeypatch.setenv("THREETIER_ENV", "prod")
    assert main(["params", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["network"]["nat_gateways"] == 2


def test_unknown_environment_is_a_clear_error(capsys):
    code = main(["--env", "staging", "params"])
    err = capsys.readouterr().err
    assert code == 1
    assert "no parameters file for environment 'staging'" in err
    assert "default, fargate, prod" in err
    assert "Traceback" not in err


def test_broken_file_exits_1_naming_each_key(capsys, tmp_path, monkeypatch):
    (tmp_path / "parameters").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "parameters" / "bad.toml").write_text(
        '[[network.subnets]]\nname = "a"\ntier = "public"\naz = "ap-northeast-1a"\ncidr = "10.9.0.0/24"\n'
        "[web]\nport = 1\n"
    )
    monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(tmp_path))
    code = main(["--env", "bad", "params"])
    err = capsys.readouterr().err
    assert code == 1
    assert "web.port: unknown key" in err
