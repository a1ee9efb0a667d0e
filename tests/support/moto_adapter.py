"""Make a synthesized template deployable on moto's CloudFormation, and say what that cost.

moto creates the resource types it models; the others (Secrets Manager, ACM, CloudFront,
S3 bucket policies, SG egress rules, scaling policies, ...) it cannot, and CDK's Lambda-
backed custom resources (sorry-page upload, bucket auto-delete, cross-region exports)
would need Docker to run. Those resources are dropped, and every reference to one is
replaced by a value the test chooses (e.g. a certificate ARN it created in moto's ACM)
or by a readable placeholder. The dropped types are returned, so the test can pin them
and docs/aws.md can list what the moto run does not prove.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from moto.cloudformation.parsing import get_model_map


# CloudFormation returns the same value for these GetAtts as for Ref; moto only has Ref.
_GETATT_SAME_AS_REF = {("AWS::Route53::HealthCheck", "HealthCheckId")}
# GetAtts moto's model does not answer, rebuilt from the Ref the way AWS builds them.
_EFS_ARN = "arn:aws:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:%s/${%s}"
_GETATT_FROM_REF: dict[tuple[str, str], Any] = {
    ("AWS::EFS::FileSystem", "Arn"): lambda lid: {"Fn::Sub": _EFS_ARN % ("file-system", lid)},
    ("AWS::EFS::AccessPoint", "Arn"): lambda lid: {"Fn::Sub": _EFS_ARN % ("access-point", lid)},
    # arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID → app/NAME/ID
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerFullName"): lambda lid: {
        "Fn::Select": [1, {"Fn::Split": [":loadbalancer/", {"Ref": lid}]}]
    },
    # arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID → targetgroup/NAME/ID
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "TargetGroupFullName"): lambda lid: {
        "Fn::Select": [5, {"Fn::Split": [":", {"Ref": lid}]}]
    },
}
# Properties moto's CloudFormation mishandles (KMS: it reads CloudFormation's Key/Value tags
# as the KMS API's TagKey/TagValue and fails); left out, the resource is still created.
_PROPERTIES_LEFT_OUT = {"AWS::KMS::Key": {"Tags"}}
_REF_RESOLVES_TO_OBJECT = {"AWS::RDS::DBParameterGroup"}
_LEAVE_OUT = object()


def unsupported(resource_type: str) -> bool:
    """True for what moto's CloudFormation cannot create (or could only by running a Lambda)."""
    if resource_type.startswith("Custom::") or resource_type.startswith("AWS::Lambda::"):
        return True
    return resource_type not in get_model_map()


def adapt_for_moto(
    template: dict[str, Any],
    *,
    substitutes: dict[str, str] | None = None,
    attributes: dict[tuple[str, str], str] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(deployable template, {dropped logical id: type}).

    `substitutes` maps a dropped resource TYPE to the value its Ref/GetAtt should become;
    `attributes` maps (TYPE, attribute) of a kept resource whose GetAtt moto does not
    implement to a value.
    """
    substitutes = substitutes or {}
    attributes = attributes or {}
    types = {lid: r["Type"] for lid, r in template["Resources"].items()}
    adapted = copy.deepcopy(template)
    resources = adapted["Resources"]
    dropped = {lid: r["Type"] for lid, r in resources.items() if unsupported(r["Type"])}
    for logical_id in dropped:
        del resources[logical_id]
    # CDK's bootstrap-version rule needs SSM lookups moto's Rules support does not do.
    adapted.pop("Rules", None)

    # moto resolves a Ref to these types to its model object, not to the name, and then
    # fails on it: the reference is left out (the resource itself is still created).
    unnamed = {lid for lid, r in resources.items() if r["Type"] in _REF_RESOLVES_TO_OBJECT}

    def value_for(logical_id: str, attribute: str | None = None) -> str:
        kind = dropped[logical_id]
        if kind in substitutes:
            return substitutes[kind]
        if attribute is None or attribute.endswith("Arn"):
            # Refs of most types are ARNs, and IAM policies insist on the format.
            service = kind.split("::")[1].lower()
            return f"arn:aws:{service}:::moto-dropped/{logical_id}"
        return f"moto-dropped-{logical_id}-{attribute}".lower()

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in dropped:
                return value_for(node["Ref"])
            if set(node) == {"Ref"} and node["Ref"] in unnamed:
                return _LEAVE_OUT
            if set(node) == {"Fn::GetAtt"}:
                target, attribute = node["Fn::GetAtt"][:2]
                if target in dropped:
                    return value_for(target, attribute)
                if (types[target], attribute) in _GETATT_SAME_AS_REF:
                    return {"Ref": target}
                if (types[target], attribute) in _GETATT_FROM_REF:
                    return _GETATT_FROM_REF[(types[target], attribute)](target)
                if (types[target], attribute) in attributes:
                    return attributes[(types[target], attribute)]
            if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
                return {"Fn::Sub": _sub_text(node["Fn::Sub"], dropped, value_for)}
            rewritten = {key: rewrite(value) for key, value in node.items()}
            return {key: value for key, value in rewritten.items() if value is not _LEAVE_OUT}
        if isinstance(node, list):
            return [value for value in map(rewrite, node) if value is not _LEAVE_OUT]
        return node

    for resource in resources.values():
        for name in _PROPERTIES_LEFT_OUT.get(resource["Type"], ()):
            resource.get("Properties", {}).pop(name, None)
        for key in ("Properties", "Metadata"):
            if key in resource:
                resource[key] = rewrite(resource[key])
        depends = resource.get("DependsOn")
        if isinstance(depends, str):
            depends = [depends]
        if depends is not None:
            kept = [d for d in depends if d not in dropped]
            if kept:
                resource["DependsOn"] = kept
            else:
                resource.pop("DependsOn")
    if "Outputs" in adapted:
        adapted["Outputs"] = rewrite(adapted["Outputs"])
    return adapted, dropped


def _sub_text(text: str, dropped: dict[str, str], value_for) -> str:
    def replace(match: re.Match) -> str:
        name, _, attribute = match.group(1).partition(".")
        return value_for(name, attribute or None) if name in dropped else match.group(0)

    return re.sub(r"\$\{([A-Za-z0-9.]+)\}", replace, text)
