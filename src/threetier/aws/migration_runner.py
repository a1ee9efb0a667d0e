"""The migration task at deploy time (web.runtime = "fargate"): `threetier deploy`
(`threetier.aws.rollout`) runs it between its two CDK deploys, with the new image and
the task definition the stack outputs name (`FargateWebTier.migration_outputs` in
`threetier.aws.constructs.containers`, which only wires the resources).

The ECS client comes from `threetier.aws.api`; the caller translates its errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from threetier.errors import ThreetierError

# The container of the migration task definition; its exit code is the migration's.
MIGRATE_CONTAINER = "migrate"


@dataclass(frozen=True)
class MigrationTask:
    """Where and how to run the migration task (from the stack's outputs)."""

    cluster: str
    task_definition: str
    subnets: list[str]
    security_groups: list[str]
    assign_public_ip: bool = False
    log_group: str = ""  # where the task's output goes (awslogs), named in errors

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, str]) -> MigrationTask:
        try:
            return cls(
                cluster=outputs["MigrationCluster"],
                task_definition=outputs["MigrationTaskDefinition"],
                subnets=[s for s in outputs["MigrationSubnets"].split(",") if s],
                security_groups=[s for s in outputs["MigrationSecurityGroups"].split(",") if s],
                assign_public_ip=outputs.get("MigrationAssignPublicIp") == "ENABLED",
                log_group=outputs.get("AppLogGroup", ""),
            )
        except KeyError as missing:
            raise ThreetierError(
                f'the stack has no output {missing}: it was not deployed with web.runtime = "fargate"',
                fix="deploy the stack first (`threetier deploy`)",
            ) from None


def run_migrations(
    ecs_client: Any,  # a boto3 ECS client (boto3 has no type stubs here)
    task: MigrationTask,
    *,
    timeout_seconds: float = 900,
    poll_seconds: float = 6,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """`ecs run-task` the migration task and wait until it stops; returns the task ARN.

    Raises ThreetierError if it cannot start, exits non-zero or is still running after
    `timeout_seconds` (it is left running then: stopping a migration halfway helps nobody).
    """
    started = ecs_client.run_task(
        cluster=task.cluster,
        taskDefinition=task.task_definition,
        launchType="FARGATE",
        count=1,
        startedBy="threetier-deploy",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": task.subnets,
                "securityGroups": task.security_groups,
                "assignPublicIp": "ENABLED" if task.assign_public_ip else "DISABLED",
            }
        },
    )
    if started.get("failures") or not started.get("tasks"):
        reasons = [
            f"{f.get('arn', '')} {f.get('reason', '')}".strip() for f in started.get("failures", [])
        ]
        raise ThreetierError(
            "the migration task did not start",
            details=reasons or ["ECS returned no task"],
            fix="check the cluster, subnets and security group in the stack outputs",
        )
    arn = started["tasks"][0]["taskArn"]
    deadline = clock() + timeout_seconds
    while True:
        described = ecs_client.describe_tasks(cluster=task.cluster, tasks=[arn])["tasks"][0]
        if described.get("lastStatus") == "STOPPED":
            break
        if clock() >= deadline:
            raise ThreetierError(
                f"the migration task {arn} is still running after {timeout_seconds:.0f} s",
                fix="watch it in the app's log group (stream prefix 'migrate'); deploy again once it has stopped",
            )
        sleep(poll_seconds)
    containers = {c["name"]: c for c in described.get("containers", [])}
    exit_code = containers.get(MIGRATE_CONTAINER, {}).get("exitCode")
    if exit_code != 0:
        details = [described.get("stoppedReason", "")]
        details += [c.get("reason", "") for c in containers.values() if c.get("reason")]
        details.append(f"task {arn}")
        raise ThreetierError(
            f"migrations failed (exit code {exit_code}); the service still runs the previous image",
            details=[d for d in details if d],
            fix=f"read {_log_location(task, arn)}, fix, deploy again",
        )
    return arn


def _log_location(task: MigrationTask, task_arn: str) -> str:
    """The awslogs stream of the task: `<stream prefix>/<container>/<task id>` in the group."""
    stream = f"{MIGRATE_CONTAINER}/{MIGRATE_CONTAINER}/{task_arn.rsplit('/', 1)[-1]}"
    if not task.log_group:
        return f"the log stream {stream} in the app's log group"
    return f"the log stream {stream} (aws logs tail {task.log_group} --log-stream-names {stream})"
