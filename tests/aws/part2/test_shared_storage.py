"""Shared storage (seeds 001/004): EFS for the media directory, an S3 bucket for uploads."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match
from part2_helpers import DUMMY_ACCOUNT, REGION, Scaffold, part2_spec

from threetier.aws.constructs.storage import APP_UID, NFS_PORT, SharedStorage

MEDIA_ROOT = "/var/lib/threetier/media"


def _storage(stack: cdk.Stack, scaffold: Scaffold, spec) -> SharedStorage:
    return SharedStorage(
        stack,
        "Storage",
        storage=spec.storage,
        vpc=scaffold.vpc,
        subnets=scaffold.web_subnets,
        web_security_group=scaffold.web_sg,
        retain_data=spec.environment.retain_data,
    )


@pytest.fixture(scope="module")
def built(build):
    def populate(app, stack, scaffold):
        storage = _storage(stack, scaffold, part2_spec("default", storage={"media_backend": "s3"}))
        lines = [stack.resolve(line) for line in storage.mount_commands(mount_point=MEDIA_ROOT)]
        prod_stack = cdk.Stack(
            app, "Prod", env=cdk.Environment(account=DUMMY_ACCOUNT, region=REGION)
        )
        _storage(
            prod_stack, Scaffold(prod_stack), part2_spec("prod", storage={"media_backend": "s3"})
        )
        no_efs_stack = cdk.Stack(
            app, "NoEfs", env=cdk.Environment(account=DUMMY_ACCOUNT, region=REGION)
        )
        no_efs = _storage(
            no_efs_stack, Scaffold(no_efs_stack), part2_spec("default", storage={"efs": False})
        )
        return {
            "mount_lines": lines,
            "no_efs_lines": no_efs.mount_commands(mount_point=MEDIA_ROOT),
            "no_efs_bucket": no_efs.media_bucket,
        }

    return build(populate)


def _web_sg_id(built) -> str:
    (web_sg,) = [
        k
        for k, r in built.raw()["Resources"].items()
        if k.startswith("WebSg") and r["Type"] == "AWS::EC2::SecurityGroup"
    ]
    return web_sg


def test_file_system_is_encrypted(built):
    built.template().has_resource_properties("AWS::EFS::FileSystem", {"Encrypted": True})


def test_a_mount_target_in_each_web_subnet(built):
    template = built.template()
    template.resource_count_is("AWS::EFS::MountTarget", 2)
    subnets = {
        json.dumps(r["Properties"]["SubnetId"])
        for r in template.find_resources("AWS::EFS::MountTarget").values()
    }
    private = {
        json.dumps({"Ref": k})
        for k, r in built.raw()["Resources"].items()
        if r["Type"] == "AWS::EC2::Subnet" and "private" in k
    }
    assert subnets == private


def test_nfs_is_open_only_to_the_web_security_group(built):
    raw = built.raw()["Resources"]
    (efs_sg,) = [
        k
        for k, r in raw.items()
        if r["Type"] == "AWS::EC2::SecurityGroup" and "EFS" in r["Properties"]["GroupDescription"]
    ]
    rules = [
        r["Properties"]
        for r in raw.values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
        and r["Properties"]["GroupId"] == {"Fn::GetAtt": [efs_sg, "GroupId"]}
    ]
    assert rules and all(
        rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [_web_sg_id(built), "GroupId"]}
        and rule["FromPort"] == rule["ToPort"] == NFS_PORT
        for rule in rules
    ), rules
    assert "SecurityGroupIngress" not in raw[efs_sg]["Properties"], "no CIDR rules on the EFS SG"


def test_file_system_refuses_clear_text_and_grants_nobody_by_itself(built):
    (fs,) = built.template().find_resources("AWS::EFS::FileSystem").values()
    policy = fs["Properties"]["FileSystemPolicy"]["Statement"]
    assert [s["Effect"] for s in policy] == ["Deny"]
    assert policy[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_media_access_point_enforces_the_app_user(built):
    built.template().has_resource_properties(
        "AWS::EFS::AccessPoint",
        {
            "PosixUser": {"Uid": str(APP_UID), "Gid": str(APP_UID)},
            "RootDirectory": {
                "Path": "/media",
                "CreationInfo": Match.object_like({"OwnerUid": str(APP_UID)}),
            },
        },
    )


def test_mount_is_persisted_in_fstab_with_tls_and_netdev(built):
    lines = built.values["mount_lines"]
    text = json.dumps(lines)
    fstab = [line for line in lines if ">>/etc/fstab" in json.dumps(line)]
    assert len(fstab) == 1, lines
    joined = json.dumps(fstab[0])
    assert f"{MEDIA_ROOT} efs _netdev,noresvport,tls,iam,accesspoint=" in joined
    assert (
        '"Ref": "StorageFileSystem' in joined
        and '"Ref": "StorageFileSystemMediaAccessPoint' in joined
    )
    assert "amazon-efs-utils" in text
    assert f"mount {MEDIA_ROOT}" in text  # mounted from the fstab entry, so boot and reboot agree


def test_no_efs_means_no_mount_lines(built):
    assert built.values["no_efs_lines"] == []
    assert built.values["no_efs_bucket"] is None  # media_backend "filesystem": no bucket either
    assert not built.template("NoEfs").find_resources("AWS::EFS::FileSystem")


def test_media_bucket_blocks_public_access_and_is_encrypted(built):
    built.template().has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
        },
    )


def test_media_bucket_denies_requests_without_tls(built):
    built.template().has_resource_properties(
        "AWS::S3::BucketPolicy",
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


def test_throwaway_environment_empties_and_deletes_the_bucket(built):
    template = built.template()
    template.has_resource("AWS::S3::Bucket", {"DeletionPolicy": "Delete"})
    template.resource_count_is("Custom::S3AutoDeleteObjects", 1)
    assert "VersioningConfiguration" not in json.dumps(template.find_resources("AWS::S3::Bucket"))


def test_prod_keeps_versioned_bucket_and_file_system(built):
    prod = built.template("Prod")
    prod.has_resource(
        "AWS::S3::Bucket",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like({"VersioningConfiguration": {"Status": "Enabled"}}),
        },
    )
    prod.has_resource("AWS::EFS::FileSystem", {"DeletionPolicy": "Retain"})
    prod.has_resource_properties("AWS::EFS::FileSystem", {"BackupPolicy": {"Status": "ENABLED"}})
    prod.resource_count_is("Custom::S3AutoDeleteObjects", 0)


def test_no_unacknowledged_nag_findings(built):
    assert built.findings_under("Test/Storage", "Prod/Storage", "NoEfs/Storage") == []
