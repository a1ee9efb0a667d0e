"""Watching the system (seeds 002, 004): alarms to an SNS topic (e-mail), a dashboard, the
app's log group, and the billing alarm that lives in us-east-1.

Seed 004's alarm is "CPU >= 60 % for 1 minute → e-mail". EC2 publishes CPU every 5
minutes unless detailed monitoring is on, so a 1-minute alarm on an Auto Scaling group
needs `detailed_monitoring=True` on the launch template (Fargate reports every minute).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from threetier import spec as model
from threetier.aws.nag import suppress
from threetier.aws.retention import log_retention
from threetier.errors import ThreetierError

# The alarms' resolution: seed 004 counts in minutes.
MINUTE = Duration.minutes(1)
GIB = 1024**3
# AWS/Billing metrics exist only in us-east-1 and are updated a few times a day.
BILLING_REGION = "us-east-1"
BILLING_PERIOD = Duration.hours(6)
# Who publishes an alarm's notification to its SNS topic.
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
SNS_ENCRYPTION_REASON = (
    "Alarm notifications carry alarm names and states only. CloudWatch cannot publish to a "
    "topic encrypted with the AWS-managed SNS key, and a customer key costs more than it protects here."
)


def auto_scaling_group_cpu(group: autoscaling.IAutoScalingGroup) -> cloudwatch.Metric:
    """Average CPU over the group's instances (AWS/EC2 by AutoScalingGroupName)."""
    return cloudwatch.Metric(
        namespace="AWS/EC2",
        metric_name="CPUUtilization",
        dimensions_map={"AutoScalingGroupName": group.auto_scaling_group_name},
        statistic=cloudwatch.Stats.AVERAGE,
        period=MINUTE,
    )


def app_log_group(
    scope: Construct, construct_id: str, *, retention_days: int, retain_data: bool
) -> logs.LogGroup:
    """The app's log group (container stdout/stderr; gunicorn access and error logs)."""
    return logs.LogGroup(
        scope,
        construct_id,
        retention=log_retention(retention_days),
        removal_policy=RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY,
    )


def alarm_topic(
    scope: Construct, construct_id: str, *, email: str | None, display_name: str
) -> sns.Topic:
    """An SNS topic that CloudWatch alarms of this account may publish to, that only
    accepts TLS, with an e-mail subscription when an address is given.

    A topic with a policy of its own no longer has SNS's default policy, and a deny-only
    policy (`enforce_ssl`) allows nobody: CloudWatch's publish is then refused and every
    alarm e-mail silently dropped (the alarm history says "not authorized to perform
    SNS:Publish"). So the policy allows `cloudwatch.amazonaws.com`, only for alarms of
    this account and region (the confused-deputy conditions AWS documents).
    AWS sends the address a confirmation mail; nothing arrives until someone clicks it.
    """
    topic = sns.Topic(scope, construct_id, display_name=display_name, enforce_ssl=True)
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish",
            effect=iam.Effect.ALLOW,
            principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {
                    "aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"
                },
            },
        )
    )
    if email:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    suppress(topic, "AwsSolutions-SNS2", SNS_ENCRYPTION_REASON)
    return topic


