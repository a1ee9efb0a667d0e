"""Shared storage as wired into the stacks (seeds 001/004): EFS at the media path, S3 for uploads."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template
from support.aws_helpers import BLOCK_ALL_PUBLIC_ACCESS, logical_ids, media_bucket, ref, user_data

from threetier.aws.constructs.storage import SharedStorage
from threetier.aws import boot
from threetier.aws.user_data import APP_UID, DEFAULT_MEDIA_ROOT

pytestmark = pytest.mark.synth


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
    assert '"Ref": "StorageFileSystemMediaAccessPoint' in fstab
    assert "dnf install -y amazon-efs-utils" in script  # the `efs` mount type's helper
    mount = script.index(f"mount {DEFAULT_MEDIA_ROOT}")
    # Mounted before the boot program starts the app, and the app's unit (rendered by the
    # program from these settings) waits for the mount after a reboot.
    assert mount < script.index("-m threetier.aws.boot web")
    assert '"media_backend": "filesystem"' in script
    assert f'"media_root": "{DEFAULT_MEDIA_ROOT}"' in script
    settings = boot.BootSettings(
        region="r", bundle_url="s3://b/k", app_port=8000, db_host="h", db_port="5432", db_name="d",
        db_secret_arn="a", app_secret_arn="k", allowed_hosts=["x"], csrf_trusted_origins=["http://x"],
        secure_cookies=True, media_root=DEFAULT_MEDIA_ROOT,
    )
    assert f"RequiresMountsFor={DEFAULT_MEDIA_ROOT}" in boot.gunicorn_unit(boot.Ec2Layout(), settings)
    environment = boot.app_environment(settings, boot.Ec2Layout(), db_user="u", name="i", az="a")
    assert environment["THREETIER_MEDIA_BACKEND"] == "filesystem"
    assert environment["THREETIER_MEDIA_ROOT"] == DEFAULT_MEDIA_ROOT


def test_app_user_has_the_uid_the_access_point_enforces(synthesized):
    built = synthesized("default")
    script = user_data(built.raw())
    # The boot program creates the app user with these ids (tests/aws/test_boot_rehearsal.py
    # checks the real user it creates).
    assert "-m threetier.aws.boot web" in script
    assert boot.APP_UID == boot.APP_GID == APP_UID
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


def test_file_system_refuses_clear_text_and_grants_nobody_by_itself(synthesized):
    (fs,) = synthesized("default").template().find_resources("AWS::EFS::FileSystem").values()
    policy = fs["Properties"]["FileSystemPolicy"]["Statement"]
    assert [s["Effect"] for s in policy] == ["Deny"]
    assert policy[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_fargate_tasks_mount_the_access_point_over_tls(synthesized):
    template = synthesized("fargate").template()
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "ContainerDefinitions": [
                Match.object_like(
                    {"Name": "web", "MountPoints": [Match.object_like({"SourceVolume": "media"})]}
                )
            ],
            "Volumes": [Match.object_like({"Name": "media"})],
        },
    )
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
    bucket = media_bucket(template)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": Match.absent(),
            "PublicAccessBlockConfiguration": BLOCK_ALL_PUBLIC_ACCESS,
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
                                {
                                    "Name": "THREETIER_MEDIA_BUCKET",
                                    "Value": {"Ref": media_bucket(template)},
                                },
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


def test_prod_backs_up_the_file_system(synthesized):
    synthesized("prod").template().has_resource_properties(
        "AWS::EFS::FileSystem", {"BackupPolicy": {"Status": "ENABLED"}}
    )


# Options no parameters file uses (prod keeps uploads on EFS; no file turns EFS off), on one
# small stand-alone stack: the construct alone, no full environment synth.


@pytest.fixture(scope="module")
def options_no_env_uses():
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    from threetier.spec import load_spec

    storage = load_spec("default").storage
    stack = cdk.Stack(cdk.App(), "Options", env=cdk.Environment(region="ap-northeast-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, availability_zones=["ap-northeast-1a"])
    common = dict(
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        web_security_group=ec2.SecurityGroup(stack, "Web", vpc=vpc),
    )
    kept = SharedStorage(
        stack,
        "Kept",
        storage=storage.model_copy(
            update={"media_backend": "s3", "efs": False, "media_versioning": True}
        ),
        retain_data=True,
        **common,
    )
    nothing = SharedStorage(
        stack,
        "Nothing",
        storage=storage.model_copy(update={"media_backend": "filesystem", "efs": False}),
        retain_data=False,
        **common,
    )
    return Template.from_stack(stack), kept, nothing


def test_retained_s3_media_is_versioned_and_never_emptied(options_no_env_uses):
    template, kept, _ = options_no_env_uses
    assert kept.media_bucket is not None
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like({"VersioningConfiguration": {"Status": "Enabled"}}),
        },
    )
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)


def test_no_efs_means_no_file_system_and_no_mount_lines(options_no_env_uses):
    template, kept, nothing = options_no_env_uses
    assert nothing.mount_commands(mount_point=DEFAULT_MEDIA_ROOT) == []
    assert nothing.media_bucket is None and nothing.file_system is None
    assert kept.mount_commands(mount_point=DEFAULT_MEDIA_ROOT) == []
    template.resource_count_is("AWS::EFS::FileSystem", 0)
    template.resource_count_is("AWS::S3::Bucket", 1)  # the kept one only
