"""The us-east-1 stack for the billing alarm when there is no edge stack to hold it.

AWS/Billing metrics exist only in us-east-1, and an alarm only notifies a topic of its
own region; with a domain the edge stack (already in us-east-1) holds the alarm instead.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from threetier.aws.constructs.monitoring import BillingAlarm
from threetier.spec import Spec


class BillingStack(Stack):
    """`billing` (the `BillingAlarm`: alarm + its SNS topic)."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: Spec, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.billing = billing_alarm(self, spec)


def billing_alarm(stack: Stack, spec: Spec) -> BillingAlarm:
    """Seed 004's billing alarm (estimated charges ≥ monitoring.billing_alarm_usd) in `stack`,
    named in the stack outputs (`threetier verify` reads them)."""
    billing = BillingAlarm(
        stack,
        "Billing",
        threshold_usd=spec.monitoring.billing_alarm_usd,
        alarm_email=spec.monitoring.alarm_email,
    )
    CfnOutput(stack, "BillingAlarmName", value=billing.alarm.alarm_name)
    CfnOutput(stack, "BillingTopicArn", value=billing.topic.topic_arn)
    return billing
