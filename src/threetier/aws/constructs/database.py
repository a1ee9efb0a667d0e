"""RDS PostgreSQL in the isolated subnets, credentials generated in Secrets Manager.

Per environment (spec.database / spec.environment): Multi-AZ, backups and windows,
deletion protection, and what `destroy` does with the data (DESTROY when the environment
is throwaway, a final SNAPSHOT when spec.environment.retain_data).
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from threetier import spec as model
from threetier.aws.constructs.security import POSTGRES_PORT
from threetier.aws.nag import suppress
from threetier.aws.retention import log_retention


def stack_id_suffix() -> str:
    """The first group of this stack's UUID (`arn:...:stack/NAME/1a2b3c4d-...` → `1a2b3c4d`):
    fixed for the stack's life, new when the stack is created again after a destroy."""
    return Fn.select(0, Fn.split("-", Fn.select(2, Fn.split("/", Aws.STACK_ID))))


class Database(Construct):
    """`instance` (RDS PostgreSQL), `secret` (its generated master credentials) and
    `app_user_secret` (the app role's, `{"username": database.app_username, "password": ...}`).

    The master secret is for the once-per-deploy migration step only, which creates the
    app role from `app_user_secret` (threetier.dbroles); the web servers/tasks log in as
    the app role. RDS knows nothing of that role: the template only generates its password.

    >>> database = Database(stack, "Database", database=spec.database, env_name="default",
    ...                     vpc=network.vpc, subnets=network.selection("isolated"),
    ...                     security_group=security.db_sg, retain_data=False)
    >>> database.instance.db_instance_endpoint_address
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database: model.Database,
        env_name: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        retain_data: bool,
        identifier: str,
        log_retention_days: int = 30,
    ) -> None:
        super().__init__(scope, construct_id)
        engine = rds.DatabaseInstanceEngine.postgres(
            version=rds.PostgresEngineVersion.of(database.engine_version, database.engine_version)
        )
        self.parameter_group = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description=f"threetier {env_name}: PostgreSQL {database.engine_version}",
            parameters={
                "rds.force_ssl": "1",  # credentials never cross the VPC in clear text
                "log_min_duration_statement": "1000",
                # Django (USE_TZ) wants its connections in UTC and sends SET TIME ZONE on
                # each new connection whose zone has another name (the twin's PostgreSQL
                # said Etc/UTC); set here so no engine default can add that round trip.
                "timezone": "UTC",
            },
        )
        self.subnet_group = rds.SubnetGroup(
            self,
            "Subnets",
            description=f"threetier {env_name}: isolated subnets, one per AZ",
            vpc=vpc,
            vpc_subnets=subnets,
            removal_policy=RemovalPolicy.DESTROY,
        )
        data_policy = RemovalPolicy.SNAPSHOT if retain_data else RemovalPolicy.DESTROY
        # The instance is named so its log group can exist before it; the name ends in the
        # first part of this stack's id (new each time the stack is created), because a
        # log group kept by `destroy` (retain_data) or left by RDS under a fixed name would
        # make the next deploy fail with "already exists".
        self.identifier = f"{identifier}-{stack_id_suffix()}"
        # RDS creates its log group on first export and never deletes it. Created here first
        # (the instance depends on it), it has a retention and goes with `destroy` unless
        # the data is retained.
        self.log_group = logs.LogGroup(
            self,
            "PostgresLogs",
            log_group_name=f"/aws/rds/instance/{self.identifier}/postgresql",
            retention=log_retention(log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY,
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            # Named, so its log group can exist before it (and be deleted with the stack).
            instance_identifier=self.identifier,
            engine=engine,
            instance_type=ec2.InstanceType(database.instance_class.removeprefix("db.")),
            vpc=vpc,
            subnet_group=self.subnet_group,
            security_groups=[security_group],
            port=POSTGRES_PORT,
            database_name=database.name,
            # The password is generated by Secrets Manager at deploy time; the template
            # holds only a dynamic reference to it.
            credentials=rds.Credentials.from_generated_secret(database.master_username),
            multi_az=database.multi_az,
            allocated_storage=database.allocated_storage_gb,
            storage_type=rds.StorageType.GP3,
            storage_encrypted=True,
            publicly_accessible=False,
            parameter_group=self.parameter_group,
            backup_retention=Duration.days(database.backup_retention_days),
            preferred_backup_window=database.backup_window,
            preferred_maintenance_window=database.maintenance_window,
            deletion_protection=database.deletion_protection,
            delete_automated_backups=not retain_data,
            removal_policy=data_policy,
            auto_minor_version_upgrade=True,
            cloudwatch_logs_exports=["postgresql"],
        )
        self.instance.node.add_dependency(self.log_group)
        self.secret: secretsmanager.ISecret = self.instance.secret  # type: ignore[assignment]
        # `instance.secret` is the secret's attachment; the generated secret itself is the
        # instance's child "Secret". Kept with the final snapshot: a snapshot restored
        # later needs the master password it was taken with.
        secret_policy = RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY
        self.secret.apply_removal_policy(secret_policy)
        generated = self.instance.node.try_find_child("Secret")
        if isinstance(generated, secretsmanager.Secret):
            generated.apply_removal_policy(secret_policy)
        self.app_user_secret = secretsmanager.Secret(
            self,
            "AppUserSecret",
            description=f"threetier {env_name}: PostgreSQL login of the app role "
            f"{database.app_username} (not the master)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(
                    {"username": database.app_username}, separators=(",", ":")
                ),
                generate_string_key="password",
                # Alphanumeric: safe in a password file, an env var and a libpq conninfo.
                password_length=40,
                exclude_punctuation=True,
            ),
            removal_policy=RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY,
        )

        suppress(
            self.instance,
            "AwsSolutions-RDS11",
            "5432 is PostgreSQL's port, as in the seeds and the local twin; the database is "
            "reachable only from the web servers' security group, so a non-default port adds nothing.",
        )
        suppress(
            self.app_user_secret,
            "AwsSolutions-SMG4",
            "Known gap: the migration step sets the app role's password from this secret once "
            "per deploy; a rotation would also need a deploy (instance refresh / new tasks).",
        )
        suppress(
            self.instance,
            "AwsSolutions-SMG4",
            "Known gap: rotation needs a rotation Lambda inside the VPC; the web servers read "
            "the password at boot, so a rotation also needs an instance refresh.",
        )
        if not database.multi_az:
            suppress(
                self.instance,
                "AwsSolutions-RDS3",
                f"spec.database.multi_az is false in {env_name!r}: a cheap, destroyable "
                "environment; prod.toml runs Multi-AZ.",
            )
        if not database.deletion_protection:
            suppress(
                self.instance,
                "AwsSolutions-RDS10",
                f"spec.database.deletion_protection is false in {env_name!r} so `threetier "
                "destroy` removes it; prod.toml turns it on.",
            )
