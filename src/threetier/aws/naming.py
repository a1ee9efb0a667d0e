"""Stack names and the regions they live in: one place, so the CLI, the app and the tests agree."""

from __future__ import annotations

from threetier.spec import Spec

# CloudFront only accepts certificates from us-east-1, so the sorry page's edge lives there.
EDGE_REGION = "us-east-1"


def system_stack_name(spec: Spec) -> str:
    """The regional stack: network, web tier, load balancer, database, DNS primary."""
    return f"{spec.project.name}-{spec.env_name}"


def edge_stack_name(spec: Spec) -> str:
    """The us-east-1 stack: hosted zone, sorry page (S3 + CloudFront), DNS secondary."""
    return f"{spec.project.name}-{spec.env_name}-edge"


def billing_stack_name(spec: Spec) -> str:
    """The small us-east-1 stack for the billing alarm when there is no edge stack."""
    return f"{spec.project.name}-{spec.env_name}-billing"


def has_edge(spec: Spec) -> bool:
    """DNS failover to the sorry page, or CloudFront in front of the ALB, needs a domain;
    without one there is no edge stack."""
    return bool(spec.dns.domain) and (spec.dns.failover or spec.dns.cloudfront)


def uses_https(spec: Spec) -> bool:
    """HTTPS needs a certificate, and a certificate needs a domain."""
    return bool(spec.dns.domain)
