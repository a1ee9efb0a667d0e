"""`threetier deploy`'s Fargate helpers: the image revision, the running image, the migration task."""

from __future__ import annotations

import aws_cdk as cdk
import boto3
import pytest
from botocore.stub import ANY, Stubber

from threetier.aws.constructs.containers import (
    REVISION_CONTEXT,
    REVISION_ENV,
    MigrationTask,
    image_revision,
    run_migrations,
)
from threetier.errors import ThreetierError

CLUSTER = "threetier-cluster"
TASK_ARN = "arn:aws:ecs:ap-northeast-1:111111111111:task/threetier-cluster/0123456789abcdef"
TASK_DEF = "arn:aws:ecs:ap-northeast-1:111111111111:task-definition/migrate:7"
TASK = MigrationTask(
    cluster=CLUSTER,
    task_definition=TASK_DEF,
    subnets=["subnet-1", "subnet-2"],
    security_groups=["sg-1"],
)


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def ecs():
    client = boto3.client(
        "ecs", region_name="ap-northeast-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _started(stubber) -> None:
    stubber.add_response(
        "run_task",
        {"tasks": [{"taskArn": TASK_ARN, "lastStatus": "PROVISIONING"}], "failures": []},
        {
            "cluster": CLUSTER,
            "taskDefinition": TASK_DEF,
            "launchType": "FARGATE",
            "count": 1,
            "startedBy": ANY,
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-1", "subnet-2"],
                    "securityGroups": ["sg-1"],
                    "assignPublicIp": "DISABLED",
                }
            },
        },
    )


def _described(stubber, status: str, exit_code: int | None = None, reason: str = "") -> None:
    container = {"name": "migrate", "lastStatus": status}
    if exit_code is not None:
        container["exitCode"] = exit_code
    task = {"taskArn": TASK_ARN, "lastStatus": status, "containers": [container]}
    if reason:
        task["stoppedReason"] = reason
    stubber.add_response(
        "describe_tasks",
        {"tasks": [task], "failures": []},
        {"cluster": CLUSTER, "tasks": [TASK_ARN]},
    )


def test_waits_until_the_task_stops_with_exit_0(ecs):
    client, stubber = ecs
    clock = FakeClock()
    _started(stubber)
    _described(stubber, "PENDING")
    _described(stubber, "RUNNING")
    _described(stubber, "STOPPED", exit_code=0)
    assert run_migrations(client, TASK, poll_seconds=5, sleep=clock.sleep, clock=clock) == TASK_ARN
    assert clock.sleeps == [5, 5]


def test_non_zero_exit_is_an_error_naming_the_logs(ecs):
    client, stubber = ecs
    clock = FakeClock()
    _started(stubber)
    _described(stubber, "STOPPED", exit_code=1, reason="Essential container in task exited")
    with pytest.raises(ThreetierError, match="exit code 1") as raised:
        run_migrations(client, TASK, sleep=clock.sleep, clock=clock)
    assert "Essential container in task exited" in raised.value.details
    assert "migrate" in (raised.value.fix or "")


def test_a_task_that_never_started_is_an_error(ecs):
    client, stubber = ecs
    stubber.add_response(
        "run_task", {"tasks": [], "failures": [{"arn": TASK_DEF, "reason": "RESOURCE:ENI"}]}
    )
    with pytest.raises(ThreetierError, match="did not start") as raised:
        run_migrations(client, TASK, sleep=FakeClock().sleep)
    assert any("RESOURCE:ENI" in d for d in raised.value.details)


def test_gives_up_after_the_timeout_without_sleeping_for_real(ecs):
    client, stubber = ecs
    clock = FakeClock()
    _started(stubber)
    for _ in range(4):
        _described(stubber, "RUNNING")
    with pytest.raises(ThreetierError, match="still running after 30 s"):
        run_migrations(
            client, TASK, timeout_seconds=30, poll_seconds=10, sleep=clock.sleep, clock=clock
        )
    assert clock.now == 30


def test_from_outputs_reads_the_stack_outputs():
    task = MigrationTask.from_outputs(
        {
            "MigrationCluster": CLUSTER,
            "MigrationTaskDefinition": TASK_DEF,
            "MigrationSubnets": "subnet-1,subnet-2",
            "MigrationSecurityGroups": "sg-1",
            "MigrationAssignPublicIp": "ENABLED",
        }
    )
    assert task == MigrationTask(
        CLUSTER, TASK_DEF, ["subnet-1", "subnet-2"], ["sg-1"], assign_public_ip=True
    )


def test_from_outputs_of_an_ec2_stack_explains_itself():
    with pytest.raises(ThreetierError, match="fargate"):
        MigrationTask.from_outputs({"Url": "http://example"})


def test_revision_comes_from_the_context_before_the_environment(monkeypatch):
    monkeypatch.setenv(REVISION_ENV, "fromenv1")
    assert image_revision(cdk.App(context={REVISION_CONTEXT: "abc1234"})) == "abc1234"
    assert image_revision(cdk.App()) == "fromenv1"
    monkeypatch.delenv(REVISION_ENV)
    assert image_revision(cdk.App()) is None


def test_a_revision_that_cannot_be_an_image_tag_is_refused():
    with pytest.raises(ThreetierError, match="not a usable image tag"):
        image_revision(cdk.App(context={REVISION_CONTEXT: "main; rm -rf /"}))
