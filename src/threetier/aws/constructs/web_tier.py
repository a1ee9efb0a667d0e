"""The web servers on EC2: an Auto Scaling group over the web subnets (seeds 000/001/003/004).

Amazon Linux 2023, IMDSv2 only, encrypted EBS, no key pair and no port 22: operators
use Session Manager through the instance role. The boot script is `user_data.boot_script`.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from threetier import spec as model
from threetier.aws.nag import asset_bucket_objects, suppress
from threetier.aws.user_data import BootSettings, boot_commands


class WebTier(Construct):
    """`asg`, `launch_template` and `role` (grant the instances what they read to it).

    >>> web = WebTier(stack, "Web", web=spec.web, vpc=network.vpc, subnets=network.selection("private"),
    ...               azs=spec.web_azs, security_group=security.web_sg, boot=BootSettings(...))
    >>> database.secret.grant_read(web.role)
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
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="threetier web servers: Session Manager, plus the grants the stack adds",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")
            ],
        )
        instance_type = ec2.InstanceType(web.instance_type)
        cpu = (
            ec2.AmazonLinuxCpuType.ARM_64
            if instance_type.architecture == ec2.InstanceArchitecture.ARM_64
            else ec2.AmazonLinuxCpuType.X86_64
        )
        self.user_data = ec2.UserData.for_linux(shebang="#!/bin/bash")
        self.user_data.add_commands(boot_commands(boot))
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            instance_type=instance_type,
            # Resolved from the public SSM parameter at deploy time: no lookup at synth.
            machine_image=ec2.MachineImage.latest_amazon_linux2023(cpu_type=cpu),
            role=self.role,
            security_group=security_group,
            user_data=self.user_data,
            require_imdsv2=True,
            # 1-minute CPU metrics: seed 004's "CPU >= 60 % for 1 minute" alarm needs them.
            detailed_monitoring=True,
            http_put_response_hop_limit=1,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        8,
                        encrypted=True,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
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
            self.role,
            "AwsSolutions-IAM5",
            "CDK's read grant on the app bundle: S3 read actions on the CDK asset bucket, "
            "which holds only this app's deployment artifacts.",
            applies_to=[
                "Action::s3:GetObject*",
                "Action::s3:GetBucket*",
                "Action::s3:List*",
                asset_bucket_objects(Stack.of(self)),
            ],
        )
        suppress(
            self.asg,
            "AwsSolutions-AS3",
            "Scaling notifications are the monitoring construct's concern (CPU alarm → SNS); "
            "every scaling activity is also in the group's activity history.",
        )
