"""The web servers on EC2: an Auto Scaling group over the web subnets (seeds 000/001/003/004),
and the one-off migrator each deploy of new code runs first.

Amazon Linux 2023, IMDSv2 only, encrypted EBS, no key pair and no port 22: operators
use Session Manager through the instance role. The boot is `threetier.aws.boot`
(user data: `threetier.aws.user_data`).

Least privilege at boot. A web server's role reads its bundle object (not the CDK
asset bucket), the app role's secret and the Django key; never the master secret.
Creating the app role and migrating need the master secret, so they happen in one
short-lived instance of their own, the migrator: its role alone reads the master
secret. Its logical id carries the bundle's hash, so new code means a new migrator:
CloudFormation creates it, waits for its signal (migrations applied, or the deploy
fails and rolls back before any web server changes), and only then updates the Auto
Scaling group (which depends on it). The instance powers itself off when done
(shutdown behaviour: terminate); the next deploy of new code deletes the old one.

Why a migrator instance and not the alternatives: the Fargate path's one-off task
needs an image (Docker) the EC2 path does not build; a Lambda custom resource needs
the app, its dependencies and a VPC attachment packaged a second time; an SSM Run
Command step needs `threetier deploy` to orchestrate between two CloudFormation
updates. The instance boots from the same bundle with the same program
(`python -m threetier.aws.boot migrator`), and CloudFormation's own creation policy
orders it before the web servers.
"""

from __future__ import annotations

from dataclasses import replace

from aws_cdk import Aws, CfnCreationPolicy, CfnResourceSignal, CfnTag, Duration, Fn, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from threetier import spec as model
from threetier.aws.nag import suppress
from threetier.aws.user_data import BootSettings, boot_commands

MIGRATION_TIMEOUT = "PT30M"
# A SubnetSelection's fields, as vpc.select_subnets takes them (jsii wants keywords).
SELECTION_FIELDS = ("availability_zones", "one_per_az", "subnet_filters", "subnet_group_name", "subnet_type", "subnets")


def bundle_architecture(instance_type: str) -> str:
    """The wheelhouse the bundle needs: "aarch64" for Graviton types, else "x86_64"."""
    arm = ec2.InstanceType(instance_type).architecture == ec2.InstanceArchitecture.ARM_64
    return "aarch64" if arm else "x86_64"


