"""`threetier deploy` for web.runtime = "fargate": the schema is migrated with the new image
before the service rolls to it.

1. hold: `cdk deploy -c threetier:service-hold=<task definition the service runs now>`
   registers the new image and task definitions while the service stays where it is
   (`none` before the first deploy: the service is created with 0 tasks);
2. migrate: `ecs run-task` the migration task definition named in the stack outputs and
   wait (bounded) for exit 0; anything else stops the deploy here, the service untouched;
3. roll: `cdk deploy` without the hold moves the service to the new task definition (the
   deployment circuit breaker rolls back if the new tasks never get healthy);
4. tidy: deregister the held revision, which CloudFormation kept ACTIVE (containers.py).

EC2 deploys do not come here: their boot script migrates under an advisory lock.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

from threetier.aws.api import Clients, aws_errors, stack_outputs
from threetier.aws.constructs.containers import NO_SERVICE, SERVICE_HOLD_CONTEXT
from threetier.aws.migration_runner import MigrationTask, run_migrations
from threetier.errors import ThreetierError

# `cdk deploy` with extra arguments → its exit code.
CdkRun = Callable[[list[str]], int]
Migrate = Callable[[Any, MigrationTask], str]
# A failed call between the two deploys: the stack is as the last deploy left it.
DEPLOY_AGAIN = "check the AWS credentials' permissions and the region, then deploy again"


def includes_stack(stack: str, targets: Sequence[str] | None) -> bool:
    """Whether `cdk deploy TARGETS` deploys `stack` (no targets: --all; CDK allows globs)."""
    return not targets or any(fnmatch.fnmatchcase(stack, pattern) for pattern in targets)


def running_task_definition(ecs: Any, outputs: dict[str, str] | None) -> str | None:
    """The task definition ARN the web service runs now; None without an active service."""
    if not outputs or "WebService" not in outputs or "MigrationCluster" not in outputs:
        return None  # no stack yet, or one deployed with web.runtime = "ec2"
    with aws_errors("reading the web service", fix=DEPLOY_AGAIN):
        found = ecs.describe_services(
            cluster=outputs["MigrationCluster"], services=[outputs["WebService"]]
        ).get("services", [])
    active = [s for s in found if s.get("status") == "ACTIVE"]
    return active[0]["taskDefinition"] if active else None


def deploy_with_migrations(
    cdk: CdkRun,
    args: list[str],
    *,
    stack: str,
    clients: Clients,
    say: Callable[[str], None],
    warn: Callable[[str], None],
    migrate: Migrate = run_migrations,
) -> int:
    """Steps 1–4 of the module docstring; returns the failing `cdk` exit code or 0.

    Raises ThreetierError when the migration task fails: the service is not rolled then.
    """
    cloudformation, ecs = clients("cloudformation"), clients("ecs")
    held = running_task_definition(ecs, stack_outputs(cloudformation, stack))
    hold = held or NO_SERVICE
    say(
        f"step 1/3: deploying the new image, the web service held on {_revision(held)}"
        if held
        else "step 1/3: deploying; the web service starts with 0 tasks until migrations have run"
    )
    code = cdk([*args, "--context", f"{SERVICE_HOLD_CONTEXT}={hold}"])
    if code != 0:
        return code

    outputs = stack_outputs(cloudformation, stack)
    if outputs is None:
        raise ThreetierError(f"{stack} is not there after deploying it", fix="deploy again")
    task = MigrationTask.from_outputs(outputs)
    say(f"step 2/3: running migrations ({_revision(task.task_definition)})")
    with aws_errors("running the migration task", fix=DEPLOY_AGAIN):
        task_arn = migrate(ecs, task)
    say(f"migrations applied (task {task_arn.rsplit('/', 1)[-1]})")

    say("step 3/3: rolling the web service to the new image")
    code = cdk(args)
    if code != 0:
        warn(
            "the schema is migrated but the service rollout failed: the service runs "
            f"{_revision(held) if held else 'no tasks'}; the next deploy retries the rollout"
        )
        return code
    if held:
        _retire(ecs, held, now=running_task_definition(ecs, outputs), warn=warn)
    return 0


def _retire(ecs: Any, held: str, *, now: str | None, warn: Callable[[str], None]) -> None:
    """Deregister the revision the service left (unchanged templates leave none behind)."""
    if now is None or now == held:
        return
    try:
        with aws_errors(f"deregistering {_revision(held)}", fix=DEPLOY_AGAIN):
            ecs.deregister_task_definition(taskDefinition=held)
    except ThreetierError as exc:
        warn(f"{exc.message}; it stays registered (it costs nothing)")


def _revision(task_definition_arn: str | None) -> str:
    """`family:revision` of an ARN, for messages."""
    return str(task_definition_arn).rsplit("/", 1)[-1]
