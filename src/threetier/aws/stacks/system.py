"""The regional stack: the seeds' whole system in spec.project.region.

Construct order is dependency order: network → security groups → secrets → database →
storage + app logs → load balancer → web tier (EC2 or Fargate) → DNS → monitoring →
people's access → audit trail. The stack does the wiring and the grants.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from constructs import Construct

from threetier.apps.identity import AppSource
from threetier.aws.app_bundle import app_bundle
from threetier.aws.constructs.app_secrets import AppSecrets
from threetier.aws.constructs.cdn import origin_facing_prefix_list, origin_name
from threetier.aws.constructs.audit import AuditTrail
from threetier.aws.constructs.containers import (
    AppSettings,
    FargateWebTier,
    image_revision,
    service_hold,
)
from threetier.aws.constructs.database import Database
from threetier.aws.constructs.dns import LoadBalancerRecord, hosted_zone, regional_certificate
from threetier.aws.constructs.iam import AccessControl, AppAccessPolicy
from threetier.aws.constructs.load_balancer import LoadBalancer
from threetier.aws.constructs.monitoring import Monitoring, app_log_group, auto_scaling_group_cpu
from threetier.aws.constructs.network import Network
from threetier.aws.constructs.security import SecurityGroups
from threetier.aws.constructs.storage import SharedStorage
from threetier.aws.constructs.web_tier import WebTier, bundle_architecture
from threetier.aws.naming import uses_https
from threetier.aws.user_data import DEFAULT_MEDIA_ROOT, BootSettings
from threetier.spec import Spec


class SystemStack(Stack):
    """Public attributes: network, security, secrets, database, storage, app_logs,
    load_balancer, web (EC2 `WebTier`) or fargate (`FargateWebTier`) — the other is None —,
    dns_record (or None), monitoring, access, audit.

    With a domain the hosted zone is imported by its id (`dns.hosted_zone_id`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: Spec,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.spec = spec
        retain = spec.environment.retain_data
        https = uses_https(spec)
        fargate = spec.web.runtime == "fargate"
        # CloudFront in front of the ALB (threetier.aws.constructs.cdn; the edge stack holds it).
        cloudfront = bool(spec.dns.domain and spec.dns.cloudfront)
        origin = origin_name(spec.dns.domain) if cloudfront and spec.dns.domain else None

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
            cloudfront_prefix_list=origin_facing_prefix_list(self, "CloudFrontOriginFacing") if cloudfront else None,
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
            identifier=f"{construct_id}-db",
            log_retention_days=spec.monitoring.log_retention_days,
        )
        self.storage = SharedStorage(
            self,
            "Storage",
            storage=spec.storage,
            vpc=self.network.vpc,
            subnets=self.network.selection(spec.web.subnet_tier),
            web_security_group=self.security.web_sg,
            retain_data=retain,
        )
        self.app_logs = app_log_group(
            self,
            "AppLogs",
            retention_days=spec.monitoring.log_retention_days,
            retain_data=retain,
        )

        self.zone: route53.IHostedZone | None = None
        certificate = None
        if spec.dns.domain:
            self.zone = hosted_zone(self, spec.dns)
            certificate = regional_certificate(self, spec.dns, self.zone, also=[origin] if origin else None)

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
            target_type=elbv2.TargetType.IP if fargate else elbv2.TargetType.INSTANCE,
            # With a domain only the system's own names reach the app (an unknown Host: 404).
            host_names=[spec.dns.domain, *([origin] if origin else [])] if spec.dns.domain else None,
            behind_cloudfront=cloudfront,
        )
        self.load_balancer.alb.node.add_dependency(self.network.internet_connectivity)
        alb_name = self.load_balancer.alb.load_balancer_dns_name
        self.url = f"https://{spec.dns.domain}" if https else f"http://{alb_name}"
        self.hosts = [alb_name] + ([spec.dns.domain] if spec.dns.domain else []) + ([origin] if origin else [])

        self.web: WebTier | None = None
        self.fargate: FargateWebTier | None = None
        if fargate:
            self.fargate = self._fargate_web_tier()
            web_cpu: cloudwatch.Metric = self.fargate.service.metric_cpu_utilization()
        else:
            self.web = self._ec2_web_tier()
            web_cpu = auto_scaling_group_cpu(self.web.asg)

        self.dns_record: LoadBalancerRecord | None = None
        self.origin_record: route53.ARecord | None = None
        if origin and self.zone is not None:
            # CloudFront's primary origin; the domain itself aliases the distribution (edge stack).
            self.origin_record = route53.ARecord(
                self, "OriginRecord", zone=self.zone, record_name=origin,
                target=route53.RecordTarget.from_alias(route53_targets.LoadBalancerTarget(self.load_balancer.alb)),
            )
        elif spec.dns.domain and self.zone is not None:
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

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            monitoring=spec.monitoring,
            web_cpu=web_cpu,
            load_balancer=self.load_balancer.alb,
            target_group=self.load_balancer.target_group,
            database=self.database.instance,
        )
        self.access = AccessControl(
            self, "Access", name_prefix=construct_id, env_name=spec.env_name
        )
        media_bucket = self.storage.media_bucket
        self.audit = AuditTrail(
            self,
            "Audit",
            data_event_buckets=[media_bucket] if media_bucket is not None else [],
            retain_data=retain,
        )
        self._outputs()

    def _app_settings(self) -> dict[str, Any]:
        """What both runtimes tell the webapp (its environment contract), minus the secrets."""
        bucket = self.storage.media_bucket
        return {
            "db_host": self.database.instance.db_instance_endpoint_address,
            "db_port": self.database.instance.db_instance_endpoint_port,
            "db_name": self.spec.database.name,
            # The seed's server_name trap: the names the ALB and the domain send as Host.
            "allowed_hosts": self.hosts,
            "csrf_trusted_origins": [self.url],
            "secure_cookies": uses_https(self.spec),
            "media_backend": self.spec.storage.media_backend,
            "media_bucket": bucket.bucket_name if bucket is not None else "",
        }

    def _ec2_web_tier(self) -> WebTier:
        spec = self.spec
        bundle = app_bundle(self, "AppBundle", architecture=bundle_architecture(spec.web.instance_type),
                            app=AppSource.of(spec))
        web = WebTier(
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
                db_secret_arn=self.database.app_user_secret.secret_arn,
                app_secret_arn=self.secrets.django_secret_key.secret_arn,
                master_secret_arn=self.database.secret.secret_arn,
                media_root=DEFAULT_MEDIA_ROOT,
                health_path=spec.load_balancer.health_check.path,
                # EFS at the media path, in /etc/fstab: mounted at boot and after every reboot.
                extra_commands=self.storage.mount_commands(mount_point=DEFAULT_MEDIA_ROOT),
                log_group=self.app_logs.log_group_name,
                # The parameters' [app]: the bundled registry (none of these), or the user's app.
                **({} if spec.app.bundled else {
                    "app_wsgi": spec.app.wsgi_callable() or "", "app_settings": spec.app.settings or "",
                    "app_migrate": spec.app.migrate, "app_collectstatic": spec.app.collectstatic,
                    "app_health_path": spec.app.health_path or "",
                }),
                instance_type=spec.web.instance_type,
                deregistration_delay_seconds=spec.load_balancer.deregistration_delay_seconds,
                **self._app_settings(),
            ),
            # The web servers read their bundle object only; the master secret is the
            # one-off migrator's alone (WebTier grants both).
            bundle=bundle,
            master_secret=self.database.secret,
            app_secrets=[self.database.app_user_secret, self.secrets.django_secret_key],
        )
        web.asg.attach_to_application_target_group(self.load_balancer.target_group)
        # The instance role: this app's secrets, bucket, file system and log group, by ARN;
        # never the master secret (gunicorn only ever gets the app role's).
        self.web_access = AppAccessPolicy(
            self,
            "WebAccess",
            role=web.role,
            storage=self.storage,
            secrets=[self.database.app_user_secret, self.secrets.django_secret_key],
            log_groups=[self.app_logs],
        )
        return web

    def _fargate_web_tier(self) -> FargateWebTier:
        spec = self.spec
        tier = FargateWebTier(
            self,
            "Fargate",
            web=spec.web,
            vpc=self.network.vpc,
            subnets=self.network.selection(spec.web.subnet_tier),
            security_group=self.security.web_sg,
            target_group=self.load_balancer.target_group,
            log_group=self.app_logs,
            app=AppSettings(**self._app_settings()),
            db_secret=self.database.app_user_secret,
            master_secret=self.database.secret,
            app_secret=self.secrets.django_secret_key,
            storage=self.storage,
            revision=image_revision(self),
            hold=service_hold(self),
            user_app=spec.app,
            user_app_source=AppSource.of(spec),
        )
        for name, value in tier.migration_outputs.items():
            CfnOutput(self, name, value=value)
        return tier

    def _outputs(self) -> None:
        CfnOutput(self, "Url", value=self.url, description="Where the system answers")
        CfnOutput(self, "LoadBalancerDnsName", value=self.load_balancer.alb.load_balancer_dns_name)
        CfnOutput(self, "TargetGroupArn", value=self.load_balancer.target_group.target_group_arn)
        if self.dns_record is not None and self.dns_record.health_check is not None:
            CfnOutput(
                self, "HealthCheckId", value=self.dns_record.health_check.attr_health_check_id
            )
        CfnOutput(
            self, "DatabaseEndpoint", value=self.database.instance.db_instance_endpoint_address
        )
        CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn)
        CfnOutput(self, "AppDatabaseSecretArn", value=self.database.app_user_secret.secret_arn)
        CfnOutput(self, "AppLogGroup", value=self.app_logs.log_group_name)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)
        if self.storage.media_bucket is not None:
            CfnOutput(self, "MediaBucket", value=self.storage.media_bucket.bucket_name)
        if self.storage.file_system is not None:
            CfnOutput(self, "MediaFileSystem", value=self.storage.file_system.file_system_id)
