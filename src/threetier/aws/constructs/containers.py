"""The web tier on ECS Fargate (seeds 002, 004), for spec.web.runtime == "fargate".

The image is this repository's `Dockerfile`, built by the CDK CLI at deploy time (synth
only fingerprints the files: no Docker needed to synthesize). Tasks run in the web
subnets with the web security group and register, by IP, into the ALB's target group.

Migrations run as a one-off task with the new image before the service moves to it:
`threetier deploy` (`threetier.aws.rollout`) deploys twice. The first deploy carries the
context `threetier:service-hold` (`SERVICE_HOLD_CONTEXT`): its value is the task
definition the service runs now, and the service stays on it while the new web and
migration task definitions are registered; `none` (no service yet) creates the service
with 0 tasks. Then the migration task runs; only if it exits 0 does the second deploy,
without the context, roll the service (the circuit breaker rolls back if the new tasks
never get healthy).

The web task definition is kept when CloudFormation replaces it (UpdateReplacePolicy
Retain): the held revision must stay ACTIVE, because ECS refuses to point a service
back at an INACTIVE one, which is what a rollback of the second deploy does.
`threetier deploy` deregisters the held revision once the service has left it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnDeletionPolicy, Duration, Fn, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from threetier import spec as model
from threetier.apps.identity import AppSource, app_identity
from threetier.aws.app_bundle import CONTAINER_APP_DIR, stage_image_context
from threetier.aws.boot import APP_GID, APP_UID, MASTER_PASSWORD_ENV, MASTER_USER_ENV
from threetier.aws.constructs.iam import AppAccessPolicy
from threetier.aws.constructs.storage import SharedStorage
from threetier.aws.migration_runner import MIGRATE_CONTAINER
from threetier.aws.nag import logical_id, suppress
from threetier.errors import ThreetierError
from threetier.paths import tool_checkout
from threetier.runtime import contract

WEB_CONTAINER = "web"
# As master: ensure the app role and its grants; then `migrate` as the app role (boot.py).
MIGRATE_COMMAND = ["python", "-m", "threetier.aws.boot", "migrate"]
SETTINGS_MODULE = contract.SETTINGS_MODULE
# Paths inside the image (Dockerfile): the app user owns both.
CONTAINER_MEDIA_ROOT = "/srv/threetier/media"
CONTAINER_STATIC_ROOT = "/srv/threetier/static"
MEDIA_VOLUME = "media"
# Time for gunicorn to start and collect static files before ALB checks count.
HEALTH_CHECK_GRACE = Duration.seconds(60)
# Where CI puts the commit: CDK context first (`-c threetier:revision=...`), then the environment.
REVISION_CONTEXT = "threetier:revision"
REVISION_ENV = "THREETIER_REVISION"
SERVICE_HOLD_CONTEXT = "threetier:service-hold"
# The hold's value before the first deploy: create the service, but with no tasks.
NO_SERVICE = "none"
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TASK_DEFINITION_ARN = re.compile(
    r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/[\w-]+:\d+$"
)


def image_revision(scope: Construct) -> str | None:
    """The revision (commit SHA) the image is built from: context, else $THREETIER_REVISION."""
    revision = scope.node.try_get_context(REVISION_CONTEXT) or os.environ.get(REVISION_ENV) or None
    if revision is not None and not _REVISION.match(str(revision)):
        raise ThreetierError(
            f"image revision {revision!r} is not a usable image tag",
            fix=f"set {REVISION_ENV} (or -c {REVISION_CONTEXT}=...) to a commit SHA",
        )
    return revision


def service_hold(scope: Construct) -> str | None:
    """What the service keeps while migrations run (deploy step 1), from the context:
    a task definition ARN, `NO_SERVICE`, or None (no hold: the service rolls)."""
    hold = scope.node.try_get_context(SERVICE_HOLD_CONTEXT) or None
    if hold is not None and hold != NO_SERVICE and not _TASK_DEFINITION_ARN.match(str(hold)):
        raise ThreetierError(
            f"{SERVICE_HOLD_CONTEXT}={hold!r} is neither a task definition ARN nor {NO_SERVICE!r}",
            fix="let `threetier deploy` set it; a plain `cdk deploy` needs no hold",
        )
    return hold


@dataclass(frozen=True)
class AppSettings:
    """The webapp's non-secret settings that only the stack knows (tokens allowed)."""

    db_host: str
    db_port: str
    db_name: str
    allowed_hosts: Sequence[str]
    csrf_trusted_origins: Sequence[str]
    secure_cookies: bool
    media_backend: str = "filesystem"
    media_bucket: str = ""