def read_bundle(role: iam.IRole, bundle: s3_assets.Asset) -> None:
    """s3:GetObject on the bundle's own object: not the asset bucket's other objects."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadAppBundle",
            actions=["s3:GetObject"],
            resources=[bundle.bucket.arn_for_objects(bundle.s3_object_key)],
        )
    )


class WebTier(Construct):
    """`asg`, `launch_template` and `role` (grant the web servers what they read to it);
    `migrator` (the one-off instance) and `migrator_role`.

    >>> web = WebTier(stack, "Web", web=spec.web, vpc=network.vpc, subnets=network.selection("private"),
    ...               azs=spec.web_azs, security_group=security.web_sg, boot=BootSettings(...),
    ...               bundle=bundle, master_secret=database.secret,
    ...               app_secrets=[database.app_user_secret, secrets.django_secret_key])

    `boot` names the master secret (`master_secret_arn`) for the migrator; the web
    servers' user data is rendered without it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        web: model.Web,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        azs: list[str],
        security_group: ec2.ISecurityGroup,
        boot: BootSettings,
        bundle: s3_assets.Asset,
        master_secret: secretsmanager.ISecret,
        app_secrets: list[secretsmanager.ISecret],
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="threetier web servers: Session Manager, their bundle, plus the grants the stack adds",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")
            ],
        )
        read_bundle(self.role, bundle)
        instance_type = ec2.InstanceType(web.instance_type)
        cpu = (
            ec2.AmazonLinuxCpuType.ARM_64
            if bundle_architecture(web.instance_type) == "aarch64"
            else ec2.AmazonLinuxCpuType.X86_64
        )
        # Resolved from the public SSM parameter at deploy time: no lookup at synth.
        machine_image = ec2.MachineImage.latest_amazon_linux2023(cpu_type=cpu)
        self.user_data = ec2.UserData.for_linux(shebang="#!/bin/bash")
        self.user_data.add_commands(boot_commands(replace(boot, master_secret_arn=""), role="web"))
        disk = ec2.BlockDevice(
            device_name="/dev/xvda",
            volume=ec2.BlockDeviceVolume.ebs(
                8, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3, delete_on_termination=True
            ),
        )
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            instance_type=instance_type,
            machine_image=machine_image,
            role=self.role,
            security_group=security_group,
            user_data=self.user_data,
            require_imdsv2=True,
            # 1-minute CPU metrics: seed 004's "CPU >= 60 % for 1 minute" alarm needs them.
            detailed_monitoring=True,
            http_put_response_hop_limit=1,
            block_devices=[disk],
        )
        scaling = web.autoscaling
        # At least one instance per AZ, or an AZ outage could take the whole tier down.
        minimum = max(scaling.min_capacity, len(azs))
        self.asg = autoscaling.AutoScalingGroup(
            self,
            "Group",
            vpc=vpc,
            vpc_subnets=subnets,
            launch_template=self.launch_template,
            min_capacity=minimum,
            max_capacity=max(scaling.max_capacity, minimum),
            health_checks=autoscaling.HealthChecks.with_additional_checks(
                additional_types=[autoscaling.AdditionalHealthCheckType.ELB],
                # Boot installs packages and the app: give it time before ELB checks count.
                grace_period=Duration.minutes(10),
            ),
            # A deploy (and each rolling update) waits until the new servers say their app
            # answers on the health path; a broken boot rolls back instead of leaving
            # unhealthy targets behind (seed 000's trap, found by CloudFormation).
            signals=autoscaling.Signals.wait_for_min_capacity(timeout=Duration.minutes(20)),
            update_policy=autoscaling.UpdatePolicy.rolling_update(
                min_instances_in_service=minimum
                if scaling.max_capacity > minimum
                else max(minimum - 1, 0),
            ),
        )
        self.user_data.add_signal_on_exit_command(self.asg)
        self.asg.scale_on_cpu_utilization(
            "Cpu", target_utilization_percent=scaling.cpu_target_percent
        )

        self._migrator(
            boot=boot, bundle=bundle, image=machine_image, instance_type=web.instance_type, vpc=vpc,
            subnets=subnets, security_group=security_group, master_secret=master_secret,
            app_secrets=app_secrets,
        )
        self.asg.node.add_dependency(self.migrator)
        self._suppress_findings()

    def _migrator(
        self, *, boot: BootSettings, bundle: s3_assets.Asset, image: ec2.IMachineImage, instance_type: str,
        vpc: ec2.IVpc, subnets: ec2.SubnetSelection, security_group: ec2.ISecurityGroup,
        master_secret: secretsmanager.ISecret, app_secrets: list[secretsmanager.ISecret],
    ) -> None:
        self.migrator_role = iam.Role(
            self,
            "MigratorRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="threetier migrator: its bundle and the master DB secret, for one boot per deploy",
        )
        read_bundle(self.migrator_role, bundle)
        for secret in (master_secret, *app_secrets):
            secret.grant_read(self.migrator_role)
        profile = iam.CfnInstanceProfile(self, "MigratorProfile", roles=[self.migrator_role.role_name])
        # New code, new migrator: the id carries the bundle's hash (see the module docstring).
        self.migrator = ec2.CfnInstance(
            self,
            f"Migrator{bundle.asset_hash[:12]}",
            image_id=image.get_image(self).image_id,
            instance_type=instance_type,
            iam_instance_profile=profile.ref,
            subnet_id=vpc.select_subnets(
                **{f: getattr(subnets, f) for f in SELECTION_FIELDS if getattr(subnets, f) is not None}
            ).subnet_ids[0],
            security_group_ids=[security_group.security_group_id],
            metadata_options=ec2.CfnInstance.MetadataOptionsProperty(
                http_tokens="required", http_put_response_hop_limit=1
            ),
            instance_initiated_shutdown_behavior="terminate",
            block_device_mappings=[
                ec2.CfnInstance.BlockDeviceMappingProperty(
                    device_name="/dev/xvda",
                    ebs=ec2.CfnInstance.EbsProperty(
                        volume_size=8, volume_type="gp3", encrypted=True, delete_on_termination=True
                    ),
                )
            ],
            tags=[CfnTag(key="Name", value=f"{Aws.STACK_NAME}-migrator")],
        )
        logical_id = Stack.of(self).get_logical_id(self.migrator)
        signal = (
            f"trap 'code=$?; /opt/aws/bin/cfn-signal -e $code --stack {Aws.STACK_NAME} "
            f"--resource {logical_id} --region {Aws.REGION}; shutdown -h now' EXIT"
        )
        script = "#!/bin/bash\n" + signal + "\n" + boot_commands(boot, role="migrator")
        self.migrator.user_data = Fn.base64(script)
        self.migrator.cfn_options.creation_policy = CfnCreationPolicy(
            resource_signal=CfnResourceSignal(count=1, timeout=MIGRATION_TIMEOUT)
        )

    def _suppress_findings(self) -> None:
        suppress(
            self.role,
            "AwsSolutions-IAM4",
            "AmazonSSMManagedInstanceCore is AWS's minimal policy for Session Manager, which "
            "replaces SSH (no port 22, no key pair).",
            applies_to=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore"
            ],
        )
        suppress(
            self.asg,
            "AwsSolutions-AS3",
            "Scaling notifications are the monitoring construct's concern (CPU alarm → SNS); "
            "every scaling activity is also in the group's activity history.",
        )
        for rule, reason in (
            ("AwsSolutions-EC28", "The migrator lives for one boot (minutes): no detailed monitoring to watch."),
            ("AwsSolutions-EC29", "The migrator terminates itself when done: termination protection would keep "
                                  "it, and an Auto Scaling group would replace it."),
            # cdk-nag 3.0.2's EC26 throws for an instance without a launch template in a stack
            # that has one (it reads `launchTemplate.launchTemplateName` of undefined).
            ("AwsSolutions-EC26", "The migrator's only volume is encrypted (BlockDeviceMappings, "
                                  "tests/aws/test_web_tier.py); the rule errs on instances without a launch template."),
        ):
            suppress(self.migrator, rule, reason)
