"""Monitoring as wired (seed 004): alarms → SNS, the billing alarm in us-east-1, a dashboard, app logs."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match
from support.aws_helpers import ALARM_EMAIL, logical_ids, ref, user_data

from threetier.aws.constructs.monitoring import BillingAlarm
from threetier.errors import ThreetierError

pytestmark = pytest.mark.synth


def test_web_cpu_alarm_is_60_percent_for_one_minute_on_the_auto_scaling_group(synthesized):
    template = synthesized("default").template()
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/EC2",
            "MetricName": "CPUUtilization",
            "Dimensions": [
                {
                    "Name": "AutoScalingGroupName",
                    "Value": ref(template, "AWS::AutoScaling::AutoScalingGroup"),
                }
            ],
            "Threshold": 60,
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [ref(template, "AWS::SNS::Topic")],
        },
    )
    # EC2 sends 1-minute metrics only with detailed monitoring.
    template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": Match.object_like({"Monitoring": {"Enabled": True}})},
    )


def test_fargate_cpu_alarm_watches_the_service(synthesized):
    template = synthesized("fargate").template()
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/ECS",
            "MetricName": "CPUUtilization",
            "Dimensions": Match.array_with(
                [
                    {
                        "Name": "ServiceName",
                        "Value": Match.object_like({"Fn::GetAtt": Match.any_value()}),
                    }
                ]
            ),
            "Threshold": 60,
            "Period": 60,
        },
    )


@pytest.mark.parametrize(
    ("namespace", "metric", "threshold", "comparison", "periods"),
    [
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", 5, "GreaterThanOrEqualToThreshold", 3),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", 5, "GreaterThanOrEqualToThreshold", 3),
        ("AWS/ApplicationELB", "UnHealthyHostCount", 1, "GreaterThanOrEqualToThreshold", 3),
        ("AWS/ApplicationELB", "HealthyHostCount", 1, "LessThanThreshold", 3),
        ("AWS/RDS", "CPUUtilization", 80, "GreaterThanOrEqualToThreshold", 3),
        ("AWS/RDS", "FreeStorageSpace", 2 * 1024**3, "LessThanThreshold", 1),
    ],
)
def test_health_alarms_on_the_load_balancer_and_database(
    synthesized, namespace, metric, threshold, comparison, periods
):
    template = synthesized("prod").template()
    topic = ref(template, "AWS::SNS::Topic")
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": namespace,
            "MetricName": metric,
            "Threshold": threshold,
            "ComparisonOperator": comparison,
            "EvaluationPeriods": periods,
            "AlarmActions": [topic],
            "OKActions": [topic],  # health alarms also say when it is over
        },
    )


def test_no_healthy_target_counts_missing_data_as_an_outage(synthesized):
    synthesized("prod").template().has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "HealthyHostCount", "TreatMissingData": "breaching"},
    )


def test_every_alarm_notifies_the_topic_and_the_mail_subscribes_to_it(synthesized):
    template = synthesized("domain").template()
    topic = ref(template, "AWS::SNS::Topic")
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    assert len(alarms) == 7 and all(a["Properties"]["AlarmActions"] == [topic] for a in alarms)
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": ALARM_EMAIL, "TopicArn": topic}
    )
    synthesized("default").template().resource_count_is("AWS::SNS::Subscription", 0)
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [topic],
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
            },
        },
    )


@pytest.mark.parametrize(("env", "stack"), [("default", "billing"), ("domain", "edge")])
def test_billing_alarm_lives_in_us_east_1(synthesized, env, stack):
    built = synthesized(env)
    regions = {s.name: s.region for s in built.result.stacks}
    assert regions[built.stack_name(stack)] == "us-east-1"
    template = built.template(stack)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Billing",
            "MetricName": "EstimatedCharges",
            "Dimensions": [{"Name": "Currency", "Value": "USD"}],
            "Threshold": built.spec.monitoring.billing_alarm_usd,
            "AlarmActions": [ref(template, "AWS::SNS::Topic")],
        },
    )
    assert not built.has("billing") or stack == "billing"  # never two billing alarms
    if built.spec.monitoring.alarm_email:
        template.has_resource_properties(
            "AWS::SNS::Subscription",
            {
                "Protocol": "email",
                "Endpoint": ALARM_EMAIL,
                "TopicArn": ref(template, "AWS::SNS::Topic"),
            },
        )
    assert not built.template().find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"Namespace": "AWS/Billing"}}
    )


def test_dashboard_shows_the_web_tier_and_database(synthesized):
    template = synthesized("default").template()
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])
    assert "Web tier CPU" in body and "Database CPU" in body and "Alarms" in body
    for metric in (
        "CPUUtilization",
        "HTTPCode_ELB_5XX_Count",
        "UnHealthyHostCount",
        "FreeStorageSpace",
    ):
        assert metric in body, metric


def test_app_logs_are_shipped_with_the_parameters_retention(synthesized):
    built = synthesized("default")
    template = built.template()
    (app_logs,) = logical_ids(template, "AWS::Logs::LogGroup", {"LogGroupName": Match.absent()})
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "RetentionInDays": built.spec.monitoring.log_retention_days,
            "LogGroupName": Match.absent(),
        },
    )
    script = user_data(built.raw())
    assert "amazon-cloudwatch-agent-ctl -a fetch-config" in script
    assert f'"log_group_name": "${{{{"Ref": "{app_logs}"}}}}"' in script
    assert "StandardOutput=append:/var/log/threetier/app.log" in script


def test_fargate_containers_log_to_the_app_log_group(synthesized):
    template = synthesized("fargate").template()
    (app_logs,) = logical_ids(template, "AWS::Logs::LogGroup", {"LogGroupName": Match.absent()})
    definitions = template.find_resources("AWS::ECS::TaskDefinition").values()
    configs = [
        c["LogConfiguration"] for d in definitions for c in d["Properties"]["ContainerDefinitions"]
    ]
    assert len(configs) == 2  # web and migrate
    assert all(
        c["LogDriver"] == "awslogs" and c["Options"]["awslogs-group"] == {"Ref": app_logs}
        for c in configs
    )


def test_database_log_group_exists_before_the_database_and_goes_with_it(synthesized):
    template = synthesized("default").template()
    (group,) = logical_ids(
        template,
        "AWS::Logs::LogGroup",
        {"LogGroupName": "/aws/rds/instance/threetier-default-db/postgresql"},
    )
    template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "DeletionPolicy": "Delete",
            "Properties": Match.object_like(
                {"LogGroupName": Match.string_like_regexp("/aws/rds/")}
            ),
        },
    )
    template.has_resource(
        "AWS::RDS::DBInstance",
        {
            "DependsOn": Match.array_with([group]),
            "Properties": Match.object_like({"DBInstanceIdentifier": "threetier-default-db"}),
        },
    )


def test_billing_alarm_outside_us_east_1_is_refused():
    import aws_cdk as cdk

    stack = cdk.Stack(cdk.App(), "Tokyo", env=cdk.Environment(region="ap-northeast-1"))
    with pytest.raises(ThreetierError, match="us-east-1"):
        BillingAlarm(stack, "Billing", threshold_usd=10)
