"""`threetier init` in a temp project: the file it writes validates as every parameters
file does, it never replaces one without --force, bad answers exit 2 naming the flag and
the fix, and the prompts (typer's CliRunner as the terminal) ask for what no flag gave."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from threetier.paths import parameters_dir
from threetier.spec import load_spec

SHIPPED = parameters_dir()


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """An empty project root: init writes its parameters/ here."""
    monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(tmp_path))
    return tmp_path


def test_init_writes_a_valid_file_for_another_region(cli, project):
    result = cli("init", "shop", "--region", "eu-west-1", "--alarm-email", "ops@example.com", "--no-interactive")
    assert result.code == 0, result
    path = project / "parameters" / "shop.toml"
    spec = load_spec("shop", path=path)
    assert spec.project.region == "eu-west-1" and spec.network.azs == ["eu-west-1a", "eu-west-1b"]
    assert [str(s.cidr) for s in spec.network.subnets_of("isolated")] == ["10.0.4.0/24", "10.0.5.0/24"]
    assert spec.monitoring.alarm_email == "ops@example.com" and spec.web.instances == 2
    assert "# one NAT is the cheap choice" in path.read_text()
    assert "threetier --env shop up" in result.out and "threetier --env shop check" in result.out
    assert f"wrote {path}" in result.err
    # The written file is what `threetier params` reads like any other.
    listed = cli("--env", "shop", "params")
    assert listed.code == 0, listed
    assert "parameters/shop.toml is valid" in listed.err


def test_init_takes_every_flag(cli, project):
    result = cli(
        "init", "big", "--region", "us-east-2", "--azs", "a,b,c", "--vpc-cidr", "172.20.0.0/16",
        "--instances", "3", "--runtime", "fargate", "--nat-gateways", "3", "--multi-az",
        "--domain", "www.example.org", "--hosted-zone-id", "Z0123456789ABCDEFGHIJ", "--project", "bigshop",
    )
    assert result.code == 0, result
    spec = load_spec("big", path=project / "parameters" / "big.toml")
    assert spec.network.azs == ["us-east-2a", "us-east-2b", "us-east-2c"]
    assert len(spec.network.subnets) == 9 and str(spec.network.vpc_cidr) == "172.20.0.0/16"
    assert (spec.web.runtime, spec.web.instances, spec.web.fargate.min_tasks) == ("fargate", 3, 3)
    assert spec.network.nat_gateways == 3 and spec.database.multi_az is True
    assert (spec.dns.domain, spec.dns.hosted_zone_id) == ("www.example.org", "Z0123456789ABCDEFGHIJ")
    assert spec.project.name == "bigshop" and spec.storage.media_backend == "s3"


def test_init_refuses_to_replace_a_file_without_force(cli, project):
    assert cli("init", "shop", "--region", "eu-west-1").code == 0
    path = project / "parameters" / "shop.toml"
    path.write_text(path.read_text() + "# my own edit\n")
    again = cli("init", "shop", "--region", "eu-west-2")
    assert again.code == 1, again
    assert "shop.toml exists" in again.err and "pass --force to replace" in again.err
    assert path.read_text().endswith("# my own edit\n")
    forced = cli("init", "shop", "--region", "eu-west-2", "--force")
    assert forced.code == 0, forced
    assert load_spec("shop", path=path).project.region == "eu-west-2"
    assert "# my own edit" not in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["shop.toml"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("args", "message", "fix"),
    [
        (["--region", "eu-wset-1"], "--region: 'eu-wset-1' is not a region init knows", "did you mean eu-west-1?"),
        (["--vpc-cidr", "10.0.0.1/16"], "--vpc-cidr: '10.0.0.1/16' is not an IPv4 network", "10.0.0.0/16"),
        (["--vpc-cidr", "10.0.0.0/26"], "holds 2 subnets of /27", "use a /24 or larger"),
        (["--alarm-email", "ops.example.com"], "--alarm-email: 'ops.example.com' is not an e-mail", "ops@example.com"),
        (["--domain", "www.example.com"], "needs the id of its Route 53 hosted zone", "--hosted-zone-id"),
        (["--instances", "1"], "--instances: 1 web instances", "from 2 to 8"),
        (["--runtime", "lambda"], "--runtime: 'lambda' is not a runtime", "fargate"),
    ],
)
def test_bad_answers_exit_2_naming_the_flag_and_the_fix(cli, project, args, message, fix):
    result = cli("init", "shop", *args)
    assert result.code == 2, result
    assert message in result.err and fix in result.err, result
    assert "Traceback" not in result.err
    assert not (project / "parameters" / "shop.toml").exists()


def test_a_bad_name_and_no_name_are_usage_errors(cli, project):
    assert "cannot name an environment" in cli("init", "My_Env").err
    missing = cli("init", "--no-interactive")
    assert missing.code == 2 and "threetier init shop" in missing.err


def test_prod_without_a_domain_is_refused_as_check_would(cli, project):
    result = cli("init", "prod")
    assert result.code == 1, result
    assert "prod is production" in result.err and "nothing was written" in result.err
    assert not (project / "parameters" / "prod.toml").exists()


def test_twin_ports_do_not_collide_with_the_other_environments(cli, project):
    (project / "parameters").mkdir()
    for name in ("default", "fargate", "prod"):
        shutil.copy(SHIPPED / f"{name}.toml", project / "parameters")
    assert cli("init", "shop").code == 0
    shop = load_spec("shop", path=project / "parameters" / "shop.toml").local
    for name in ("default", "fargate", "prod"):
        other = load_spec(name, path=project / "parameters" / f"{name}.toml").local
        assert {shop.http_port, shop.https_port, shop.lb_port, shop.db_port}.isdisjoint(
            {other.http_port, other.https_port, other.lb_port, other.db_port}
        ), name
    assert shop.https_port == 8643


def test_interactive_run_asks_for_what_no_flag_gave(project):
    from threetier.cli.main import app

    answers = ["ap-northeast-2", "a,c", "", "fargate", "3", "www.example.net", "Z0123456789ABCDEFGHIJ", "", ""]
    result = CliRunner().invoke(app, ["init", "seoul", "--interactive"], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    spec = load_spec("seoul", path=project / "parameters" / "seoul.toml")
    assert spec.network.azs == ["ap-northeast-2a", "ap-northeast-2c"] and spec.web.instances == 3
    assert spec.web.runtime == "fargate" and spec.dns.hosted_zone_id == "Z0123456789ABCDEFGHIJ"
    assert spec.monitoring.alarm_email is None


def test_interactive_run_gives_up_after_three_bad_answers(project):
    from threetier.cli.main import app

    result = CliRunner().invoke(app, ["init", "shop", "--interactive"], input="mars-1\nmars-2\nmars-3\n")
    assert result.exit_code != 0
    assert result.output.count("is not a region init knows") >= 2
    assert not (project / "parameters" / "shop.toml").exists()
