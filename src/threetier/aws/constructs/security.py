"""Security groups as a chain: internet → ALB → web → database, each only from the one before.

Seed 000's trap: a web SG that lets "my IP" in but not the ALB SG, so every target is
unhealthy. Here the chain is built from SG references, never addresses, and there is no
port 22 anywhere: operators use Session Manager.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from threetier.aws.nag import suppress

POSTGRES_PORT = 5432


class SecurityGroups(Construct):
    """`alb_sg` ← the allowed CIDRs on 80/443; `web_sg` ← `alb_sg` on the app port; `db_sg` ← `web_sg` on 5432.

    >>> security = SecurityGroups(stack, "Security", vpc=network.vpc, app_port=8000,
    ...                           allowed_cidrs=spec.load_balancer.allowed_cidrs, https=True)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        app_port: int,
        allowed_cidrs: Sequence[IPv4Network],
        https: bool,
        cloudfront_prefix_list: str | None = None,
    ) -> None:
        """`cloudfront_prefix_list` (CloudFront in front, threetier.aws.constructs.cdn): the ALB
        takes HTTPS from CloudFront's origin-facing addresses only, instead of the CIDRs."""
        super().__init__(scope, construct_id)
        self.alb_sg = ec2.SecurityGroup(
            self,
            "LoadBalancer",
            vpc=vpc,
            description="ALB: HTTP/HTTPS from the allowed CIDRs",
            allow_all_outbound=False,
        )
        self.web_sg = ec2.SecurityGroup(
            self,
            "Web",
            vpc=vpc,
            description="Web servers: the app port from the ALB only",
            # Outbound for packages (via NAT), Secrets Manager, S3 and Session Manager.
            allow_all_outbound=True,
        )
        self.db_sg = ec2.SecurityGroup(
            self,
            "Database",
            vpc=vpc,
            description="Database: PostgreSQL from the web servers only",
            allow_all_outbound=False,
        )

        ports = [80, 443] if https else [80]
        if cloudfront_prefix_list is not None:
            self.alb_sg.add_ingress_rule(
                ec2.Peer.prefix_list(cloudfront_prefix_list), ec2.Port.tcp(443),
                "HTTPS from CloudFront's origin-facing addresses only",
            )
        for cidr in [] if cloudfront_prefix_list is not None else allowed_cidrs:
            for port in ports:
                self.alb_sg.add_ingress_rule(
                    ec2.Peer.ipv4(str(cidr)),
                    ec2.Port.tcp(port),
                    f"HTTP{'S' if port == 443 else ''} from {cidr}",
                )
        self.alb_sg.add_egress_rule(self.web_sg, ec2.Port.tcp(app_port), "to the web servers")
        self.web_sg.add_ingress_rule(self.alb_sg, ec2.Port.tcp(app_port), "from the ALB only")
        self.db_sg.add_ingress_rule(
            self.web_sg, ec2.Port.tcp(POSTGRES_PORT), "PostgreSQL from the web servers"
        )

        suppress(
            self.alb_sg,
            "AwsSolutions-EC23",
            "The internet-facing ALB must accept 80/443 from spec.load_balancer.allowed_cidrs "
            "(default 0.0.0.0/0); nothing behind it is reachable except through it.",
        )
