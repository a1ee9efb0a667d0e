"""Who may do what (seed 004): people in groups with customer-managed policies, and the
app's role scoped to the app's own resources.

Seed 004 gives Developers every EC2 and RDS action on every resource, and the web role
AmazonS3FullAccess. Here creating and deleting infrastructure is CloudFormation's job
(`threetier deploy`), so people get read access plus the day-to-day operations (start,
stop, reboot, fail over, snapshot, Session Manager) on this environment's resources only,
recognised by the `threetier:env` tag the app puts on every stack.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from threetier.aws.constructs.storage import SharedStorage
from threetier.aws.nag import logical_id, suppress

# Set on every stack by threetier.aws.app.build_stacks; propagated to the resources.
ENV_TAG = "threetier:env"

# Reading needs `*`: EC2/ELB/Auto Scaling describe calls and CloudWatch reads have no
# resource-level permissions.
READ_ONLY_ACTIONS = [
    "ec2:Describe*",
    "elasticloadbalancing:Describe*",
    "autoscaling:Describe*",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
]
DEVELOPER_READ_ACTIONS = [*READ_ONLY_ACTIONS, "rds:Describe*", "rds:ListTagsForResource"]
INSTANCE_OPERATIONS = [
    "ec2:StartInstances",
    "ec2:StopInstances",
    "ec2:RebootInstances",
    "ssm:StartSession",
]
SCALING_OPERATIONS = ["autoscaling:SetDesiredCapacity", "autoscaling:StartInstanceRefresh"]
# RebootDBInstance with ForceFailover is seed 004's Multi-AZ failover test.
DATABASE_OPERATIONS = [
    "rds:RebootDBInstance",
    "rds:StartDBInstance",
    "rds:StopDBInstance",
    "rds:CreateDBSnapshot",
]
SESSION_MANAGER_POLICY = "AmazonSSMManagedInstanceCore"


class AccessControl(Construct):
    """Groups `developers` and `directors`, with `developer_policy` and `director_policy`.

    Users are added to the groups outside the template (people are not infrastructure).

    >>> access = AccessControl(stack, "Access", name_prefix="threetier-prod", env_name="prod")
    >>> access.developers.group_name
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, name_prefix: str, env_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        this_env = {"StringEquals": {f"aws:ResourceTag/{ENV_TAG}": env_name}}

        def arns(
            service: str,
            resource: str,
            name: str = "*",
            sep: ArnFormat = ArnFormat.SLASH_RESOURCE_NAME,
        ) -> str:
            return stack.format_arn(
                service=service, resource=resource, resource_name=name, arn_format=sep
            )

        self.developer_policy = iam.ManagedPolicy(
            self,
            "DeveloperPolicy",
            managed_policy_name=f"{name_prefix}-DeveloperPolicy",
            description=f"threetier {env_name}: read EC2/RDS, operate this environment's servers and database",
            statements=[
                iam.PolicyStatement(sid="Read", actions=DEVELOPER_READ_ACTIONS, resources=["*"]),
                iam.PolicyStatement(
                    sid="OperateInstances",
                    actions=INSTANCE_OPERATIONS,
                    resources=[arns("ec2", "instance")],
                    conditions=this_env,
                ),
                iam.PolicyStatement(
                    sid="SessionManagerShell",
                    actions=["ssm:StartSession"],
                    resources=[arns("ssm", "document", "SSM-SessionManagerRunShell")],
                ),
                iam.PolicyStatement(
                    sid="OwnSessions",
                    actions=["ssm:TerminateSession", "ssm:ResumeSession"],
                    resources=[arns("ssm", "session", "${aws:username}-*")],
                ),
                iam.PolicyStatement(
                    sid="Scale",
                    actions=SCALING_OPERATIONS,
                    resources=[
                        arns("autoscaling", "autoScalingGroup", "*", ArnFormat.COLON_RESOURCE_NAME)
                    ],
                    conditions=this_env,
                ),
                iam.PolicyStatement(
                    sid="OperateDatabase",
                    actions=DATABASE_OPERATIONS,
                    resources=[arns("rds", "db", "*", ArnFormat.COLON_RESOURCE_NAME)],
                    conditions=this_env,
                ),
                iam.PolicyStatement(
                    sid="Snapshots",
                    actions=["rds:CreateDBSnapshot", "rds:AddTagsToResource"],
                    resources=[arns("rds", "snapshot", "*", ArnFormat.COLON_RESOURCE_NAME)],
                ),
            ],
        )
        self.director_policy = iam.ManagedPolicy(
            self,
            "DirectorPolicy",
            managed_policy_name=f"{name_prefix}-DirectorPolicy",
            description=f"threetier {env_name}: EC2 read-only (servers, load balancer, scaling, metrics)",
            statements=[
                iam.PolicyStatement(sid="Read", actions=READ_ONLY_ACTIONS, resources=["*"])
            ],
        )
        self.developers = iam.Group(
            self,
            "Developers",
            group_name=f"{name_prefix}-Developers",
            managed_policies=[self.developer_policy],
        )
        self.directors = iam.Group(
            self,
            "Directors",
            group_name=f"{name_prefix}-Directors",
            managed_policies=[self.director_policy],
        )

        read_findings = [
            f"Action::{action}" for action in DEVELOPER_READ_ACTIONS if action.endswith("*")
        ]

        def finding(service: str, resource: str) -> str:
            # How cdk-nag spells these ARNs: the account and region resolved when the stack has them.
            region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
            account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
            return f"Resource::arn:<AWS::Partition>:{service}:{region}:{account}:{resource}"

        suppress(
            self.developer_policy,
            "AwsSolutions-IAM5",
            "Describe/List calls and CloudWatch reads have no resource-level permissions; every "
            "operation (start/stop/reboot/fail over/scale/session) is limited to resources tagged "
            f"{ENV_TAG}={env_name}, and snapshots get generated names. Seed 004 grants ec2:* and "
            "rds:* on everything; this is the part of it people need.",
            applies_to=[
                *read_findings,
                "Resource::*",
                finding("ec2", "instance/*"),
                finding("autoscaling", "autoScalingGroup:*"),
                finding("rds", "db:*"),
                finding("rds", "snapshot:*"),
                finding("ssm", "session/<aws:username>-*"),
            ],
        )
        suppress(
            self.director_policy,
            "AwsSolutions-IAM5",
            "Read-only describe calls and CloudWatch reads (seed 004's DirectorPolicy: EC2 read); "
            "they have no resource-level permissions.",
            applies_to=[
                *(f"Action::{a}" for a in READ_ONLY_ACTIONS if a.endswith("*")),
                "Resource::*",
            ],
        )


