"""A moto server for the real CDK CLI: `python tests/aws/cdk_moto_server.py -H 127.0.0.1 -p PORT`.

moto as it is, with its gaps on the CDK CLI's path closed, so that `cdk deploy` of the
whole system either reaches CREATE_COMPLETE with its outputs or fails visibly:

- moto executes a change set (what `cdk deploy` uses) without computing the stack's
  outputs, and when a resource fails it answers 500 and leaves the half-created stack
  "CREATE_COMPLETE" (the CLI then reports success): the outputs are computed, and a
  failure marks the stack ROLLBACK_COMPLETE with the error as its status reason;

- moto's RDS reads a Ref to a DB parameter group as the group object, not its name, and
  fails inside ExecuteChangeSet (the stack is left half-created but "CREATE_COMPLETE"):
  the name is passed instead, as CloudFormation does;
- moto's models lack some GetAtts CloudFormation answers (EFS `Arn`, the ALB's
  `CanonicalHostedZoneID` and `LoadBalancerFullName`, the target group's
  `TargetGroupFullName`): they are built from the resource as AWS builds them;
- moto's KMS reads a key's CloudFormation tags (Key/Value) as the KMS API's
  (TagKey/TagValue) and fails: they are translated;
- moto's CloudFormation skips the types it does not model (alarms, topic policies,
  secrets, ...), and then fails on any GetAtt that names one ("references undefined
  resource"): each gets a stand-in (Ref = a generated name, GetAtt = a placeholder ARN)
  that creates nothing, logged as "threetier-test: stand-in for <type> <logical id>";
- moto runs a Lambda-backed custom resource by invoking the Lambda in Docker and waits
  for its callback; without Docker the stack never completes. Each custom resource is
  answered SUCCESS at once with no data, and its type is logged as
  "threetier-test: custom resource <type> answered without running its Lambda" so the
  test can name what was not run (docs/aws.md lists it too).
"""

from __future__ import annotations

import sys
from typing import Any

from moto.cloudformation import custom_model, parsing
from moto.cloudformation import models as cloudformation_models
from moto.efs import models as efs_models
from moto.elbv2 import models as elbv2_models
from moto.kms import models as kms_models
from moto.rds import models as rds_models
from moto.server import main

ANSWERED = "threetier-test: custom resource {type} {logical_id} answered without running its Lambda"
STOOD_IN = "threetier-test: stand-in for {type} {logical_id}"
# The types whose Ref is their ARN in CloudFormation (IAM policies need ARNs).
REF_IS_ARN = {
    "AWS::SecretsManager::Secret",
    "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::AutoScaling::ScalingPolicy",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::CertificateManager::Certificate",
    "AWS::Lambda::LayerVersion",
    "AWS::CloudFront::Function",
}

_create_db_instance = rds_models.DBInstance.create_from_cloudformation_json.__func__
_create_key = kms_models.Key.create_from_cloudformation_json.__func__


def _db_instance(cls: type, resource_name: str, cloudformation_json: dict, *args: Any, **kwargs: Any) -> Any:
    properties = cloudformation_json.get("Properties", {})
    group = properties.get("DBParameterGroupName")
    if group is not None and not isinstance(group, str):
        properties["DBParameterGroupName"] = group.name
    return _create_db_instance(cls, resource_name, cloudformation_json, *args, **kwargs)


def _key(cls: type, resource_name: str, cloudformation_json: dict, *args: Any, **kwargs: Any) -> Any:
    properties = cloudformation_json.get("Properties", {})
    properties["Tags"] = [
        {"TagKey": t["Key"], "TagValue": t["Value"]} if "Key" in t else t for t in properties.get("Tags", [])
    ]
    return _create_key(cls, resource_name, cloudformation_json, *args, **kwargs)


def _custom_resource(
    cls: type, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs: Any
) -> custom_model.CustomModel:
    from moto.cloudformation import cloudformation_backends

    resource = custom_model.CustomModel(region_name, "answered", kwargs["LogicalId"], resource_name)
    stack = cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"])
    stack.add_custom_resource(resource)
    resource.set_data({})
    print(ANSWERED.format(type=kwargs["ResourceType"], logical_id=kwargs["LogicalId"]), file=sys.stderr, flush=True)
    return resource


