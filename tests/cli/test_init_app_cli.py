"""`threetier init --app-source`: a Django project from `startproject` becomes the file's
[app] section (threetier.spec.App), from flags and from the prompts (typer's CliRunner as
the terminal, asking again after a bad answer)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.startproject import startproject
from typer.testing import CliRunner

from threetier.spec import load_spec


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """An empty project root: init writes its parameters/ here."""
    monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(tmp_path))
    return tmp_path


def test_init_detects_a_django_project_into_the_app_section(cli, project):
    source = startproject(project / "mysite", requirements="django==5.2.19\n")
    result = cli("init", "mine", "--region", "eu-central-1", "--app-source", str(source))
    assert result.code == 0, result
    spec = load_spec("mine", path=project / "parameters" / "mine.toml")
    assert spec.app.source == "mysite" and spec.app_source() == source
    assert (spec.app.settings, spec.app.wsgi) == ("mysite.settings", "mysite.wsgi:application")
    assert spec.app.requirements == "requirements.txt" and spec.project.name == "mysite"
    assert "WSGI_APPLICATION in mysite/settings.py" in result.out


def test_interactive_run_asks_again_after_a_bad_answer(project):
    from threetier.cli.main import app

    source = startproject(project / "mysite", requirements="django==5.2.19\n")
    answers = [
        "shop",  # name
        "mars-1",  # region: unknown, asked again
        "eu-west-1",
        "",  # AZs: the default a,b
        "10.30.0.0/16",
        "ec2",
        "",  # instances: one per AZ
        "",  # no domain
        "not-an-address",  # asked again
        "ops@example.com",
        str(source),
        "",  # wsgi as detected
        "",  # settings as detected
        "",  # requirements as detected
    ]
    result = CliRunner().invoke(app, ["init", "--interactive"], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "'mars-1' is not a region init knows" in result.output
    assert "'not-an-address' is not an e-mail address" in result.output
    assert "AZs of eu-west-1: eu-west-1a, eu-west-1b, eu-west-1c" in result.output
    spec = load_spec("shop", path=project / "parameters" / "shop.toml")
    assert spec.network.azs == ["eu-west-1a", "eu-west-1b"] and str(spec.network.vpc_cidr) == "10.30.0.0/16"
    assert spec.monitoring.alarm_email == "ops@example.com"
    assert spec.app.wsgi == "mysite.wsgi:application" and spec.app.source == "mysite"


def test_an_app_without_requirements_is_written_with_a_warning(cli, project):
    source = startproject(project / "bare")
    result = cli("init", "bare", "--app-source", str(source))
    assert result.code == 0, result
    assert "app.requirements: none found" in result.err and "--requirements" in result.err
    assert load_spec("bare", path=project / "parameters" / "bare.toml").app.requirements is None


def test_a_wsgi_app_gets_no_migrations_and_no_collectstatic(cli, project):
    (project / "svc").mkdir()
    (project / "svc" / "wsgi.py").write_text("def application(environ, start_response):\n    return [b'ok']\n")
    (project / "svc" / "requirements.txt").write_text("")
    result = cli("init", "svc", "--app-source", str(project / "svc"))
    assert result.code == 0, result
    app = load_spec("svc", path=project / "parameters" / "svc.toml").app
    assert (app.wsgi, app.settings, app.migrate, app.collectstatic) == ("wsgi:application", None, "", False)
    assert app.django is False


def test_an_app_init_cannot_read_asks_for_the_flag(cli, project):
    (project / "empty").mkdir()
    result = cli("init", "empty", "--app-source", str(project / "empty"))
    assert result.code == 2, result
    assert "no WSGI application found" in result.err and "--wsgi module:callable" in result.err
    given = cli("init", "empty", "--app-source", str(project / "empty"), "--wsgi", "server:app")
    assert given.code == 0, given
    assert load_spec("empty", path=project / "parameters" / "empty.toml").app.wsgi == "server:app"
    assert "app.wsgi: server has no file under" in given.err