class Monitoring(Construct):
    """`topic`, the alarms (`web_cpu_alarm`, `elb_5xx_alarm`, `target_5xx_alarm`,
    `unhealthy_hosts_alarm`, `no_healthy_hosts_alarm`, `db_cpu_alarm`, `db_storage_alarm`)
    and `dashboard`.

    >>> Monitoring(stack, "Monitoring", monitoring=spec.monitoring,
    ...            web_cpu=auto_scaling_group_cpu(web.asg),      # or fargate.service.metric_cpu_utilization()
    ...            load_balancer=lb.alb, target_group=lb.target_group, database=database.instance)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        monitoring: model.Monitoring,
        web_cpu: cloudwatch.Metric,
        load_balancer: elbv2.IApplicationLoadBalancer,
        target_group: elbv2.IApplicationTargetGroup,
        database: rds.IDatabaseInstance,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = alarm_topic(
            self, "AlarmTopic", email=monitoring.alarm_email, display_name="threetier alarms"
        )
        action = cw_actions.SnsAction(self.topic)
        sustained = monitoring.health_alarm_minutes

        def alarm(
            name: str,
            metric: cloudwatch.IMetric,
            *,
            threshold: float,
            minutes: int,
            description: str,
            comparison: cloudwatch.ComparisonOperator = (
                cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
            ),
            missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        ) -> cloudwatch.Alarm:
            created = cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=minutes,
                datapoints_to_alarm=minutes,
                comparison_operator=comparison,
                treat_missing_data=missing,
                alarm_description=description,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)  # the all-clear, so nobody keeps watching a fixed problem
            return created

        web_cpu = web_cpu.with_(period=MINUTE, statistic=cloudwatch.Stats.AVERAGE)
        self.web_cpu_alarm = alarm(
            "WebCpu",
            web_cpu,
            threshold=monitoring.cpu_alarm_percent,
            minutes=monitoring.cpu_alarm_minutes,
            description=(
                f"Web tier CPU >= {monitoring.cpu_alarm_percent} % for {monitoring.cpu_alarm_minutes} min (seed 004)"
            ),
        )
        per_minute = {"period": MINUTE, "statistic": cloudwatch.Stats.SUM}
        elb_5xx = load_balancer.metrics.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, **per_minute)
        target_5xx = target_group.metrics.http_code_target(
            elbv2.HttpCodeTarget.TARGET_5XX_COUNT, **per_minute
        )
        self.elb_5xx_alarm = alarm(
            "LoadBalancer5xx",
            elb_5xx,
            threshold=monitoring.http_5xx_alarm_count,
            minutes=sustained,
            description="The load balancer answers 5xx itself: no healthy target, or targets time out",
        )
        self.target_5xx_alarm = alarm(
            "Target5xx",
            target_5xx,
            threshold=monitoring.http_5xx_alarm_count,
            minutes=sustained,
            description="The app answers 5xx (see the app's log group)",
        )
        unhealthy = target_group.metrics.unhealthy_host_count(
            period=MINUTE, statistic=cloudwatch.Stats.MAXIMUM
        )
        healthy = target_group.metrics.healthy_host_count(
            period=MINUTE, statistic=cloudwatch.Stats.MINIMUM
        )
        self.unhealthy_hosts_alarm = alarm(
            "UnhealthyHosts",
            unhealthy,
            threshold=1,
            minutes=sustained,
            description="At least one target fails the health check (seed 000: check the security groups)",
        )
        self.no_healthy_hosts_alarm = alarm(
            "NoHealthyHosts",
            healthy,
            threshold=1,
            minutes=sustained,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            # No data from the target group means nothing is answering either.
            missing=cloudwatch.TreatMissingData.BREACHING,
            description="No healthy target: visitors see the sorry page (DNS failover) or 503",
        )
        db_cpu = database.metric_cpu_utilization(period=MINUTE, statistic=cloudwatch.Stats.AVERAGE)
        db_free = database.metric_free_storage_space(
            period=MINUTE, statistic=cloudwatch.Stats.MINIMUM
        )
        self.db_cpu_alarm = alarm(
            "DatabaseCpu",
            db_cpu,
            threshold=monitoring.db_cpu_alarm_percent,
            minutes=sustained,
            description=f"Database CPU >= {monitoring.db_cpu_alarm_percent} %",
        )
        self.db_storage_alarm = alarm(
            "DatabaseFreeStorage",
            db_free,
            threshold=monitoring.db_free_storage_alarm_gb * GIB,
            minutes=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            description=f"Database free storage below {monitoring.db_free_storage_alarm_gb} GiB",
        )

        requests = load_balancer.metrics.request_count(
            period=MINUTE, statistic=cloudwatch.Stats.SUM
        )
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Web tier CPU %",
                left=[web_cpu],
                left_annotations=[self.web_cpu_alarm.to_annotation()],
            ),
            cloudwatch.GraphWidget(
                title="Requests and 5xx per minute", left=[requests], right=[elb_5xx, target_5xx]
            ),
            cloudwatch.GraphWidget(title="Targets", left=[healthy, unhealthy]),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Database CPU %",
                left=[db_cpu],
                left_annotations=[self.db_cpu_alarm.to_annotation()],
            ),
            cloudwatch.GraphWidget(title="Database free storage (bytes)", left=[db_free]),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms),
        )

    @property
    def alarms(self) -> list[cloudwatch.IAlarm]:
        return [
            self.web_cpu_alarm,
            self.elb_5xx_alarm,
            self.target_5xx_alarm,
            self.unhealthy_hosts_alarm,
            self.no_healthy_hosts_alarm,
            self.db_cpu_alarm,
            self.db_storage_alarm,
        ]


class BillingAlarm(Construct):
    """Estimated charges (USD) ≥ the threshold → its own SNS topic (seed 004).

    Must live in a us-east-1 stack: AWS/Billing exists only there, and an alarm only
    publishes to a topic of its own region. Billing alerts must also be switched on once
    per account (Billing preferences → "Receive CloudWatch billing alerts"); CloudFormation
    cannot do that.

    >>> BillingAlarm(edge_stack, "Billing", threshold_usd=spec.monitoring.billing_alarm_usd,
    ...              alarm_email=spec.monitoring.alarm_email)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        threshold_usd: int,
        alarm_email: str | None = None,
        topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        if not Token.is_unresolved(region) and region != BILLING_REGION:
            raise ThreetierError(
                f"the billing alarm is in a stack in {region}; AWS/Billing metrics exist only in {BILLING_REGION}",
                fix=f"add BillingAlarm to a stack whose env region is {BILLING_REGION}",
            )
        self.topic: sns.ITopic = topic or alarm_topic(
            self, "Topic", email=alarm_email, display_name="threetier billing"
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "EstimatedCharges",
            metric=cloudwatch.Metric(
                namespace="AWS/Billing",
                metric_name="EstimatedCharges",
                dimensions_map={"Currency": "USD"},
                statistic=cloudwatch.Stats.MAXIMUM,
                period=BILLING_PERIOD,
            ),
            threshold=threshold_usd,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"This month's estimated AWS charges reached {threshold_usd} USD (seed 004)",
        )
        self.alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