# The ALBs' Route 53 zone per region (ELB endpoints table), for alias records.
ALB_ZONES = {"ap-northeast-1": "Z14GRHDCWA56QT", "us-east-1": "Z35SXDOTRQ7X7K"}


def _attributes(cls: type, built: dict[str, Any]) -> None:
    """Answer the GetAtts `built` names ({attribute: resource → value}) before moto's own."""
    original = getattr(cls, "get_cfn_attribute", None)

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name in built:
            return built[attribute_name](self)
        if original is None:
            raise NotImplementedError(attribute_name)
        return original(self, attribute_name)

    cls.get_cfn_attribute = get_cfn_attribute
    cls.has_cfn_attr = classmethod(lambda _cls, attr: True)


_attributes(efs_models.FileSystem, {"Arn": lambda fs: fs.file_system_arn, "FileSystemId": lambda fs: fs.file_system_id})
_attributes(
    efs_models.AccessPoint, {"Arn": lambda ap: ap.access_point_arn, "AccessPointId": lambda ap: ap.access_point_id}
)
_attributes(
    elbv2_models.FakeLoadBalancer,
    {
        "CanonicalHostedZoneID": lambda lb: ALB_ZONES.get(lb.arn.split(":")[3], ALB_ZONES["us-east-1"]),
        "LoadBalancerFullName": lambda lb: lb.arn.split(":loadbalancer/", 1)[1],
        "SecurityGroups": lambda lb: list(lb.security_groups),
    },
)
_attributes(
    elbv2_models.FakeTargetGroup,
    {
        "TargetGroupFullName": lambda tg: tg.arn.split(":")[5],
        "TargetGroupName": lambda tg: tg.name,
        "LoadBalancerArns": lambda tg: list(tg.load_balancer_arns),
    },
)
class StandIn:
    """A resource moto's CloudFormation does not model: nothing is created, references resolve.
    (Not a CloudFormationModel: those register themselves as a moto service's models.)"""

    def __init__(self, resource_type: str, name: str, account_id: str, region_name: str) -> None:
        _, service, kind = resource_type.split("::")
        self.resource_type = resource_type
        self.name = name
        self.arn = f"arn:aws:{service.lower()}:{region_name}:{account_id}:{kind.lower()}/{name}"

    @property
    def physical_resource_id(self) -> str:
        return self.arn if self.resource_type in REF_IS_ARN else self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn if attribute_name.endswith("Arn") else f"{self.name}-{attribute_name}"

    def delete(self, account_id: str, region_name: str) -> None:
        pass

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs: Any
    ) -> StandIn:
        print(STOOD_IN.format(type=kwargs["ResourceType"], logical_id=kwargs["LogicalId"]), file=sys.stderr, flush=True)
        return cls(kwargs["ResourceType"], resource_name, account_id, region_name)


_resource_class = parsing.resource_class_from_type


def _resource_class_or_stand_in(resource_type: str) -> type:
    return _resource_class(resource_type) or StandIn


parsing.resource_class_from_type = _resource_class_or_stand_in

_execute_change_set = cloudformation_models.CloudFormationBackend.execute_change_set


def _execute_change_set_visibly(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = self.change_sets.get(change_set_name) or next(
        (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None
    )
    try:
        _execute_change_set(self, change_set_name, stack_name)
    except Exception as exc:  # noqa: BLE001 - any failure of moto's, shown as CloudFormation shows one
        if change_set is None:
            raise
        failed = "ROLLBACK_COMPLETE" if change_set.change_set_type == "CREATE" else "UPDATE_ROLLBACK_COMPLETE"
        change_set.execution_status = "EXECUTE_FAILED"
        change_set.stack._add_stack_event(failed, resource_status_reason=f"moto: {type(exc).__name__}: {exc}")
        change_set.stack.status = failed
        print(f"threetier-test: change set failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return
    stack = change_set.stack
    stack._parse_template()  # a CREATE change set's stack was made with an empty template
    stack.output_map = stack._create_output_map()


cloudformation_models.CloudFormationBackend.execute_change_set = _execute_change_set_visibly
rds_models.DBInstance.create_from_cloudformation_json = classmethod(_db_instance)
kms_models.Key.create_from_cloudformation_json = classmethod(_key)
custom_model.CustomModel.create_from_cloudformation_json = classmethod(_custom_resource)

if __name__ == "__main__":
    main(sys.argv[1:])
