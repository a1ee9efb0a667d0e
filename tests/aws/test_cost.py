"""The cost table (seed 004's surprise bill): drivers read from the synthesized templates."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from threetier.checks.pricer import CostRow, cost_drivers
from threetier.checks.prices import load_prices
from threetier.cli.check import show_cost
from threetier.cli.context import Output
from threetier.spec import load_spec

pytestmark = pytest.mark.synth

HOURS = 730


def _report(synthesized, env: str):
    built = synthesized(env)
    regions = {s.name: s.region for s in built.result.stacks}
    return cost_drivers(built.templates, built.spec, regions=regions)


def _row(report, prefix: str) -> CostRow:
    found = [r for r in report.rows if r.driver.startswith(prefix)]
    assert len(found) == 1, [r.driver for r in report.rows]
    return found[0]


def test_prod_pays_for_two_nat_gateways(synthesized):
    nat = _row(_report(synthesized, "prod"), "NAT gateway")
    assert nat.count == 2
    assert nat.monthly_usd == pytest.approx(2 * 0.062 * HOURS, abs=0.01)


def test_prod_database_is_billed_twice_for_multi_az(synthesized):
    report = _report(synthesized, "prod")
    database = _row(report, "RDS PostgreSQL db.t4g.small (Multi-AZ")
    assert database.count == 2
    assert database.monthly_usd == pytest.approx(2 * database.unit_price_usd * HOURS, abs=0.01)
    assert _row(report, "RDS gp3 storage").count == 40  # 20 GB on primary and standby


def test_default_runs_one_nat_and_a_single_az_database(synthesized):
    report = _report(synthesized, "default")
    assert _row(report, "NAT gateway").count == 1
    assert _row(report, "RDS PostgreSQL db.t4g.micro (Single-AZ)").count == 1


def test_public_ipv4_counts_nat_addresses_and_the_alb(synthesized):
    ipv4 = _row(_report(synthesized, "prod"), "Public IPv4")
    assert ipv4.count == 4 and "2 NAT Elastic IP" in ipv4.note and "2 ALB" in ipv4.note


def test_web_servers_priced_by_type_times_minimum(synthesized):
    ec2 = _row(_report(synthesized, "default"), "EC2 t3.micro")
    assert ec2.count == 2 and ec2.unit_price_usd == load_prices().hourly(
        "ap-northeast-1", "ec2_instance_hour", "t3.micro"
    )


def test_total_is_the_sum_of_fixed_drivers_and_prod_costs_more(synthesized):
    prod, default = _report(synthesized, "prod"), _report(synthesized, "default")
    assert prod.total_usd == pytest.approx(
        sum(r.monthly_usd for r in prod.rows if r.monthly_usd is not None), abs=0.02
    )
    assert prod.total_usd > default.total_usd > 0
    assert not prod.unpriced, prod.unpriced


def test_fargate_public_tasks_efs_and_trail_from_a_template():
    template = {
        "Resources": {
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {"Cpu": "512", "Memory": "1024"},
            },
            "Service": {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "LaunchType": "FARGATE",
                    "DesiredCount": 2,
                    "TaskDefinition": {"Ref": "Task"},
                    "NetworkConfiguration": {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED"}},
                },
            },
            "Fs": {"Type": "AWS::EFS::FileSystem", "Properties": {}},
            "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
            "Trail": {
                "Type": "AWS::CloudTrail::Trail",
                "Properties": {
                    "EventSelectors": [
                        {"DataResources": [{"Type": "AWS::S3::Object", "Values": ["x"]}]}
                    ]
                },
            },
        }
    }
    report = cost_drivers({"threetier-x": template}, load_spec("default"))
    prices = load_prices()
    fargate = _row(report, "Fargate task (0.5 vCPU, 1 GB)")
    per_task = 0.5 * prices.price("ap-northeast-1", "fargate_vcpu_hour") + 1 * prices.price(
        "ap-northeast-1", "fargate_gb_hour"
    )
    assert fargate.count == 2 and fargate.monthly_usd == pytest.approx(
        2 * per_task * HOURS, abs=0.01
    )
    assert _row(report, "Public IPv4").count == 2
    assert _row(report, "KMS customer managed key").monthly_usd == 1.0
    for usage in ("EFS file system", "CloudTrail S3 data events"):
        assert _row(report, usage).monthly_usd is None  # listed, not guessed into the total


def test_edge_stack_is_priced_in_us_east_1():
    template = {"Resources": {"Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {}}}}
    report = cost_drivers({"threetier-default-edge": template}, load_spec("default"))
    nat = _row(report, "NAT gateway (us-east-1)")
    assert nat.unit_price_usd == load_prices().price("us-east-1", "nat_gateway_hour")


def test_unknown_instance_type_is_flagged_not_guessed():
    template = {
        "Resources": {
            "Lt": {
                "Type": "AWS::EC2::LaunchTemplate",
                "Properties": {"LaunchTemplateData": {"InstanceType": "x9.huge"}},
            },
            "Asg": {
                "Type": "AWS::AutoScaling::AutoScalingGroup",
                "Properties": {
                    "MinSize": "2",
                    "LaunchTemplate": {"LaunchTemplateId": {"Ref": "Lt"}},
                },
            },
        }
    }
    report = cost_drivers({"threetier-x": template}, load_spec("default"))
    assert [r.driver for r in report.unpriced] == ["EC2 x9.huge (Auto Scaling minimum)"]


def test_price_table_is_dated_and_names_its_sources():
    prices = load_prices()
    assert prices.date.startswith("20") and prices.hours_per_month == HOURS
    assert {"nat_gateway", "rds", "fargate", "ec2"} <= prices.sources.keys()


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_rendered_table_ends_with_the_total(synthesized, terminal, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")  # Rich draws a dumb terminal 80 columns wide
    report = _report(synthesized, "prod")
    out = Console(
        file=io.StringIO(), width=200, record=True, color_system=None, force_terminal=terminal
    )
    show_cost(Output(out=out), report.rows)
    lines = out.export_text().splitlines()
    total = lines[-2] if terminal else lines[-1]  # a terminal's table ends with its border
    assert "NAT gateway" in "\n".join(lines)
    assert total.lstrip("│ ").startswith("Total (fixed drivers)"), lines
    assert f"{report.total_usd:,.2f}" in total

