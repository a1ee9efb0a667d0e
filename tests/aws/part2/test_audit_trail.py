"""Audit (seed 004): a multi-region, validated CloudTrail trail into a KMS-encrypted bucket,
with management events and the app buckets' S3 data events."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match

from threetier.aws.constructs.audit import AuditTrail


@pytest.fixture(scope="module")
def built(build):
    def populate(app, stack, scaffold):
        media = s3.Bucket(stack, "Media", enforce_ssl=True)
        AuditTrail(stack, "Audit", data_event_buckets=[media], retain_data=False)

    return build(populate)


def _key_id(built) -> str:
    (key,) = built.template().find_resources("AWS::KMS::Key").keys()
    return key


def test_trail_is_multi_region_and_validates_log_files(built):
    built.template().has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "IsMultiRegionTrail": True,
            "EnableLogFileValidation": True,
            "IncludeGlobalServiceEvents": True,
        },
    )


def test_trail_encrypts_with_the_rotated_customer_key(built):
    template = built.template()
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::CloudTrail::Trail", {"KMSKeyId": {"Fn::GetAtt": [_key_id(built), "Arn"]}}
    )


def test_key_policy_lets_cloudtrail_encrypt_for_this_accounts_trails(built):
    (key,) = built.template().find_resources("AWS::KMS::Key").values()
    statement = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}
        and "kms:GenerateDataKey*" in json.dumps(s["Action"])
    ]
    assert len(statement) == 1, key["Properties"]["KeyPolicy"]
    condition = json.dumps(statement[0]["Condition"])
    assert (
        "kms:EncryptionContext:aws:cloudtrail:arn" in condition and "aws:SourceAccount" in condition
    )


def test_log_bucket_is_encrypted_with_the_key_and_private(built):
    built.template().has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {"Fn::GetAtt": [_key_id(built), "Arn"]},
                            }
                        }
                    )
                ]
            },
            "PublicAccessBlockConfiguration": Match.object_like(
                {"BlockPublicPolicy": True, "RestrictPublicBuckets": True}
            ),
        },
    )


def test_management_and_s3_data_events_of_the_app_bucket(built):
    (trail,) = built.template().find_resources("AWS::CloudTrail::Trail").values()
    selectors = trail["Properties"]["EventSelectors"]
    assert all(s["IncludeManagementEvents"] and s["ReadWriteType"] == "All" for s in selectors)
    data = [r for s in selectors for r in s.get("DataResources", [])]
    assert len(data) == 1 and data[0]["Type"] == "AWS::S3::Object"
    assert json.dumps(data[0]["Values"]).startswith('[{"Fn::Join": ["", [{"Fn::GetAtt": ["Media')


def test_no_unacknowledged_nag_findings(built):
    assert built.findings_under("Test/Audit") == []
