"""Storage the web servers share (seeds 001, 004): EFS for the media directory, S3 for uploads.

Seed 001's trap: EFS mounted by hand works until the first reboot. `mount_commands`
writes the mount into /etc/fstab (`_netdev,tls,iam`, amazon-efs-utils) and mounts it
from there, so a rebooted or replaced server comes back with the same files.

The file system only accepts TLS, and only IAM principals granted `ClientMount` through
the media access point (see `threetier.aws.constructs.iam.grant_app_access`): an
anonymous NFS client inside the VPC is refused even if a security group lets it in.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from threetier import spec as model
from threetier.aws.constructs.buckets import private_bucket
from threetier.aws.user_data import APP_GID, APP_UID

__all__ = ["APP_GID", "APP_UID", "NFS_PORT", "SharedStorage"]

NFS_PORT = 2049
# The app user's uid/gid everywhere (defined with the boot script that creates the user):
# the web servers' `threetier` user, the container's user (Dockerfile) and the owner the
# media access point enforces. Equal ids make the boot script's `chown` a no-op on EFS
# instead of a permission error.
# Where the media directory lives inside the file system (the access point's root).
MEDIA_DIRECTORY = "/media"
# rwx for the app user, r-x for its group, nothing for others.
MEDIA_PERMISSIONS = "750"


class SharedStorage(Construct):
    """`file_system` + `access_point` + `security_group` (when spec.storage.efs) and
    `media_bucket` (when spec.storage.media_backend == "s3"); the others are None.

    >>> storage = SharedStorage(stack, "Storage", storage=spec.storage, vpc=network.vpc,
    ...                         subnets=network.selection("private"), web_security_group=security.web_sg,
    ...                         retain_data=spec.environment.retain_data)
    >>> boot_lines = storage.mount_commands(mount_point="/var/lib/threetier/media")
    >>> grant_app_access(web.role, storage=storage)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: model.Storage,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        web_security_group: ec2.ISecurityGroup,
        retain_data: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY

        self.file_system: efs.FileSystem | None = None
        self.access_point: efs.AccessPoint | None = None
        self.security_group: ec2.SecurityGroup | None = None
        if storage.efs:
            self.security_group = ec2.SecurityGroup(
                self,
                "FileSystemSecurityGroup",
                vpc=vpc,
                description="EFS: NFS from the web servers only",
                allow_all_outbound=False,
            )
            self.file_system = efs.FileSystem(
                self,
                "FileSystem",
                vpc=vpc,
                vpc_subnets=subnets,  # one mount target per web subnet (one per AZ)
                security_group=self.security_group,
                encrypted=True,
                performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
                # Bursting bills storage only; uploads are small and rare.
                throughput_mode=efs.ThroughputMode.BURSTING,
                enable_automatic_backups=retain_data,
                removal_policy=removal,
                # CDK's "no anonymous access" is a policy that lets every IAM principal in
                # (ClientRootAccess included). Ours allows nobody by itself: a file system policy
                # exists, so anonymous clients are refused, and only identity grants
                # (AppAccessPolicy: ClientMount/ClientWrite via the access point) open it.
                allow_anonymous_access=True,
                file_system_policy=iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            effect=iam.Effect.DENY,
                            principals=[iam.AnyPrincipal()],
                            actions=["*"],
                            conditions={"Bool": {"aws:SecureTransport": "false"}},
                        )
                    ]
                ),
            )
            # From the web SG and nothing else; also opens the web SG's egress if it is restricted.
            self.file_system.connections.allow_default_port_from(
                web_security_group, "NFS from the web servers"
            )
            self.access_point = self.file_system.add_access_point(
                "MediaAccessPoint",
                path=MEDIA_DIRECTORY,
                create_acl=efs.Acl(
                    owner_uid=str(APP_UID), owner_gid=str(APP_GID), permissions=MEDIA_PERMISSIONS
                ),
                posix_user=efs.PosixUser(uid=str(APP_UID), gid=str(APP_GID)),
            )

        self.media_bucket: s3.Bucket | None = None
        if storage.media_backend == "s3":
            self.media_bucket = private_bucket(
                self,
                "MediaBucket",
                retain_data=retain_data,
                versioned=storage.media_versioning,
                no_access_logs_because="Every object access is recorded by the audit trail's S3 data "
                "events (AuditTrail); server access logs would need another bucket for the same facts.",
            )

    def mount_commands(self, *, mount_point: str) -> list[str]:
        """User-data lines (bash, root) that mount the media access point at `mount_point`
        now and after every reboot. Empty when the environment has no EFS.

        The fstab line uses amazon-efs-utils' `efs` type: `tls` (stunnel, the file system
        refuses clear text), `iam` (the instance role's ClientMount grant), `_netdev` (wait
        for the network at boot). Safe to run twice: the fstab line is written once.
        """
        if self.file_system is None or self.access_point is None:
            return []
        entry = (
            f"{self.file_system.file_system_id}:/ {mount_point} efs "
            f"_netdev,noresvport,tls,iam,accesspoint={self.access_point.access_point_id} 0 0"
        )
        return [
            "# Shared media on EFS (seed 001): in /etc/fstab so it is mounted again after a reboot.",
            "dnf install -y amazon-efs-utils",
            f"mkdir -p {mount_point}",
            f"grep -qs ' {mount_point} efs ' /etc/fstab || echo '{entry}' >>/etc/fstab",
            f"mountpoint -q {mount_point} || mount {mount_point}",
        ]
