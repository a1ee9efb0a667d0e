"""The internet-facing ALB, its target group and listeners.

With a certificate: HTTPS on 443 (TLS 1.2+) and HTTP 80 redirecting to it. Without one:
plain HTTP on 80 (and `threetier check` warns). With a domain the HTTPS listener forwards
only the system's own names (a host-header rule: the domain, the ALB's DNS name that
Route 53's health check sends, and with CloudFront its origin name); any other Host gets
the default action, a fixed 404, as the twin's Caddy answers it. HTTPS answers carry HSTS
(the listener's response-header attribute) and no `Server: awselb/2.0`. The health check is the parameters'
(path, interval, timeout, thresholds) — the same values the local twin's Caddy uses.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from threetier import spec as model
from threetier.aws.constructs.buckets import private_bucket
from threetier.aws.nag import suppress

HSTS_VALUE = "max-age=31536000"  # the app's own and the twin's (threetier.local.caddy)
UNKNOWN_HOST_STATUS = 404


class LoadBalancer(Construct):
    """`alb`, `target_group`, `listener` (the one that forwards) and `redirect_listener` (or None).

    >>> lb = LoadBalancer(stack, "LoadBalancer", load_balancer=spec.load_balancer, vpc=network.vpc,
    ...                   subnets=network.selection("public"), security_group=security.alb_sg,
    ...                   app_port=8000, certificate=None, retain_data=False)
    >>> web.asg.attach_to_application_target_group(lb.target_group)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        load_balancer: model.LoadBalancer,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        app_port: int,
        certificate: acm.ICertificate | None,
        retain_data: bool,
        target_type: elbv2.TargetType = elbv2.TargetType.INSTANCE,
        host_names: list[str] | None = None,
        behind_cloudfront: bool = False,
    ) -> None:
        """`host_names`: the names the HTTPS listener forwards (the ALB's own DNS name is
        added); None forwards every Host. `behind_cloudfront`: keep CloudFront's
        X-Forwarded-For as it came (only CloudFront can connect)."""
        super().__init__(scope, construct_id)
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            vpc_subnets=subnets,
            internet_facing=True,
            security_group=security_group,
            drop_invalid_header_fields=True,
        )
        if behind_cloudfront:
            self.alb.set_attribute("routing.http.xff_header_processing.mode", "preserve")
        health = load_balancer.health_check
        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "Targets",
            vpc=vpc,
            port=app_port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            # INSTANCE for the Auto Scaling group; IP for Fargate tasks (they register by address).
            target_type=target_type,
            deregistration_delay=Duration.seconds(load_balancer.deregistration_delay_seconds),
            health_check=elbv2.HealthCheck(
                path=health.path,
                interval=Duration.seconds(health.interval_seconds),
                timeout=Duration.seconds(health.timeout_seconds),
                healthy_threshold_count=health.healthy_threshold,
                unhealthy_threshold_count=health.unhealthy_threshold,
                # Only 200: a redirect or a login page is not "healthy" (seeds 002, 004).
                healthy_http_codes="200",
            ),
        )

        self.redirect_listener: elbv2.ApplicationListener | None = None
        if certificate is not None:
            self.listener = self.alb.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_certificate_manager(certificate)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,  # TLS 1.2 and 1.3 only
                open=False,  # the security group already says who may connect
                **self._forwarding(host_names),
            )
            self.listener.set_attribute("routing.http.response.strict_transport_security.header_value", HSTS_VALUE)
            self.listener.set_attribute("routing.http.response.server.enabled", "false")
            if host_names is not None:
                self.listener.add_target_groups(
                    "OwnNames",
                    priority=10,
                    conditions=[elbv2.ListenerCondition.host_headers(
                        [*host_names, self.alb.load_balancer_dns_name])],
                    target_groups=[self.target_group],
                )
            self.redirect_listener = self.alb.add_listener(
                "HttpRedirect",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                default_action=elbv2.ListenerAction.redirect(
                    protocol="HTTPS", port="443", permanent=True
                ),
                open=False,
            )
        else:
            self.listener = self.alb.add_listener(
                "Http",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                default_target_groups=[self.target_group],
                open=False,
            )

        self.access_logs_bucket: s3.Bucket | None = None
        if load_balancer.access_logs:
            # S3-managed encryption (the recipe's default): ALB access logs support no other.
            self.access_logs_bucket = private_bucket(
                self,
                "AccessLogs",
                retain_data=retain_data,
                expire_after=Duration.days(90),
                no_access_logs_because="This bucket receives the ALB's access logs; logging access to "
                "the log bucket itself would need yet another bucket.",
            )
            self.alb.log_access_logs(self.access_logs_bucket, prefix="alb")
        else:
            suppress(
                self.alb,
                "AwsSolutions-ELB2",
                "spec.load_balancer.access_logs is false in this environment (cost); "
                "prod.toml turns them on.",
            )

    def _forwarding(self, host_names: list[str] | None) -> dict:
        if host_names is None:
            return {"default_target_groups": [self.target_group]}
        return {"default_action": elbv2.ListenerAction.fixed_response(
            UNKNOWN_HOST_STATUS, content_type="text/plain", message_body="unknown host")}
