"""The VPC exactly as the parameters draw it: every subnet's CIDR and AZ is spec.network.subnets.

`ec2.Vpc` allocates CIDRs itself, so the VPC is built from its parts (L1 VPC, internet
gateway, L2 `PublicSubnet`/`PrivateSubnet` with their route tables) and then imported as
an `ec2.IVpc` so the web tier, load balancer and database take ordinary `SubnetSelection`s.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from threetier import spec as model
from threetier.aws.nag import suppress
from threetier.aws.retention import log_retention


class Network(Construct):
    """VPC, subnets per tier, internet gateway, NAT gateways and (optionally) flow logs.

    >>> network = Network(stack, "Network", network=spec.network, web_tier="private",
    ...                   retain_data=False, log_retention_days=30)
    >>> network.selection("isolated")   # the database's subnets
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: model.Network,
        web_tier: str,
        retain_data: bool,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.cfn_vpc = ec2.CfnVPC(
            self,
            "Vpc",
            cidr_block=str(network.vpc_cidr),
            enable_dns_hostnames=True,  # seed 000: RDS and the ALB hand out DNS names
            enable_dns_support=True,
        )
        Tags.of(self.cfn_vpc).add("Name", construct_id)
        gateway = ec2.CfnInternetGateway(self, "InternetGateway")
        self.gateway_attachment = ec2.CfnVPCGatewayAttachment(
            self,
            "InternetGatewayAttachment",
            vpc_id=self.cfn_vpc.ref,
            internet_gateway_id=gateway.ref,
        )

        self.subnets: dict[str, list[ec2.Subnet]] = {"public": [], "private": [], "isolated": []}
        for subnet in sorted(network.subnets_of("public"), key=lambda s: s.az):
            public = ec2.PublicSubnet(
                self,
                f"Subnet-{subnet.name}",
                availability_zone=subnet.az,
                cidr_block=str(subnet.cidr),
                vpc_id=self.cfn_vpc.ref,
                # Only seed 000's layout (web servers in public subnets) needs public IPs.
                map_public_ip_on_launch=web_tier == "public",
            )
            public.add_default_internet_route(gateway.ref, self.gateway_attachment)
            self._name(public, subnet)
            self.subnets["public"].append(public)

        # NAT count is a cost choice (spec.network.nat_gateways): one per AZ survives an AZ
        # outage, one is cheaper, none is fine when the web servers sit in public subnets.
        self.nat_gateways: dict[str, ec2.CfnNatGateway] = {}
        for public in self.subnets["public"][: network.nat_gateways]:
            self.nat_gateways[public.availability_zone] = public.add_nat_gateway()

        for tier in ("private", "isolated"):
            for subnet in sorted(network.subnets_of(tier), key=lambda s: s.az):
                private = ec2.PrivateSubnet(
                    self,
                    f"Subnet-{subnet.name}",
                    availability_zone=subnet.az,
                    cidr_block=str(subnet.cidr),
                    vpc_id=self.cfn_vpc.ref,
                )
                if tier == "private" and self.nat_gateways:
                    nat = self.nat_gateways.get(subnet.az) or next(iter(self.nat_gateways.values()))
                    private.add_default_nat_route(nat.ref)
                self._name(private, subnet)
                self.subnets[tier].append(private)

        self.vpc: ec2.IVpc = ec2.Vpc.from_vpc_attributes(
            self, "Imported", **self._vpc_attributes(network)
        )

        if not network.flow_logs:
            suppress(
                self.cfn_vpc,
                "AwsSolutions-VPC7",
                "spec.network.flow_logs is false in this environment (cost); prod.toml turns them on.",
            )
        else:
            log_group = logs.LogGroup(
                self,
                "FlowLogGroup",
                retention=log_retention(log_retention_days),
                removal_policy=RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY,
            )
            ec2.FlowLog(
                self,
                "FlowLog",
                resource_type=ec2.FlowLogResourceType.from_vpc(self.vpc),
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(log_group),
                traffic_type=ec2.FlowLogTrafficType.ALL,
            )

    def selection(self, tier: str) -> ec2.SubnetSelection:
        """The subnets of one tier, for any construct that takes `vpc_subnets`."""
        return ec2.SubnetSelection(subnets=list(self.subnets[tier]))

    @property
    def internet_connectivity(self) -> ec2.CfnVPCGatewayAttachment:
        """Depend on this before anything public (the ALB) is created."""
        return self.gateway_attachment

    def _vpc_attributes(self, network: model.Network) -> dict:
        azs = network.azs
        attributes: dict = {
            "vpc_id": self.cfn_vpc.ref,
            "vpc_cidr_block": self.cfn_vpc.attr_cidr_block,
            "availability_zones": azs,
        }
        # Subnet lists only import cleanly when a tier has exactly one subnet per AZ (the
        # import pairs them by position); selections by explicit subnets work regardless.
        for tier, subnets in self.subnets.items():
            if [s.availability_zone for s in subnets] == azs:
                attributes[f"{tier}_subnet_ids"] = [s.subnet_id for s in subnets]
                attributes[f"{tier}_subnet_route_table_ids"] = [
                    s.route_table.route_table_id for s in subnets
                ]
                attributes[f"{tier}_subnet_ipv4_cidr_blocks"] = [s.ipv4_cidr_block for s in subnets]
        return attributes

    @staticmethod
    def _name(subnet: ec2.Subnet, described: model.Subnet) -> None:
        Tags.of(subnet).add("Name", described.name)
        Tags.of(subnet).add("threetier:tier", described.tier)
        suppress(
            subnet,
            "CloudFormation-Validate::W3010",
            "The AZs are the parameters' (spec.network.subnets): explicit so synth needs no "
            "account lookup and the twin, the docs and AWS name the same zones.",
        )