def container_environment(
    settings: AppSettings, *, revision: str | None, region: str = ""
) -> dict[str, str]:
    """The webapp's environment inside a task: the contract's (threetier.runtime.contract).
    Secrets are not here: see `FargateWebTier`.

    THREETIER_INSTANCE_NAME and THREETIER_AZ are set by the image's entrypoint
    (`python -m threetier.runtime entrypoint`) from the ECS task metadata endpoint.
    """
    return contract.app_environment(
        contract.AppConfig(
            db_host=settings.db_host,
            db_port=settings.db_port,
            db_name=settings.db_name,
            allowed_hosts=settings.allowed_hosts,
            csrf_trusted_origins=settings.csrf_trusted_origins,
            secure_cookies=settings.secure_cookies,
            static_root=CONTAINER_STATIC_ROOT,
            media_root=CONTAINER_MEDIA_ROOT,
            media_backend=settings.media_backend,
            media_bucket=settings.media_bucket,
            db_sslmode="require",  # the RDS parameter group forces TLS anyway
            region=region,
            revision=revision or "unversioned",
        )
    )


def web_command(app_port: int, gunicorn: contract.Gunicorn = contract.GUNICORN) -> list[str]:
    """gunicorn as the contract says, bound for the ALB (no nginx in a task), sized for
    the task (contract.gunicorn_for_fargate)."""
    return contract.gunicorn_command("python", bind=f"0.0.0.0:{app_port}", name="threetier", settings=gunicorn)


