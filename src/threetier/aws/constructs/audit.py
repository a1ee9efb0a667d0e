"""Who did what, when (seed 004): a multi-region CloudTrail trail into an S3 bucket
encrypted with a customer-managed KMS key, with management events and the app buckets'
S3 data events.

CloudTrail keeps 90 days of management events on its own; the trail keeps them as long
as the bucket does. Log file validation lets `aws cloudtrail validate-logs` prove that
no delivered file was changed or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from threetier.aws.constructs.buckets import private_bucket

# A scheduled key deletion can be cancelled during this window (7 is the minimum).
KEY_DELETION_WINDOW = Duration.days(7)


class AuditTrail(Construct):
    """`key` (KMS, rotated yearly), `bucket` (the logs) and `trail`.

    >>> AuditTrail(stack, "Audit", data_event_buckets=[storage.media_bucket], retain_data=True)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data_event_buckets: Sequence[s3.IBucket],
        retain_data: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        removal = RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            description="threetier: encrypts the CloudTrail log files",
            enable_key_rotation=True,
            pending_window=KEY_DELETION_WINDOW,
            removal_policy=removal,
        )
        # CloudTrail encrypts each log file with a data key bound to a trail of this account.
        trail_context = {
            "StringLike": {
                "kms:EncryptionContext:aws:cloudtrail:arn": stack.format_arn(
                    service="cloudtrail", region="*", resource="trail", resource_name="*"
                )
            }
        }
        cloudtrail_principal = iam.ServicePrincipal("cloudtrail.amazonaws.com")
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailEncryptsLogs",
                principals=[cloudtrail_principal],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={**trail_context, "StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailDescribesKey",
                principals=[cloudtrail_principal],
                actions=["kms:DescribeKey"],
                resources=["*"],
            )
        )

        self.bucket = private_bucket(
            self,
            "Logs",
            retain_data=retain_data,
            encryption_key=self.key,
            no_access_logs_because="This bucket holds the audit trail itself (signed, validated log "
            "files); access logs of it would need another bucket, and its own S3 data events would loop.",
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            encryption_key=self.key,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_file_validation=True,
            management_events=cloudtrail.ReadWriteType.ALL,
            # Real-time delivery to CloudWatch Logs is billed per GB (seed 004 leaves it off).
            send_to_cloud_watch_logs=False,
        )
        if data_event_buckets:
            self.trail.add_s3_event_selector(
                [cloudtrail.S3EventSelector(bucket=bucket) for bucket in data_event_buckets],
                read_write_type=cloudtrail.ReadWriteType.ALL,
                include_management_events=True,
            )
        # The bucket policy must exist before CloudTrail checks it can write there.
        self.trail.node.add_dependency(self.bucket)
