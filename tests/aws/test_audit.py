"""The audit trail as wired (seed 004): multi-region CloudTrail, KMS-encrypted bucket, S3 data events."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match
from aws_helpers import logical_ids, ref


@pytest.mark.parametrize("env", ["default", "prod"])
def test_multi_region_trail_with_log_file_validation_into_a_kms_bucket(synthesized, env):
    template = synthesized(env).template()
    (key,) = logical_ids(template, "AWS::KMS::Key", {"EnableKeyRotation": True})
    (bucket,) = logical_ids(
        template,
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {"Fn::GetAtt": [key, "Arn"]},
                            }
                        }
                    )
                ]
            }
        },
    )
    template.has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "IsMultiRegionTrail": True,
            "EnableLogFileValidation": True,
            "IncludeGlobalServiceEvents": True,
            "KMSKeyId": {"Fn::GetAtt": [key, "Arn"]},
            "S3BucketName": {"Ref": bucket},
        },
    )


def test_data_events_of_the_media_bucket(synthesized):
    template = synthesized("fargate").template()
    (media,) = logical_ids(
        template,
        "AWS::S3::Bucket",
        {
            "BucketEncryption": Match.object_like(
                {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "EventSelectors": Match.array_with(
                [
                    Match.object_like(
                        {
                            "DataResources": [
                                {
                                    "Type": "AWS::S3::Object",
                                    "Values": [
                                        {"Fn::Join": ["", [{"Fn::GetAtt": [media, "Arn"]}, "/"]]}
                                    ],
                                }
                            ],
                            "ReadWriteType": "All",
                        }
                    )
                ]
            )
        },
    )
    assert ref(template, "AWS::CloudTrail::Trail")
