"""Shared storage as wired into the stacks (seeds 001/004): EFS at the media path, S3 for uploads."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match
from aws_helpers import logical_ids, ref, user_data

from threetier.aws.user_data import APP_UID, DEFAULT_MEDIA_ROOT


def _web_groups(raw: dict) -> set[str]:
    """The web servers' SGs: the launch template's (EC2) or the ECS service's (Fargate)."""
    groups = set()
    for resource in raw["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::EC2::LaunchTemplate":
            groups |= {g["Fn::GetAtt"][0] for g in props["LaunchTemplateData"]["SecurityGroupIds"]}
        if resource["Type"] == "AWS::ECS::Service":
            vpc = props["NetworkConfiguration"]["AwsvpcConfiguration"]
            groups |= {g["Fn::GetAtt"][0] for g in vpc["SecurityGroups"]}
    return groups


@pytest.mark.parametrize("env", ["default", "fargate"])
def test_encrypted_file_system_with_a_mount_target_in_each_web_subnet(synthesized, env):
    built = synthesized(env)
    template = built.template()
    template.has_resource_properties("AWS::EFS::FileSystem", {"Encrypted": True})
    mounted = {
        t["Properties"]["SubnetId"]["Ref"]
        for t in template.find_resources("AWS::EFS::MountTarget").values()
    }
    private = set(
        logical_ids(
            template,
            "AWS::EC2::Subnet",
            {"Tags": Match.array_with([{"Key": "threetier:tier", "Value": "private"}])},
        )
    )
    assert mounted == private and len(private) == len(built.spec.web_azs)


@pytest.mark.parametrize("env", ["default", "fargate"])
def test_nfs_only_from_the_web_servers(synthesized, env):
    raw = synthesized(env).raw()
    targets = [r for r in raw["Resources"].values() if r["Type"] == "AWS::EFS::MountTarget"]
    efs_groups = {g["Fn::GetAtt"][0] for t in targets for g in t["Properties"]["SecurityGroups"]}
    (efs_group,) = efs_groups
    assert "SecurityGroupIngress" not in raw["Resources"][efs_group]["Properties"]
    rules = [
        r["Properties"]
        for r in raw["Resources"].values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
        and r["Properties"]["GroupId"] == {"Fn::GetAtt": [efs_group, "GroupId"]}
    ]
    assert [
        (r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"]["Fn::GetAtt"][0]) for r in rules
    ] == [(2049, 2049, group) for group in _web_groups(raw)]


def test_web_servers_mount_efs_at_the_media_path_now_and_after_a_reboot(synthesized):
    script = user_data(synthesized("default").raw())
    fstab = next(line for line in script.splitlines() if ">>/etc/fstab" in line)
    assert f"{DEFAULT_MEDIA_ROOT} efs _netdev,noresvport,tls,iam,accesspoint=" in fstab
    assert '"Ref": "StorageFileSystem' in fstab
    mount = script.index(f"mount {DEFAULT_MEDIA_ROOT}")
    # Mounted before the app starts, and the app's unit waits for the mount after a reboot.
    assert mount < script.index("systemctl enable --now threetier-gunicorn")
    assert f"RequiresMountsFor={DEFAULT_MEDIA_ROOT}" in script
    assert "THREETIER_MEDIA_BACKEND=filesystem" in script
    assert f"THREETIER_MEDIA_ROOT={DEFAULT_MEDIA_ROOT}" in script


def test_app_user_has_the_uid_the_access_point_enforces(synthesized):
    built = synthesized("default")
    script = user_data(built.raw())
    assert f"useradd --system --uid {APP_UID} --gid {APP_UID}" in script
    built.template().has_resource_properties(
        "AWS::EFS::AccessPoint", {"PosixUser": {"Uid": str(APP_UID), "Gid": str(APP_UID)}}
    )


def test_fargate_tasks_mount_the_access_point_over_tls(synthesized):
    template = synthesized("fargate").template()
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "Volumes": [
                Match.object_like(
                    {
                        "EFSVolumeConfiguration": Match.object_like(
                            {
                                "FilesystemId": ref(template, "AWS::EFS::FileSystem"),
                                "TransitEncryption": "ENABLED",
                                "AuthorizationConfig": {
                                    "AccessPointId": ref(template, "AWS::EFS::AccessPoint"),
                                    "IAM": "ENABLED",
                                },
                            }
                        )
                    }
                )
            ]
        },
    )


def test_media_bucket_is_private_encrypted_and_tls_only(synthesized):
    template = synthesized("fargate").template()
    (bucket,) = logical_ids(
        template,
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": Match.absent(),
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
        },
    )
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket},
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


def test_storage_backend_comes_from_the_parameters(synthesized):
    template = synthesized("fargate").template()
    (bucket,) = logical_ids(
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
        "AWS::ECS::TaskDefinition",
        {
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "Name": "web",
                        "Environment": Match.array_with(
                            [
                                {"Name": "THREETIER_MEDIA_BACKEND", "Value": "s3"},
                                {"Name": "THREETIER_MEDIA_BUCKET", "Value": {"Ref": bucket}},
                            ]
                        ),
                    }
                )
            ]
        },
    )
    # default keeps uploads on EFS: the only bucket is the audit trail's (KMS-encrypted).
    buckets = synthesized("default").template().find_resources("AWS::S3::Bucket")
    assert ["aws:kms"] == [
        b["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]["SSEAlgorithm"]
        for b in buckets.values()
    ], json.dumps(buckets)[:300]
