"""The real CDK CLI (pinned, threetier.aws.cdk_cli) against a moto server on loopback:
`threetier bootstrap`, `threetier deploy` and `threetier verify` as a new user runs them,
with fake credentials and AWS_ENDPOINT_URL pointing at moto.

What moto cannot do is closed or stood in for by tests/aws/cdk_moto_server.py, which logs
each stand-in; the test pins that list (docs/aws.md, "What the CDK CLI run on moto does
not prove"), so a new gap is noticed instead of silently skipped.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from support.environment import FAKE_AWS_KEY
from support.moto_process import moto_server


# The CDK CLI synthesizes nothing here (deploy hands it the preflight's assembly), but it
# is a Node.js program (synth), it may install itself from npm on first use (network), and
# the whole run talks to moto (moto).
pytestmark = [pytest.mark.moto, pytest.mark.synth, pytest.mark.network]

SERVER = Path(__file__).with_name("cdk_moto_server.py")
ACCOUNT = "123456789012"  # moto's
REGIONS = ("ap-northeast-1", "us-east-1")
# What the patched moto server stood in for (created nothing) or answered without running
# its Lambda, for the default environment: none of these is proven by this run.
STOOD_IN = {
    "AWS::AutoScaling::ScalingPolicy",
    "AWS::CloudTrail::Trail",
    "AWS::CloudWatch::Alarm",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::IAM::Group",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SecretsManager::Secret",
    "AWS::SecretsManager::SecretTargetAttachment",
}
ANSWERED = {"Custom::S3AutoDeleteObjects"}


@dataclass
class Moto:
    endpoint: str
    log: Path

    def client(self, service: str, region: str = REGIONS[0]):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=FAKE_AWS_KEY,
            aws_secret_access_key=FAKE_AWS_KEY,
        )

    def gaps(self, kind: str) -> set[str]:
        """The types the server logged as stood in ("stand-in") or answered ("custom resource")."""
        marker = f"threetier-test: {kind} "
        lines = [line for line in self.log.read_text().splitlines() if line.startswith(marker)]
        return {line[len(marker) :].split()[0] for line in lines}


@pytest.fixture(scope="module")
def moto(tmp_path_factory) -> Iterator[Moto]:
    """The patched moto server; `localhost` (not 127.0.0.1), because moto reads a template
    the CLI uploaded from its own S3 only when the TemplateURL's host says localhost."""
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with moto_server(60, server=SERVER, host="localhost", log=log) as endpoint:
        yield Moto(endpoint=endpoint, log=log)


@pytest.fixture
def on_moto(moto, monkeypatch, tmp_path, synthesized) -> Moto:
    """This process and the CDK CLI it starts talk to moto; deploy's files go to tmp_path.
    The preflight's synth is the run's own synth of default (the same `synthesize`, done
    once per test run), copied into the deploy's assembly directory."""
    from threetier.aws.app import summarize
    from threetier.aws.cdk_cli import ensure_cdk_cli
    from threetier.checks import run
    from threetier.cli import cdk_commands
    from threetier.paths import project_root

    ensure_cdk_cli(project_root(), say=lambda message: None)  # npm, once per checkout
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setattr(cdk_commands, "checked_assembly", lambda env: tmp_path / f"deploy-{env}")
    monkeypatch.setattr(cdk_commands, "outputs_file", lambda env: tmp_path / "outputs.json")
    synthesized_default = synthesized("default").result.outdir

    def synthesize(spec, *, outdir: Path):
        assert spec.env_name == "default"
        shutil.copytree(synthesized_default, outdir, dirs_exist_ok=True)
        return summarize(outdir)

    monkeypatch.setattr(run, "synthesize", synthesize)
    return moto


def stack(moto: Moto, name: str, region: str) -> dict:
    (found,) = moto.client("cloudformation", region).describe_stacks(StackName=name)["Stacks"]
    return found


def test_bootstrap_deploy_and_verify_through_the_cdk_cli(cli, on_moto, monkeypatch, tmp_path):
    moto = on_moto
    # Before bootstrap, the preflight's probes find no marker in either region (real SSM calls).
    from threetier.checks.preflight import bootstrap_problems
    from threetier.cli.cdk_commands import account_probes
    from threetier.spec import load_spec

    spec = load_spec("default")
    missing = bootstrap_problems(spec, account_probes(spec).bootstrap_version)
    assert [(f.rule, f.where) for f in missing] == [("not-bootstrapped", r) for r in REGIONS]

    result = cli("bootstrap")
    assert result.code == 0, result
    for region in REGIONS:
        assert stack(moto, "CDKToolkit", region)["StackStatus"] == "CREATE_COMPLETE"
        marker = moto.client("ssm", region).get_parameter(Name="/cdk-bootstrap/hnb659fds/version")
        assert int(marker["Parameter"]["Value"]) >= 6, region

    result = cli("deploy", "--yes")
    assert result.code == 0, result
    assert "preflight passed" in result.err
    system = stack(moto, "threetier-default", REGIONS[0])
    billing = stack(moto, "threetier-default-billing", REGIONS[1])
    assert system["StackStatus"] == billing["StackStatus"] == "CREATE_COMPLETE"
    outputs = json.loads((tmp_path / "outputs.json").read_text())
    assert outputs["threetier-default"]["Url"].startswith("http://")
    assert outputs["threetier-default-billing"]["BillingAlarmName"]
    # Built, not just reported: the web servers, the load balancer and the database.
    (group,) = moto.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert len(group["Instances"]) == 2
    (database,) = moto.client("rds").describe_db_instances()["DBInstances"]
    assert database["DBInstanceIdentifier"].startswith("threetier-default-db-")
    # What moto did not do, pinned (docs/aws.md lists it).
    assert moto.gaps("stand-in for") == STOOD_IN
    assert moto.gaps("custom resource") == ANSWERED

    # verify reads the outputs; moto serves no URL, so the HTTP answer is supplied.
    from threetier.checks import verify

    monkeypatch.setattr(verify, "http_status", lambda url: 200)
    result = cli("--env", "default", "verify", "--json")
    assert result.code == 1, result
    report = json.loads(result.out)
    status = {c["check"]: c["status"] for c in report["checks"]}
    assert status["targets"] == status["url"] == "ok"
    assert status["sorry-page"] == status["failover-records"] == "skip"  # no domain
    # No alarm e-mail in default.toml, and moto's CloudFormation created no alarm: named.
    assert {name for name, s in status.items() if s == "fail"} == {"alarm-mail", "billing-mail", "billing-alarm"}
    assert "verify failed: alarm-mail, billing-mail, billing-alarm" in result.err
