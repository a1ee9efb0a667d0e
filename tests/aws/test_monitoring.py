"""Monitoring as wired (seed 004): alarms → SNS, the billing alarm in us-east-1, a dashboard, app logs."""

from __future__ import annotations

import copy

import pytest
from aws_cdk.assertions import Match
from support.aws_helpers import ALARM_EMAIL, logical_ids, ref, user_data

from threetier.aws import boot
from threetier.aws.constructs.monitoring import BillingAlarm
from threetier.checks.preflight import alarm_topic_problems
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
    # The app's unit (the boot program renders it) writes where the agent reads.
    assert '"file_path": "/var/log/threetier/app.log"' in script
    assert f"StandardOutput=append:{boot.Ec2Layout().app_log}" in boot.gunicorn_unit(
        boot.Ec2Layout(),
        boot.BootSettings(region="r", bundle_url="s3://b/k", app_port=8000, db_host="h", db_port="5432", db_name="d",
                          db_secret_arn="a", app_secret_arn="k", allowed_hosts=["x"], csrf_trusted_origins=["http://x"],
                          secure_cookies=True),
    )


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
        {"LogGroupName": {"Fn::Join": ["", Match.array_with(["/aws/rds/instance/threetier-default-db-"])]}},
    )
    template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "DeletionPolicy": "Delete",
            "Properties": Match.object_like({"LogGroupName": Match.any_value()}),
        },
    )
    template.has_resource(
        "AWS::RDS::DBInstance",
        {
            "DependsOn": Match.array_with([group]),
            "Properties": Match.object_like(
                {"DBInstanceIdentifier": {"Fn::Join": ["", Match.array_with(["threetier-default-db-"])]}}
            ),
        },
    )


def alarm_topics(raw: dict) -> set[str]:
    """The topics (logical ids) some alarm of the template notifies."""
    return {
        action["Ref"]
        for r in raw["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        for key in ("AlarmActions", "OKActions")
        for action in r["Properties"].get(key, [])
        if isinstance(action, dict) and "Ref" in action
    }


@pytest.mark.parametrize(("env", "stack"), [("default", "system"), ("default", "billing"), ("domain", "edge")])
def test_cloudwatch_may_publish_to_every_alarm_topic(synthesized, env, stack):
    """A deny-only topic policy drops every alarm e-mail; CloudWatch is allowed, for this
    account's alarms only, and the TLS-only deny stays."""
    built = synthesized(env)
    template, raw = built.template(stack), built.raw(stack)
    topics = alarm_topics(raw)
    assert topics
    for topic in topics:
        template.has_resource_properties(
            "AWS::SNS::TopicPolicy",
            {
                "Topics": [{"Ref": topic}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                            ),
                            Match.object_like(
                                {
                                    "Effect": "Allow",
                                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                    "Action": "sns:Publish",
                                    "Condition": {
                                        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                        "ArnLike": {"aws:SourceArn": Match.any_value()},
                                    },
                                }
                            ),
                        ]
                    )
                },
            },
        )
    # ... and the preflight's template rule agrees on the real template.
    assert alarm_topic_problems(built.stack_name(stack), raw) == []


def test_the_preflight_catches_a_deny_only_alarm_topic(synthesized):
    """The topic policy as it was (TLS-only deny, no allow): CloudWatch cannot publish."""
    raw = copy.deepcopy(synthesized("default").raw())
    for resource in raw["Resources"].values():
        if resource["Type"] == "AWS::SNS::TopicPolicy":
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            statements[:] = [s for s in statements if s["Effect"] == "Deny"]
    (problem,) = alarm_topic_problems("threetier-default", raw)
    assert problem.severity == "error" and "cloudwatch.amazonaws.com" in problem.message


def test_billing_alarm_outside_us_east_1_is_refused():
    import aws_cdk as cdk

    stack = cdk.Stack(cdk.App(), "Tokyo", env=cdk.Environment(region="ap-northeast-1"))
    with pytest.raises(ThreetierError, match="us-east-1"):
        BillingAlarm(stack, "Billing", threshold_usd=10)
