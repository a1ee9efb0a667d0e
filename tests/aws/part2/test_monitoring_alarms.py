"""Monitoring (seed 004): CPU ≥ 60 % for 1 minute → SNS e-mail, health alarms, dashboard,
app logs, and the billing alarm in us-east-1."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk.assertions import Match
from part2_helpers import DUMMY_ACCOUNT, part2_spec

from threetier.aws.constructs.monitoring import (
    BillingAlarm,
    Monitoring,
    app_log_group,
    auto_scaling_group_cpu,
)
from threetier.errors import ThreetierError

EMAIL = "ops@example.com"
GROUP_NAME = "threetier-web-group"


@pytest.fixture(scope="module")
def built(build):
    spec = part2_spec("default", monitoring={"alarm_email": EMAIL})

    def populate(app, stack, scaffold):
        group = autoscaling.AutoScalingGroup.from_auto_scaling_group_name(
            stack, "Group", GROUP_NAME
        )
        app_log_group(
            stack, "AppLogs", retention_days=spec.monitoring.log_retention_days, retain_data=False
        )
        Monitoring(
            stack,
            "Monitoring",
            monitoring=spec.monitoring,
            web_cpu=auto_scaling_group_cpu(group),
            load_balancer=scaffold.alb,
            target_group=scaffold.target_group,
            database=scaffold.database,
        )
        billing = cdk.Stack(
            app, "Billing", env=cdk.Environment(account=DUMMY_ACCOUNT, region="us-east-1")
        )
        BillingAlarm(
            billing, "Billing", threshold_usd=spec.monitoring.billing_alarm_usd, alarm_email=EMAIL
        )

    return build(populate)


def _alarm(built, metric_name: str, stack: str = "Test") -> dict:
    found = built.template(stack).find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": metric_name}}
    )
    assert len(found) == 1, found
    return next(iter(found.values()))["Properties"]


def test_web_cpu_alarm_is_60_percent_for_one_minute_to_sns(built):
    built.template().has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/EC2",
            "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "AutoScalingGroupName", "Value": GROUP_NAME}],
            "Threshold": 60,
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [{"Ref": Match.string_like_regexp("^MonitoringAlarmTopic")}],
        },
    )


def test_alarm_topic_mails_the_configured_address_over_tls_only(built):
    template = built.template()
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": EMAIL}
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


@pytest.mark.parametrize(
    ("metric", "namespace"),
    [
        ("HTTPCode_ELB_5XX_Count", "AWS/ApplicationELB"),
        ("HTTPCode_Target_5XX_Count", "AWS/ApplicationELB"),
        ("UnHealthyHostCount", "AWS/ApplicationELB"),
        ("HealthyHostCount", "AWS/ApplicationELB"),
        ("FreeStorageSpace", "AWS/RDS"),
    ],
)
def test_health_alarm_exists_and_notifies(built, metric, namespace):
    alarm = _alarm(built, metric)
    assert alarm["Namespace"] == namespace
    assert alarm["AlarmActions"] and alarm["OKActions"]


def test_database_cpu_alarm_uses_the_parameters(built):
    built.template().has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/RDS",
            "MetricName": "CPUUtilization",
            "Threshold": 80,
            "EvaluationPeriods": 3,
        },
    )


def test_free_storage_alarm_fires_below_two_gib(built):
    alarm = _alarm(built, "FreeStorageSpace")
    assert alarm["Threshold"] == 2 * 1024**3 and alarm["ComparisonOperator"] == "LessThanThreshold"


def test_no_healthy_target_counts_missing_data_as_an_outage(built):
    alarm = _alarm(built, "HealthyHostCount")
    assert (
        alarm["ComparisonOperator"] == "LessThanThreshold"
        and alarm["TreatMissingData"] == "breaching"
    )


def test_dashboard_shows_the_alarmed_metrics(built):
    (dashboard,) = built.template().find_resources("AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "CPUUtilization",
        "HTTPCode_ELB_5XX_Count",
        "UnHealthyHostCount",
        "FreeStorageSpace",
    ):
        assert metric in body


def test_app_log_group_keeps_the_configured_days(built):
    built.template().has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_billing_alarm_lives_in_us_east_1_with_the_threshold(built):
    billing = built.template("Billing")
    billing.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Billing",
            "MetricName": "EstimatedCharges",
            "Dimensions": [{"Name": "Currency", "Value": "USD"}],
            "Threshold": 10,
            "AlarmActions": [{"Ref": Match.string_like_regexp("^BillingTopic")}],
        },
    )
    billing.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": EMAIL}
    )
    assert built.raw("Billing")  # and the regional stack has no billing alarm:
    assert not built.template().find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"Namespace": "AWS/Billing"}}
    )


def test_billing_alarm_outside_us_east_1_is_refused():
    app = cdk.App()
    stack = cdk.Stack(
        app, "Tokyo", env=cdk.Environment(account=DUMMY_ACCOUNT, region="ap-northeast-1")
    )
    with pytest.raises(ThreetierError, match="us-east-1"):
        BillingAlarm(stack, "Billing", threshold_usd=10)


def test_no_unacknowledged_nag_findings(built):
    assert built.findings_under("Test/Monitoring", "Test/AppLogs", "Billing/") == []
