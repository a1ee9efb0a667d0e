"""The regional stack: the seeds' whole system in spec.project.region.

Construct order is dependency order: network → security groups → secrets → database →
(storage) → load balancer → web tier → DNS. The stack does the wiring and the grants.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_route53 as route53
from constructs import Construct

from threetier.aws.app_bundle import app_bundle
from threetier.aws.constructs.app_secrets import AppSecrets
from threetier.aws.constructs.database import Database
from threetier.aws.constructs.dns import LoadBalancerRecord, hosted_zone, regional_certificate
from threetier.aws.constructs.load_balancer import LoadBalancer
from threetier.aws.constructs.network import Network
from threetier.aws.constructs.security import SecurityGroups
from threetier.aws.constructs.web_tier import WebTier
from threetier.aws.naming import uses_https
from threetier.aws.user_data import DEFAULT_MEDIA_ROOT, BootSettings
from threetier.errors import ThreetierError
from threetier.spec import Spec


class SystemStack(Stack):
    """Public attributes: network, security, secrets, database, load_balancer, web, dns_record (or None).

    `zone` is the edge stack's hosted zone when there is one (failover); otherwise the
    zone is imported or created here.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: Spec,
        zone: route53.IHostedZone | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, cross_region_references=True, **kwargs)
        retain = spec.environment.retain_data
        https = uses_https(spec)

        self.network = Network(
            self,
            "Network",
            network=spec.network,
            web_tier=spec.web.subnet_tier,
            retain_data=retain,
            log_retention_days=spec.monitoring.log_retention_days,
        )
        self.security = SecurityGroups(
            self,
            "Security",
            vpc=self.network.vpc,
            app_port=spec.web.app_port,
            allowed_cidrs=spec.load_balancer.allowed_cidrs,
            https=https,
        )
        self.secrets = AppSecrets(self, "Secrets", retain_data=retain)
        self.database = Database(
            self,
            "Database",
            database=spec.database,
            env_name=spec.env_name,
            vpc=self.network.vpc,
            subnets=self.network.selection(
                "isolated" if self.network.subnets["isolated"] else "private"
            ),
            security_group=self.security.db_sg,
            retain_data=retain,
        )

        # Storage (EFS, media bucket) slots in here: it needs security.web_sg and feeds the
        # web tier's BootSettings (extra_commands to mount, media_backend/root/bucket).

        self.zone: route53.IHostedZone | None = None
        certificate = None
        if spec.dns.domain:
            self.zone = zone or hosted_zone(self, spec.dns)
            certificate = regional_certificate(self, spec.dns, self.zone)

        self.load_balancer = LoadBalancer(
            self,
            "LoadBalancer",
            load_balancer=spec.load_balancer,
            vpc=self.network.vpc,
            subnets=self.network.selection("public"),
            security_group=self.security.alb_sg,
            app_port=spec.web.app_port,
            certificate=certificate,
            retain_data=retain,
        )
        self.load_balancer.alb.node.add_dependency(self.network.internet_connectivity)
        alb_name = self.load_balancer.alb.load_balancer_dns_name
        self.url = f"https://{spec.dns.domain}" if https else f"http://{alb_name}"

        if spec.web.runtime != "ec2":
            raise ThreetierError(
                f"web.runtime = {spec.web.runtime!r} is not wired into the AWS stacks yet",
                fix='set web.runtime = "ec2" in the parameters file',
            )
        bundle = app_bundle(self, "AppBundle")
        hosts = [alb_name] + ([spec.dns.domain] if spec.dns.domain else [])
        self.web = WebTier(
            self,
            "Web",
            web=spec.web,
            vpc=self.network.vpc,
            subnets=self.network.selection(spec.web.subnet_tier),
            azs=spec.web_azs,
            security_group=self.security.web_sg,
            boot=BootSettings(
                region=self.region,
                bundle_url=bundle.s3_object_url,
                app_port=spec.web.app_port,
                db_host=self.database.instance.db_instance_endpoint_address,
                db_port=self.database.instance.db_instance_endpoint_port,
                db_name=spec.database.name,
                db_secret_arn=self.database.secret.secret_arn,
                app_secret_arn=self.secrets.django_secret_key.secret_arn,
                allowed_hosts=hosts,
                csrf_trusted_origins=[self.url],
                secure_cookies=https,
                media_backend="filesystem",
                media_root=DEFAULT_MEDIA_ROOT,
                health_path=spec.load_balancer.health_check.path,
            ),
        )
        self.web.asg.attach_to_application_target_group(self.load_balancer.target_group)
        bundle.grant_read(self.web.role)
        self.database.secret.grant_read(self.web.role)
        self.secrets.django_secret_key.grant_read(self.web.role)

        self.dns_record: LoadBalancerRecord | None = None
        if spec.dns.domain and self.zone is not None:
            self.dns_record = LoadBalancerRecord(
                self,
                "Dns",
                zone=self.zone,
                domain=spec.dns.domain,
                alb=self.load_balancer.alb,
                health=spec.load_balancer.health_check,
                https=https,
                failover=spec.dns.failover,
            )

        CfnOutput(self, "Url", value=self.url, description="Where the system answers")
        CfnOutput(self, "LoadBalancerDnsName", value=alb_name)
        CfnOutput(
            self, "DatabaseEndpoint", value=self.database.instance.db_instance_endpoint_address
        )
        CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn)