class FargateWebTier(Construct):
    """`cluster`, `task_definition`, `service`, `scaling`, `migration_task_definition`,
    `image_asset` and `task_role` (what the app may touch; grants go there).

    The target group must have `target_type=IP`: Fargate tasks register by address.

    >>> fargate = FargateWebTier(stack, "Fargate", web=spec.web, vpc=network.vpc,
    ...     subnets=network.selection("private"), security_group=security.web_sg,
    ...     target_group=lb.target_group, log_group=logs, app=AppSettings(...),
    ...     db_secret=database.app_user_secret, master_secret=database.secret,
    ...     app_secret=secrets.django_secret_key, storage=storage,
    ...     revision=image_revision(stack), hold=service_hold(stack))

    Secrets: the web tasks get the app role's credentials (`db_secret`) and the Django key,
    nothing else; only the migration task also gets the master's (`master_secret`), and
    each task definition has its own execution role, so only the migration task's can
    read the master secret.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        web: model.Web,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        target_group: elbv2.IApplicationTargetGroup,
        log_group: logs.ILogGroup,
        app: AppSettings,
        db_secret: secretsmanager.ISecret,
        master_secret: secretsmanager.ISecret,
        app_secret: secretsmanager.ISecret,
        storage: SharedStorage | None = None,
        revision: str | None = None,
        hold: str | None = None,
        source: Path | None = None,
        user_app: model.App | None = None,
        user_app_source: AppSource | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        fargate = web.fargate
        # A user's app ([app]): the image from its own Dockerfile, else from a generated one
        # (app_bundle.stage_image_context: its code, hash-locked requirements, threetier's runtime).
        own_image = False
        if user_app_source is not None:
            source, own_image = stage_image_context(user_app_source, uid=APP_UID, gid=APP_GID)
        self.image_asset = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(source or tool_checkout()),
            file="Dockerfile",  # .dockerignore keeps .venv, cdk.out and tests out of the context
            platform=ecr_assets.Platform.LINUX_AMD64,
            build_args={"THREETIER_REVISION": revision or "unversioned"},
            extra_hash=revision,
        )
        new_image = ecs.ContainerImage.from_docker_image_asset(self.image_asset)
        environment = container_environment(app, revision=revision, region=Stack.of(self).region)
        # ECS puts secrets into the environment: the values, where EC2 and the twin name files.
        secrets = {
            contract.SECRET_KEY.value_variable: ecs.Secret.from_secrets_manager(app_secret),
            contract.DB_USER: ecs.Secret.from_secrets_manager(db_secret, "username"),
            contract.DB_PASSWORD.value_variable: ecs.Secret.from_secrets_manager(db_secret, "password"),
        }
        migration_secrets = {
            **secrets,
            MASTER_USER_ENV: ecs.Secret.from_secrets_manager(master_secret, "username"),
            MASTER_PASSWORD_ENV: ecs.Secret.from_secrets_manager(master_secret, "password"),
        }
        platform = ecs.RuntimePlatform(
            cpu_architecture=ecs.CpuArchitecture.X86_64,
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
        )

        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            # ECS Exec sessions are logged to the app's log group: the task role then writes to
            # that group only, instead of CDK's DEFAULT grant on every log group ("*").
            execute_command_configuration=ecs.ExecuteCommandConfiguration(
                logging=ecs.ExecuteCommandLogging.OVERRIDE,
                log_configuration=ecs.ExecuteCommandLogConfiguration(
                    cloud_watch_log_group=log_group
                ),
            ),
        )

        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=fargate.cpu,
            memory_limit_mib=fargate.memory_mib,
            runtime_platform=platform,
        )
        self.task_role = self.task_definition.task_role
        # Kept on replacement (rollbacks need the old revision ACTIVE: module docstring),
        # deregistered with the stack.
        cfn_task_definition = self.task_definition.node.default_child
        cfn_task_definition.cfn_options.update_replace_policy = CfnDeletionPolicy.RETAIN
        cfn_task_definition.cfn_options.deletion_policy = CfnDeletionPolicy.DELETE
        self.container = self.task_definition.add_container(
            WEB_CONTAINER,
            image=new_image,
            command=web_command(web.app_port, contract.gunicorn_for_fargate(fargate.cpu, fargate.memory_mib)),
            environment=environment,
            secrets=secrets,
            port_mappings=[ecs.PortMapping(container_port=web.app_port, protocol=ecs.Protocol.TCP)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix=WEB_CONTAINER, log_group=log_group),
        )
        if (
            storage is not None
            and storage.file_system is not None
            and storage.access_point is not None
        ):
            self.task_definition.add_volume(
                name=MEDIA_VOLUME,
                efs_volume_configuration=ecs.EfsVolumeConfiguration(
                    file_system_id=storage.file_system.file_system_id,
                    transit_encryption="ENABLED",
                    authorization_config=ecs.AuthorizationConfig(
                        access_point_id=storage.access_point.access_point_id, iam="ENABLED"
                    ),
                ),
            )
            self.container.add_mount_points(
                ecs.MountPoint(
                    container_path=CONTAINER_MEDIA_ROOT, source_volume=MEDIA_VOLUME, read_only=False
                )
            )
        self.app_access = AppAccessPolicy(self, "AppAccess", role=self.task_role, storage=storage)

        # Tasks in public subnets (seed 002's layout) need a public IP to pull images; private ones use NAT.
        self.assign_public_ip = web.subnet_tier == "public"
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            vpc_subnets=subnets,
            security_groups=[security_group],
            assign_public_ip=self.assign_public_ip,
            desired_count=0 if hold == NO_SERVICE else fargate.min_tasks,
            min_healthy_percent=100,  # rolling: new tasks healthy before old ones stop
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            enable_execute_command=True,  # seed 004: `aws ecs execute-command`, no SSH
            health_check_grace_period=HEALTH_CHECK_GRACE,
            platform_version=ecs.FargatePlatformVersion.LATEST,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        self.service.attach_to_application_target_group(target_group)
        if hold not in (None, NO_SERVICE):
            # Deploy step 1: the service stays on the revision it runs (same ARN: no new deployment).
            self.service.node.default_child.add_property_override("TaskDefinition", hold)
        self.scaling = self.service.auto_scale_task_count(
            # No tasks before the first migration: a minimum above 0 would start them anyway.
            min_capacity=0 if hold == NO_SERVICE else fargate.min_tasks,
            max_capacity=fargate.max_tasks,
        )
        self.scaling.scale_on_cpu_utilization(
            "Cpu", target_utilization_percent=fargate.cpu_target_percent
        )

        self.migration_task_definition = ecs.FargateTaskDefinition(
            self,
            "MigrateTask",
            cpu=fargate.cpu,
            memory_limit_mib=fargate.memory_mib,
            runtime_platform=platform,
        )
        self.migration_task_definition.add_container(
            MIGRATE_CONTAINER,
            image=new_image,
            command=MIGRATE_COMMAND,
            environment=environment,
            secrets=migration_secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=MIGRATE_CONTAINER, log_group=log_group),
        )
        if user_app is not None and not user_app.bundled:
            self._run_user_app(app_identity(user_app, CONTAINER_APP_DIR), own_image=own_image)
        self.subnet_ids = _selected(vpc, subnets).subnet_ids
        self.security_group = security_group
        self._suppress_findings(log_group)

    def _run_user_app(self, identity: contract.AppIdentity, *, own_image: bool) -> None:
        """Both task definitions name the user's app (the contract's identity keys); the web
        container serves it through threetier's wrapper, or, from the app's own Dockerfile,
        runs the image's own command (docs/apps.md: what such an image must hold)."""
        for container in (self.container, self.migration_task_definition.default_container):
            for key, value in contract.identity_environment(identity).items():
                container.add_environment(key, value)
        web = self.task_definition.node.default_child
        if own_image:
            web.add_property_deletion_override("ContainerDefinitions.0.Command")
        else:
            # gunicorn_command's callable (argv[3]): the wrapper around the user's, not the registry's.
            web.add_property_override("ContainerDefinitions.0.Command.3", identity.server_wsgi())

    @property
    def migration_outputs(self) -> dict[str, str]:
        """Stack outputs `threetier deploy` reads to run the migration task
        (`threetier.aws.migration_runner.MigrationTask.from_outputs`)."""
        return {
            "MigrationCluster": self.cluster.cluster_name,
            "MigrationTaskDefinition": self.migration_task_definition.task_definition_arn,
            "MigrationSubnets": Fn.join(",", self.subnet_ids),
            "MigrationSecurityGroups": self.security_group.security_group_id,
            "MigrationAssignPublicIp": "ENABLED" if self.assign_public_ip else "DISABLED",
            "WebService": self.service.service_name,
        }

    def _suppress_findings(self, log_group: logs.ILogGroup) -> None:
        stack = Stack.of(self)
        region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
        account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
        suppress(
            self.task_definition,
            "AwsSolutions-IAM5",
            "ECS Exec session logs: the streams of the app's own log group (stream names are "
            "chosen per session), not any other group.",
            applies_to=[
                f"Resource::arn:<AWS::Partition>:logs:{region}:{account}:log-group:"
                f"<{logical_id(log_group)}>:*"
            ],
        )
        for task_definition in (self.task_definition, self.migration_task_definition):
            suppress(
                task_definition,
                "AwsSolutions-ECS2",
                "Only non-secret settings (hosts, ports, paths) are plain environment variables; the "
                "secret key and the database credentials come from Secrets Manager (`secrets`).",
            )
            suppress(
                task_definition,
                "AwsSolutions-IAM5",
                "ecr:GetAuthorizationToken has no resource-level permissions (image pulls are "
                "limited to the asset repository); ECS Exec's ssmmessages channel actions likewise.",
                applies_to=["Resource::*"],
            )


def _selected(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> ec2.SelectedSubnets:
    """`vpc.select_subnets` for a SubnetSelection object (jsii wants its fields as keywords)."""
    fields = (
        "availability_zones",
        "one_per_az",
        "subnet_filters",
        "subnet_group_name",
        "subnet_type",
        "subnets",
    )
    return vpc.select_subnets(
        **{f: getattr(selection, f) for f in fields if getattr(selection, f) is not None}
    )
