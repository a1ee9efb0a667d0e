"""The audit trail as wired (seed 004): multi-region CloudTrail, KMS-encrypted bucket, S3 data events."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match
from support.aws_helpers import BLOCK_ALL_PUBLIC_ACCESS, logical_ids, media_bucket, ref

pytestmark = pytest.mark.synth


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
            },
            "PublicAccessBlockConfiguration": BLOCK_ALL_PUBLIC_ACCESS,
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
    media = media_bucket(template)
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


def test_management_events_of_every_kind_are_recorded(synthesized):
    (trail,) = synthesized("default").template().find_resources("AWS::CloudTrail::Trail").values()
    selectors = trail["Properties"]["EventSelectors"]
    assert selectors and all(
        s["IncludeManagementEvents"] and s["ReadWriteType"] == "All" for s in selectors
    )


def test_key_policy_lets_cloudtrail_encrypt_for_this_accounts_trails_only(synthesized):
    (key,) = synthesized("default").template().find_resources("AWS::KMS::Key").values()
    (statement,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}
        and "kms:GenerateDataKey*" in json.dumps(s["Action"])
    ]
    condition = json.dumps(statement["Condition"])
    assert "kms:EncryptionContext:aws:cloudtrail:arn" in condition
    assert "aws:SourceAccount" in condition
