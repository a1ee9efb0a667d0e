"""One recipe for every S3 bucket of the system: private, encrypted, TLS only.

Each bucket blocks all public access, takes no ACLs (the bucket owner owns every
object), refuses plain HTTP, is kept on delete only when the environment retains data
(and else is emptied first, or `destroy` would fail on it), and says why it keeps no
server access logs (cdk-nag AwsSolutions-S1): a log bucket of its own would need
another, and so on.

>>> bucket = private_bucket(self, "MediaBucket", retain_data=False, versioned=True,
...                         no_access_logs_because="the audit trail records every object access")
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from threetier.aws.nag import suppress


def private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    retain_data: bool,
    no_access_logs_because: str,
    encryption_key: kms.IKey | None = None,
    versioned: bool = False,
    expire_after: Duration | None = None,
) -> s3.Bucket:
    """A private bucket: S3-managed encryption, or `encryption_key` (KMS, with a bucket key:
    one KMS call per bucket key, not per object); `versioned` keeps old object versions;
    `expire_after` deletes objects that old."""
    encryption = (
        {"encryption": s3.BucketEncryption.S3_MANAGED}
        if encryption_key is None
        else {
            "encryption": s3.BucketEncryption.KMS,
            "encryption_key": encryption_key,
            "bucket_key_enabled": True,
        }
    )
    bucket = s3.Bucket(
        scope,
        construct_id,
        **encryption,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=versioned,
        lifecycle_rules=[s3.LifecycleRule(expiration=expire_after)] if expire_after else None,
        removal_policy=RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY,
        # A throwaway environment's destroy empties the bucket first, or it would fail.
        auto_delete_objects=not retain_data,
    )
    suppress(bucket, "AwsSolutions-S1", no_access_logs_because)
    return bucket
