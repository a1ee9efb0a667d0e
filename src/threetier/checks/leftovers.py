"""What `threetier destroy` leaves billing: resources CloudFormation keeps on delete, and
what services create outside the template (RDS log groups)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from threetier.checks.template_text import flatten

RETAINING_POLICIES = {"Retain", "Snapshot", "RetainExceptOnCreate"}
# What a kept resource of each type goes on billing (types that cost nothing when kept are ignored).
BILLING_WHEN_KEPT = {
    "AWS::S3::Bucket": "bucket kept with its objects: storage bills until emptied and deleted",
    "AWS::EFS::FileSystem": "file system kept: storage bills per GB-month",
    "AWS::KMS::Key": "key kept: 1 USD per month until scheduled for deletion",
    "AWS::SecretsManager::Secret": "secret kept: 0.40 USD per month until deleted",
    "AWS::Logs::LogGroup": "log group kept: log storage bills per GB",
    "AWS::RDS::DBInstance": "database kept running",
    "AWS::EC2::Volume": "volume kept: storage bills per GB-month",
}


@dataclass(frozen=True)
class Leftover:
    """Something `threetier destroy` leaves behind that can keep billing."""

    what: str
    logical_id: str
    why: str


def still_billing_after_destroy(templates: Mapping[str, dict]) -> list[Leftover]:
    """Resources CloudFormation keeps on delete (DeletionPolicy Retain/Snapshot), plus what
    services create outside the template (RDS log groups)."""
    leftovers: list[Leftover] = []
    for template in templates.values():
        # A stack that creates the RDS log group itself (named, before the instance) deletes it.
        rds_log_group_in_stack = any(
            r.get("Type") == "AWS::Logs::LogGroup"
            and "/aws/rds/instance/" in flatten(r.get("Properties", {}).get("LogGroupName", ""))
            for r in template.get("Resources", {}).values()
        )
        for logical_id, resource in template.get("Resources", {}).items():
            type_name = resource.get("Type", "")
            policy = resource.get("DeletionPolicy")
            if policy in RETAINING_POLICIES and (
                policy == "Snapshot" or type_name in BILLING_WHEN_KEPT
            ):
                leftovers.append(
                    Leftover(type_name, logical_id, _leftover_reason(type_name, policy))
                )
            if (
                type_name == "AWS::RDS::DBInstance"
                and resource.get("Properties", {}).get("EnableCloudwatchLogsExports")
                and not rds_log_group_in_stack
            ):
                leftovers.append(
                    Leftover(
                        "AWS::Logs::LogGroup",
                        logical_id,
                        "RDS creates /aws/rds/instance/<id>/postgresql itself; it stays (log storage) until deleted",
                    )
                )
    return leftovers


def _leftover_reason(type_name: str, policy: str) -> str:
    if policy == "Snapshot":
        return "a final snapshot is kept: snapshot storage bills until you delete it"
    return BILLING_WHEN_KEPT.get(type_name, "kept on delete")
