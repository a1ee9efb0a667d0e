"""`threetier synth | ls | diff | deploy | destroy` from the command line."""

from __future__ import annotations

import json
import shutil

import pytest

from threetier.cli.main import main

pytestmark = pytest.mark.synth


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("THREETIER_ENV", raising=False)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No AWS credentials anywhere boto3 looks (and no instance metadata lookups)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_synth_writes_the_assembly_and_counts_resources(capsys, tmp_path, no_credentials):
    out_dir = tmp_path / "assembly"
    code = main(["--env", "prod", "synth", "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "threetier-prod" in out and "ap-northeast-1" in out
    template = json.loads((out_dir / "threetier-prod.template.json").read_text())
    (row,) = [line for line in out.splitlines() if "threetier-prod.template.json" in line]
    assert str(len(template["Resources"])) in row.split()
    # The regional stack and the us-east-1 stack of the billing alarm (no domain: no edge stack).
    assert "synthesized 2 stack(s)" in err
    assert "threetier-prod-billing" in out and "us-east-1" in out


@pytest.mark.parametrize("command", ["deploy", "diff", "destroy"])
def test_commands_that_touch_aws_explain_missing_credentials(
    capsys, command, no_credentials, monkeypatch
):
    from threetier.aws import cdk_cli

    # Must fail before the CDK CLI would be installed or run.
    monkeypatch.setattr(cdk_cli, "ensure_cdk_cli", lambda *a, **k: pytest.fail("CDK CLI reached"))
    code = main([command])
    err = capsys.readouterr().err
    assert code == 1
    assert "no AWS credentials found" in err
    assert "aws configure" in err
    assert "Traceback" not in err


def test_cdk_command_runs_our_app_with_this_python(tmp_path):
    import sys

    from threetier.aws.cdk_cli import cdk_command

    command = cdk_command(tmp_path / "cdk", ["ls"], outdir=tmp_path / "out")
    assert command[:2] == [str(tmp_path / "cdk"), "ls"]
    assert command[command.index("--app") + 1] == f"{sys.executable} -m threetier.aws.app"
    assert command[command.index("--output") + 1] == str(tmp_path / "out")


def test_missing_npm_is_a_clear_error(tmp_path, monkeypatch):
    from threetier.aws import cdk_cli
    from threetier.errors import ThreetierError

    monkeypatch.setattr(cdk_cli.shutil, "which", lambda name: None)
    with pytest.raises(ThreetierError, match="npm is not installed"):
        cdk_cli.ensure_cdk_cli(tmp_path, say=lambda message: None)


@pytest.mark.network  # npm installs the pinned CDK CLI from the registry on first use
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm (Node.js) is not installed")
def test_ls_installs_the_pinned_cdk_cli_and_lists_the_stacks(capfd, no_credentials):
    from threetier.aws.cdk_cli import CDK_CLI_VERSION, installed_version
    from threetier.paths import project_root

    code = main(["--env", "prod", "ls"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert sorted(out.split()) == ["threetier-prod", "threetier-prod-billing"]
    assert installed_version(project_root()) == CDK_CLI_VERSION


@pytest.fixture
def fake_account(monkeypatch, tmp_path):
    """Credentials that work (account 123456789012) and a CDK CLI that records its calls
    instead of running; deploy's assembly and outputs go to tmp_path."""
    from threetier.aws import cdk_cli
    from threetier.cli import cdk_commands

    calls: list[dict] = []
    monkeypatch.setattr(cdk_cli, "require_credentials", lambda spec: "123456789012")
    monkeypatch.setattr(cdk_cli, "ensure_cdk_cli", lambda root, say: tmp_path / "cdk")
    monkeypatch.setattr(cdk_cli, "run_cdk", lambda executable, args, **kw: calls.append({"args": args, **kw}) or 0)
    monkeypatch.setattr(cdk_commands, "checked_assembly", lambda env: tmp_path / f"deploy-{env}")
    monkeypatch.setattr(cdk_commands, "outputs_file", lambda env: tmp_path / f"aws-{env}-outputs.json")
    return calls


def test_bootstrap_prepares_every_region_a_stack_lives_in(capsys, fake_account):
    """The billing alarm's stack is in us-east-1 even without a domain; bootstrap needs no app."""
    code = main(["--env", "prod", "bootstrap"])
    err = capsys.readouterr().err
    assert code == 0, err
    (call,) = fake_account
    assert call["args"] == ["bootstrap", "aws://123456789012/ap-northeast-1", "aws://123456789012/us-east-1"]
    assert call["app"] is False
    assert "ap-northeast-1, us-east-1" in err


def account(versions: dict[str, str]):
    from threetier.checks.preflight import AccountProbes

    return AccountProbes(
        bootstrap_version=versions.get,
        hosted_zone=lambda zone_id: pytest.fail("no domain, no zone to read"),
        public_name_servers=lambda zone: pytest.fail("no domain, no DNS to ask"),
    )


def test_deploy_stops_before_the_cdk_cli_when_a_region_is_not_bootstrapped(capsys, monkeypatch, fake_account):
    from threetier.cli import cdk_commands

    monkeypatch.setattr(cdk_commands, "account_probes", lambda spec: account({"ap-northeast-1": "30"}))
    code = main(["deploy", "--yes"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert fake_account == []  # the CDK CLI never ran
    assert "not-bootstrapped" in out and "us-east-1" in out
    assert "fix: run `./threetier --env default bootstrap`" in err
    assert "cdk bootstrap" not in out + err  # not on the user's PATH
    assert "no-alarm-email" in out  # warnings are shown too


def test_fargate_deploy_without_docker_stops_before_synth(capsys, monkeypatch, fake_account):
    from threetier.aws import cdk_cli
    from threetier.checks import run
    from threetier.cli import cdk_commands

    monkeypatch.setattr(cdk_cli, "docker_daemon_problem", lambda: "the Docker daemon is not reachable (Cannot connect)")
    monkeypatch.setattr(run, "synthesize", lambda *a, **k: pytest.fail("synthesized without Docker"))
    bootstrapped = account({"ap-northeast-1": "30", "us-east-1": "30"})
    monkeypatch.setattr(cdk_commands, "account_probes", lambda spec: bootstrapped)
    code = main(["--env", "fargate", "deploy"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert fake_account == []
    assert "docker-daemon" in out and "Cannot connect" in out
