"""The subnets `threetier init` lays out: one per tier (public, private, isolated) in each
AZ, carved in order from the start of the VPC's CIDR block.

The shipped files use /24s in 10.0.0.0/16 (seed 000's numbers, in seed 000's order); init
keeps the /24 size and the names (public-1a, private-1a, isolated-1a, ...) and numbers the
blocks tier by tier, AZ by AZ, so the layout reads at a glance and the rest of the VPC
stays free in one piece. A VPC too small for /24s gets smaller equal blocks, down to the
/27 an ALB's subnets need.

>>> subnets = lay_out_subnets(IPv4Network("10.20.0.0/16"), ["eu-west-1a", "eu-west-1b"], "eu-west-1")
>>> [(s.name, str(s.cidr)) for s in subnets][:3]
[('public-1a', '10.20.0.0/24'), ('public-1b', '10.20.1.0/24'), ('private-1a', '10.20.2.0/24')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network

from threetier.init.inputs import BadInputError
from threetier.init.regions import suffix

TIERS = ("public", "private", "isolated")
# What the shipped files use: 251 usable addresses per subnet (AWS keeps 5).
SUBNET_PREFIX = 24
# An ALB needs subnets of at least /27 (8 free addresses each); use it for every tier.
SMALLEST_PREFIX = 27

TIER_ROLES = {
    "public": "the load balancer and the NAT gateway(s)",
    "private": "the web servers (outbound through NAT)",
    "isolated": "the database: no route to the internet",
}


@dataclass(frozen=True)
class PlannedSubnet:
    name: str
    tier: str
    az: str
    cidr: IPv4Network


def subnet_prefix(vpc: IPv4Network, count: int) -> int:
    """The prefix length of `count` equal subnets in `vpc`: /24, or smaller blocks when the
    VPC cannot hold `count` /24s (the next power of two of `count` must fit)."""
    bits = (count - 1).bit_length()
    prefix = max(SUBNET_PREFIX, vpc.prefixlen + bits)
    if prefix > SMALLEST_PREFIX:
        room = 2 ** max(SMALLEST_PREFIX - vpc.prefixlen, 0) if vpc.prefixlen <= SMALLEST_PREFIX else 0
        need = SMALLEST_PREFIX - bits
        raise BadInputError(
            f"--vpc-cidr: {vpc} holds {room} subnets of /{SMALLEST_PREFIX} (the smallest an ALB "
            f"accepts), and {count} are needed (3 tiers x {count // len(TIERS)} AZs)",
            fix=f"use a /{need} or larger, e.g. a /16",
        )
    return prefix


def lay_out_subnets(vpc: IPv4Network, azs: Sequence[str], region: str) -> list[PlannedSubnet]:
    """Public, private and isolated subnets in every AZ of `azs`, in that order."""
    prefix = subnet_prefix(vpc, len(TIERS) * len(azs))
    blocks = vpc.subnets(new_prefix=prefix)
    return [
        PlannedSubnet(f"{tier}-{suffix(az, region)}", tier, az, next(blocks))
        for tier in TIERS
        for az in azs
    ]


def free_space(vpc: IPv4Network, subnets: Sequence[PlannedSubnet]) -> IPv4Network | None:
    """The first block of the subnets' size after them, when the VPC has one (for a comment)."""
    if not subnets:
        return None
    last = subnets[-1].cidr
    following = int(last.broadcast_address) + 1
    if following > int(vpc.broadcast_address):
        return None
    return IPv4Network((following, last.prefixlen))