class AppAccessPolicy(Construct):
    """What the app's role (web instances or Fargate task) may touch: the media bucket,
    the media file system through its access point, the secrets it reads, the log groups
    it writes — each by ARN.

    >>> AppAccessPolicy(stack, "WebAccess", role=web.role, storage=storage,
    ...                 secrets=[database.secret, secrets.django_secret_key], log_groups=[app_logs])
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role: iam.IRole,
        storage: SharedStorage | None = None,
        secrets: Sequence[secretsmanager.ISecret] = (),
        log_groups: Sequence[logs.ILogGroup] = (),
        session_manager: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        statements: list[iam.PolicyStatement] = []
        if log_groups:
            statements.append(
                iam.PolicyStatement(
                    sid="ShipLogs",  # the CloudWatch agent on the web servers
                    actions=[
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    resources=[group.log_group_arn for group in log_groups],
                )
            )
        if secrets:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadSecrets",
                    actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    resources=[s.secret_full_arn or s.secret_arn for s in secrets],
                )
            )
        bucket = storage.media_bucket if storage else None
        if bucket is not None:
            statements += [
                iam.PolicyStatement(
                    sid="ListMedia", actions=["s3:ListBucket"], resources=[bucket.bucket_arn]
                ),
                iam.PolicyStatement(
                    sid="ReadWriteMedia",
                    actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    resources=[bucket.arn_for_objects("*")],
                ),
            ]
        if (
            storage is not None
            and storage.file_system is not None
            and storage.access_point is not None
        ):
            statements.append(
                iam.PolicyStatement(
                    sid="MountMedia",
                    actions=["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                    resources=[storage.file_system.file_system_arn],
                    # Only through the media access point (which enforces the app's uid).
                    conditions={
                        "StringEquals": {
                            "elasticfilesystem:AccessPointArn": storage.access_point.access_point_arn
                        }
                    },
                )
            )
        self.policy: iam.Policy | None = None
        if statements:
            self.policy = iam.Policy(self, "Policy", roles=[role], statements=statements)
        if bucket is not None and self.policy is not None:
            suppress(
                self.policy,
                "AwsSolutions-IAM5",
                "Objects of the media bucket only (uploads have user-chosen names); no other bucket.",
                applies_to=[f"Resource::<{logical_id(bucket)}.Arn>/*"],
            )
        if session_manager:
            role.add_managed_policy(
                iam.ManagedPolicy.from_aws_managed_policy_name(SESSION_MANAGER_POLICY)
            )
            suppress(
                role,
                "AwsSolutions-IAM4",
                "AmazonSSMManagedInstanceCore is AWS's minimal policy for Session Manager, which "
                "replaces SSH (no port 22, no key pair).",
                applies_to=[
                    f"Policy::arn:<AWS::Partition>:iam::aws:policy/{SESSION_MANAGER_POLICY}"
                ],
            )
