"""cdk-nag acknowledgments ("suppressions"), each with its reason next to the resource it excuses.

cdk-nag 3 uses CDK's own `Validations.of(construct).acknowledge(...)`; an acknowledgment
covers the construct and its children. Findings that name a detail (IAM5's wildcards)
are acknowledged one by one as `RULE[detail]`, so a new wildcard is never waved through.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, CfnElement, Stack, Token, Validations
from constructs import IConstruct


def suppress(
    construct: IConstruct, rule: str, reason: str, *, applies_to: Sequence[str] | None = None
) -> None:
    """Acknowledge one rule on `construct` (and its children), saying why.

    >>> suppress(alb_sg, "AwsSolutions-EC23", "the load balancer is public by design")
    >>> suppress(role, "AwsSolutions-IAM5", "CDK grant on one bucket", applies_to=["Action::s3:List*"])
    """
    # Validations ids name their plugin: "AwsSolutions::AwsSolutions-EC23[detail]".
    plugin = f"{rule.split('-', 1)[0]}::" if rule.startswith("AwsSolutions-") else ""
    ids = (
        [f"{plugin}{rule}[{detail}]" for detail in applies_to]
        if applies_to
        else [f"{plugin}{rule}"]
    )
    Validations.of(construct).acknowledge(*(Acknowledgment(id=i, reason=reason) for i in ids))


def cdk_provider(stack: Stack, id_prefix: str) -> IConstruct | None:
    """A CDK-managed singleton (e.g. `Custom::CDKBucketDeployment…`) that lives at stack level."""
    for child in stack.node.children:
        if child.node.id.startswith(id_prefix):
            return child
    return None


def asset_bucket_objects(stack: Stack) -> str:
    """The CDK asset bucket's objects as cdk-nag spells them in an IAM5 finding."""
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return f"Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-{account}-{stack.region}/*"


def logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of `construct`'s resource, as findings spell it."""
    stack = Stack.of(construct)
    element = construct if isinstance(construct, CfnElement) else construct.node.default_child
    return stack.resolve(stack.get_logical_id(element))  # type: ignore[arg-type]
