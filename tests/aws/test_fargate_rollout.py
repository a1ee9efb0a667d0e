"""`threetier --env fargate deploy`: hold the service, migrate with the new image, then roll.

Unit tests drive `deploy_with_migrations` with the CDK CLI stubbed and fake AWS clients;
the synth tests build the held templates for real and run the check's template rules on
them; the moto tests run the AWS half (stack outputs, the running revision, run-task and
the wait, deregistering) against a fargate stack deployed on a local moto server.
"""

from __future__ import annotations

import functools
import json
import time

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk.assertions import Match
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from support.aws_helpers import logical_ids
from support.moto_adapter import adapt_for_moto
from support.moto_process import moto_server

from threetier.aws import api, rollout
from threetier.aws.app import build_stacks
from threetier.aws.constructs.containers import (
    NO_SERVICE,
    REVISION_CONTEXT,
    REVISION_ENV,
    SERVICE_HOLD_CONTEXT,
    image_revision,
    service_hold,
)
from threetier.aws.migration_runner import MigrationTask, run_migrations
from threetier.errors import ThreetierError

pytestmark = pytest.mark.synth  # importing aws_cdk (the constructs, the App) starts jsii's Node.js

STACK = "threetier-fargate"
OLD = "arn:aws:ecs:ap-northeast-1:111111111111:task-definition/threetierfargateFargateTask:4"
NEW = "arn:aws:ecs:ap-northeast-1:111111111111:task-definition/threetierfargateFargateTask:5"
MIGRATE = "arn:aws:ecs:ap-northeast-1:111111111111:task-definition/threetierfargateMigrate:5"
TASK_ARN = "arn:aws:ecs:ap-northeast-1:111111111111:task/cluster-x/0f1e2d3c4b5a"
LOG_GROUP = "threetier-fargate-AppLogs1234"
OUTPUTS = {
    "MigrationCluster": "cluster-x",
    "WebService": "web-x",
    "MigrationTaskDefinition": MIGRATE,
    "MigrationSubnets": "subnet-a,subnet-c",
    "MigrationSecurityGroups": "sg-web",
    "MigrationAssignPublicIp": "DISABLED",
    "AppLogGroup": LOG_GROUP,
}
DEPLOY_ARGS = ["deploy", "--all", "--outputs-file", "out.json"]


class FakeAws:
    """CloudFormation, ECS and the CDK CLI as the rollout sees them; `calls` is the story.

    `deploy` is the CDK CLI stub: a successful deploy creates the stack, and one without
    the hold moves the service to `rolls_to`.
    """

    def __init__(self, *, running: str | None = OLD, exit_code: int = 0, cdk_codes=(0, 0)):
        self.outputs = dict(OUTPUTS) if running else None
        self.running = running
        self.rolls_to = NEW
        self.exit_code = exit_code
        self.cdk_codes = list(cdk_codes)
        self.calls: list[tuple] = []
        self.seen: list[list[str]] = []  # the CDK CLI's argument lists, in order

    def client(self, service: str) -> FakeAws:
        assert service in ("cloudformation", "ecs")
        return self

    def deploy(self, args: list[str]) -> int:
        self.seen.append(list(args))
        hold = None
        if "--context" in args:
            hold = args[args.index("--context") + 1].removeprefix(f"{SERVICE_HOLD_CONTEXT}=")
        self.calls.append(("cdk deploy", hold))
        code = self.cdk_codes.pop(0)
        if code == 0:
            self.outputs = dict(OUTPUTS)
            if hold is None or self.running is None:  # rolled, or created on first deploy
                self.running = self.rolls_to
        return code

    # CloudFormation
    def describe_stacks(self, StackName):  # noqa: N803 - boto3's parameter names
        if self.outputs is None:
            error = {
                "Code": "ValidationError",
                "Message": f"Stack with id {StackName} does not exist",
            }
            raise ClientError({"Error": error}, "DescribeStacks")
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}

    # ECS
    def describe_services(self, cluster, services):
        assert (cluster, services) == ("cluster-x", ["web-x"])
        if self.running is None:
            return {"services": [], "failures": [{"arn": "web-x", "reason": "MISSING"}]}
        return {"services": [{"status": "ACTIVE", "taskDefinition": self.running}]}

    def run_task(self, **request):
        self.calls.append(("run-task", request["taskDefinition"]))
        assert request["networkConfiguration"]["awsvpcConfiguration"] == {
            "subnets": ["subnet-a", "subnet-c"],
            "securityGroups": ["sg-web"],
            "assignPublicIp": "DISABLED",
        }
        return {"tasks": [{"taskArn": TASK_ARN}], "failures": []}

    def describe_tasks(self, cluster, tasks):
        container = {"name": "migrate", "lastStatus": "STOPPED", "exitCode": self.exit_code}
        task = {"taskArn": TASK_ARN, "lastStatus": "STOPPED", "containers": [container]}
        if self.exit_code:
            task["stoppedReason"] = "Essential container in task exited"
        return {"tasks": [task], "failures": []}

    def deregister_task_definition(self, taskDefinition):  # noqa: N803
        self.calls.append(("deregister", taskDefinition))
        return {"taskDefinition": {"taskDefinitionArn": taskDefinition, "status": "INACTIVE"}}


def rollout_with(aws: FakeAws, messages: list[str] | None = None) -> int:
    messages = messages if messages is not None else []
    return rollout.deploy_with_migrations(
        aws.deploy,
        list(DEPLOY_ARGS),
        stack=STACK,
        clients=aws.client,
        say=messages.append,
        warn=lambda message: messages.append(f"warning: {message}"),
        migrate=functools.partial(run_migrations, poll_seconds=0, sleep=lambda s: None),
    )


def test_holds_the_running_revision_migrates_then_rolls_and_retires_it():
    aws = FakeAws()
    assert rollout_with(aws) == 0
    assert aws.seen == [[*DEPLOY_ARGS, "--context", f"{SERVICE_HOLD_CONTEXT}={OLD}"], DEPLOY_ARGS]
    assert aws.calls == [
        ("cdk deploy", OLD),  # the service stays on what it runs
        ("run-task", MIGRATE),  # the new migration task definition, from the outputs
        ("cdk deploy", None),  # now the service rolls
        ("deregister", OLD),  # kept ACTIVE for rollbacks until here
    ]


def test_first_deploy_creates_the_service_without_tasks_until_migrated():
    aws = FakeAws(running=None)
    messages: list[str] = []
    assert rollout_with(aws, messages) == 0
    assert aws.calls == [("cdk deploy", NO_SERVICE), ("run-task", MIGRATE), ("cdk deploy", None)]
    assert any("0 tasks" in m for m in messages)


def test_a_stack_deployed_with_ec2_has_no_service_to_hold():
    aws = FakeAws()
    aws.outputs = {"Url": "http://alb"}
    aws.running = None
    assert rollout_with(aws) == 0
    assert aws.calls[0] == ("cdk deploy", NO_SERVICE)


def test_failed_migration_stops_the_rollout_and_says_where_the_logs_are():
    aws = FakeAws(exit_code=3)
    with pytest.raises(ThreetierError, match="exit code 3") as raised:
        rollout_with(aws)
    assert aws.calls == [("cdk deploy", OLD), ("run-task", MIGRATE)]
    assert aws.running == OLD
    error = raised.value
    assert "Essential container in task exited" in error.details
    assert f"aws logs tail {LOG_GROUP} --log-stream-names migrate/migrate/0f1e2d3c4b5a" in (
        error.fix or ""
    )


def test_failed_hold_deploy_runs_nothing_else():
    aws = FakeAws(cdk_codes=[1])
    assert rollout_with(aws) == 1
    assert aws.calls == [("cdk deploy", OLD)]


def test_failed_roll_keeps_the_held_revision_and_says_the_schema_moved():
    aws = FakeAws(cdk_codes=[0, 1])
    messages: list[str] = []
    assert rollout_with(aws, messages) == 1
    assert aws.calls == [("cdk deploy", OLD), ("run-task", MIGRATE), ("cdk deploy", None)]
    assert any(m.startswith("warning: the schema is migrated") for m in messages)


def test_an_unchanged_service_keeps_its_revision():
    """Nothing replaced the task definition: the held revision is the live one."""
    aws = FakeAws()
    aws.rolls_to = OLD
    assert rollout_with(aws) == 0
    assert ("deregister", OLD) not in aws.calls


@pytest.mark.parametrize(
    ("targets", "included"),
    [
        (None, True),
        ([], True),
        ([STACK], True),
        (["threetier-*"], True),
        ([f"{STACK}-billing"], False),
    ],
)
def test_only_deploys_that_include_the_system_stack_migrate(targets, included):
    assert rollout.includes_stack(STACK, targets) is included


def test_the_hold_context_must_be_an_arn_or_none():
    assert service_hold(cdk.App(context={SERVICE_HOLD_CONTEXT: OLD})) == OLD
    assert service_hold(cdk.App(context={SERVICE_HOLD_CONTEXT: NO_SERVICE})) == NO_SERVICE
    assert service_hold(cdk.App()) is None
    with pytest.raises(ThreetierError, match="neither a task definition ARN"):
        service_hold(cdk.App(context={SERVICE_HOLD_CONTEXT: "latest"}))


# --- the CLI wiring (`threetier deploy` → rollout), the CDK CLI stubbed ---


@pytest.fixture
def stub_cdk(monkeypatch):
    """`threetier deploy` with credentials, the CDK CLI and AWS replaced; returns the fake.
    The preflight passes (its rules and its stop are tested in test_preflight/test_cli)."""
    from threetier.aws import cdk_cli
    from threetier.cli import cdk_commands

    monkeypatch.setattr(cdk_commands, "preflight", lambda context: None)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    aws = FakeAws()
    monkeypatch.setattr(cdk_cli, "require_credentials", lambda spec: "111111111111")
    monkeypatch.setattr(cdk_cli, "ensure_cdk_cli", lambda root, say: root / "cdk")
    monkeypatch.setattr(cdk_cli, "run_cdk", lambda executable, args, **kw: aws.deploy(args))
    monkeypatch.setattr(api, "clients", lambda region, timeouts=None: aws.client)
    return aws


def test_cli_deploy_on_fargate_runs_the_three_steps(stub_cdk, capsys):
    from threetier.cli.main import main

    assert main(["--env", "fargate", "deploy", "--yes"]) == 0
    assert [c[0] for c in stub_cdk.calls] == ["cdk deploy", "run-task", "cdk deploy", "deregister"]
    hold_args, roll_args = stub_cdk.seen
    assert hold_args == [*roll_args, "--context", f"{SERVICE_HOLD_CONTEXT}={OLD}"]
    assert roll_args[:2] == ["deploy", "--all"] and roll_args[-2:] == [
        "--require-approval",
        "never",
    ]
    assert "step 2/3: running migrations" in capsys.readouterr().err


def test_cli_deploy_of_only_the_billing_stack_does_not_migrate(stub_cdk):
    from threetier.cli.main import main

    assert main(["--env", "fargate", "deploy", f"{STACK}-billing"]) == 0
    assert stub_cdk.calls == [("cdk deploy", None)]


def test_cli_deploy_on_ec2_is_one_cdk_deploy(stub_cdk):
    from threetier.cli.main import main

    assert main(["--env", "default", "deploy"]) == 0
    assert stub_cdk.calls == [("cdk deploy", None)]


def test_cli_reports_a_failed_migration_without_a_traceback(stub_cdk, capsys):
    from threetier.cli.main import main

    stub_cdk.exit_code = 1
    assert main(["--env", "fargate", "deploy", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "migrations failed (exit code 1)" in err and LOG_GROUP in err
    assert "Traceback" not in err
    assert [c[0] for c in stub_cdk.calls] == ["cdk deploy", "run-task"]


# --- run_migrations and image_revision on their own (ECS stubbed by botocore) ---

RUNNER_CLUSTER = "threetier-cluster"
RUNNER_TASK_ARN = "arn:aws:ecs:ap-northeast-1:111111111111:task/threetier-cluster/0123456789abcdef"
RUNNER_TASK_DEF = "arn:aws:ecs:ap-northeast-1:111111111111:task-definition/migrate:7"
RUNNER_TASK = MigrationTask(
    cluster=RUNNER_CLUSTER,
    task_definition=RUNNER_TASK_DEF,
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
        {"tasks": [{"taskArn": RUNNER_TASK_ARN, "lastStatus": "PROVISIONING"}], "failures": []},
        {
            "cluster": RUNNER_CLUSTER,
            "taskDefinition": RUNNER_TASK_DEF,
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
    task = {"taskArn": RUNNER_TASK_ARN, "lastStatus": status, "containers": [container]}
    if reason:
        task["stoppedReason"] = reason
    stubber.add_response(
        "describe_tasks",
        {"tasks": [task], "failures": []},
        {"cluster": RUNNER_CLUSTER, "tasks": [RUNNER_TASK_ARN]},
    )


def test_waits_until_the_task_stops_with_exit_0(ecs):
    client, stubber = ecs
    clock = FakeClock()
    _started(stubber)
    _described(stubber, "PENDING")
    _described(stubber, "RUNNING")
    _described(stubber, "STOPPED", exit_code=0)
    assert (
        run_migrations(client, RUNNER_TASK, poll_seconds=5, sleep=clock.sleep, clock=clock)
        == RUNNER_TASK_ARN
    )
    assert clock.sleeps == [5, 5]


def test_a_task_that_never_started_is_an_error(ecs):
    client, stubber = ecs
    stubber.add_response(
        "run_task", {"tasks": [], "failures": [{"arn": RUNNER_TASK_DEF, "reason": "RESOURCE:ENI"}]}
    )
    with pytest.raises(ThreetierError, match="did not start") as raised:
        run_migrations(client, RUNNER_TASK, sleep=FakeClock().sleep)
    assert any("RESOURCE:ENI" in d for d in raised.value.details)


def test_gives_up_after_the_timeout_without_sleeping_for_real(ecs):
    client, stubber = ecs
    clock = FakeClock()
    _started(stubber)
    for _ in range(4):
        _described(stubber, "RUNNING")
    with pytest.raises(ThreetierError, match="still running after 30 s"):
        run_migrations(
            client, RUNNER_TASK, timeout_seconds=30, poll_seconds=10, sleep=clock.sleep, clock=clock
        )
    assert clock.now == 30


def test_from_outputs_reads_the_stack_outputs():
    task = MigrationTask.from_outputs(
        {
            "MigrationCluster": RUNNER_CLUSTER,
            "MigrationTaskDefinition": RUNNER_TASK_DEF,
            "MigrationSubnets": "subnet-1,subnet-2",
            "MigrationSecurityGroups": "sg-1",
            "MigrationAssignPublicIp": "ENABLED",
        }
    )
    assert task == MigrationTask(
        RUNNER_CLUSTER, RUNNER_TASK_DEF, ["subnet-1", "subnet-2"], ["sg-1"], assign_public_ip=True
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


# --- the held templates, synthesized for real ---


@pytest.fixture(scope="module")
def held(synthesized, tmp_path_factory):
    """The fargate system template of deploy step 1: {hold value: template}, checked like `check`."""
    from aws_cdk import Validations
    from cdk_nag import AwsSolutionsChecks

    from threetier.checks.architecture import check_template
    from threetier.checks.lint import lint_templates
    from threetier.checks.nag import REPORT_FILE, read_report

    spec = synthesized("fargate").spec
    templates: dict[str, dict] = {}
    findings: list = []
    for hold in (OLD, NO_SERVICE):
        outdir = tmp_path_factory.mktemp("held")
        app = cdk.App(outdir=str(outdir), context={SERVICE_HOLD_CONTEXT: hold})
        build_stacks(app, spec)
        if hold == OLD:  # the check's nag + lint + architecture rules, on one of the two
            Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=False))
        app.synth()
        path = outdir / f"{STACK}.template.json"
        templates[hold] = json.loads(path.read_text())
        if hold == OLD:
            findings = read_report(outdir / REPORT_FILE)
            findings += lint_templates([(path, spec.project.region)])
            findings += check_template(path.name, templates[hold])
    return templates, findings


def _of_type(template: dict, type_name: str) -> list[dict]:
    return [r for r in template["Resources"].values() if r["Type"] == type_name]


def test_held_service_keeps_its_revision_and_the_new_ones_are_registered(held, synthesized):
    templates, _ = held
    normal = synthesized("fargate")
    (service,) = _of_type(templates[OLD], "AWS::ECS::Service")
    assert service["Properties"]["TaskDefinition"] == OLD
    assert service["Properties"]["DesiredCount"] == normal.spec.web.fargate.min_tasks
    # Both task definitions exactly as the roll will have them: only the service differs.
    assert _of_type(templates[OLD], "AWS::ECS::TaskDefinition") == _of_type(
        normal.raw(), "AWS::ECS::TaskDefinition"
    )
    (web,) = logical_ids(
        normal.template(),
        "AWS::ECS::TaskDefinition",
        {"ContainerDefinitions": [Match.object_like({"Name": "web"})]},
    )
    (normal_service,) = _of_type(normal.raw(), "AWS::ECS::Service")
    assert normal_service["Properties"]["TaskDefinition"] == {"Ref": web}


def test_first_deploy_creates_the_service_with_no_tasks(held):
    templates, _ = held
    (service,) = _of_type(templates[NO_SERVICE], "AWS::ECS::Service")
    assert service["Properties"]["DesiredCount"] == 0
    assert "Ref" in service["Properties"]["TaskDefinition"]
    (target,) = _of_type(templates[NO_SERVICE], "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["Properties"]["MinCapacity"] == 0


def test_held_template_passes_the_checks(held):
    _, findings = held
    assert [
        (f.severity, f.source, f.rule, f.where) for f in findings if f.severity == "error"
    ] == []


# --- the AWS half on a moto server: outputs, running revision, run-task, wait, deregister ---


@pytest.fixture(scope="module")
def moto_fargate(synthesized):
    """The fargate system stack deployed on a fresh moto server: (client factory, outputs)."""
    with moto_server() as endpoint:

        def client(service: str):
            return boto3.client(
                service,
                region_name="ap-northeast-1",
                endpoint_url=endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        client("ssm").put_parameter(
            Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String"
        )
        template, _ = adapt_for_moto(synthesized("fargate").raw())
        # moto's run-task sums container-level memory, which Fargate task definitions need not
        # set (ours size the task): give each container the task's memory, on moto only.
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::ECS::TaskDefinition":
                for container in resource["Properties"]["ContainerDefinitions"]:
                    container.setdefault("Memory", int(resource["Properties"]["Memory"]))
        cloudformation = client("cloudformation")
        cloudformation.create_stack(
            StackName=STACK, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
            if not stack["StackStatus"].endswith("_IN_PROGRESS"):
                break
            time.sleep(0.2)
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        yield client, api.stack_outputs(cloudformation, STACK)


@pytest.mark.moto
def test_moto_the_hold_is_the_revision_the_deployed_service_runs(moto_fargate):
    client, outputs = moto_fargate
    ecs = client("ecs")
    resources = client("cloudformation").describe_stack_resources(StackName=STACK)
    (web,) = [
        r["PhysicalResourceId"]
        for r in resources["StackResources"]
        if r["ResourceType"] == "AWS::ECS::TaskDefinition"
        and ecs.describe_task_definition(taskDefinition=r["PhysicalResourceId"])["taskDefinition"][
            "containerDefinitions"
        ][0]["name"]
        == "web"
    ]
    assert rollout.running_task_definition(ecs, outputs) == web
    assert api.stack_outputs(client("cloudformation"), "threetier-nothing") is None


@pytest.mark.moto
def test_moto_the_whole_rollout_with_the_cdk_cli_stubbed(moto_fargate):
    """Real API calls for everything but `cdk deploy`: step 3 is played by update-service."""
    client, outputs = moto_fargate
    ecs = client("ecs")
    held_revision = rollout.running_task_definition(ecs, outputs)
    held_definition = ecs.describe_task_definition(taskDefinition=held_revision)["taskDefinition"]
    deploys: list[str | None] = []
    migrated: list[str] = []

    def cdk_deploy(args: list[str]) -> int:
        hold = args[-1].split("=", 1)[1] if "--context" in args else None
        deploys.append(hold)
        if hold is None:  # the roll: a new revision of the web family, as CloudFormation would
            fields = ("family", "containerDefinitions", "networkMode", "requiresCompatibilities")
            new = ecs.register_task_definition(
                **{f: held_definition[f] for f in fields if f in held_definition}
            )
            ecs.update_service(
                cluster=outputs["MigrationCluster"],
                service=outputs["WebService"],
                taskDefinition=new["taskDefinition"]["taskDefinitionArn"],
            )
        return 0

    def migrate(ecs_client, task: MigrationTask) -> str:
        migrated.append(run_migrations(ecs_client, task, poll_seconds=0.01, timeout_seconds=10))
        return migrated[-1]

    assert (
        rollout.deploy_with_migrations(
            cdk_deploy,
            list(DEPLOY_ARGS),
            stack=STACK,
            clients=client,
            say=lambda message: None,
            warn=pytest.fail,
            migrate=migrate,
        )
        == 0
    )
    assert deploys == [held_revision, None]
    (task,) = ecs.describe_tasks(cluster=outputs["MigrationCluster"], tasks=migrated)["tasks"]
    assert task["taskDefinitionArn"] == outputs["MigrationTaskDefinition"]
    assert (task["startedBy"], task["lastStatus"]) == ("threetier-deploy", "STOPPED")
    retired = ecs.describe_task_definition(taskDefinition=held_revision)["taskDefinition"]
    assert retired["status"] == "INACTIVE"


@pytest.mark.moto
def test_moto_run_migrations_from_the_stack_outputs(moto_fargate):
    client, outputs = moto_fargate
    ecs = client("ecs")
    task = MigrationTask.from_outputs(outputs)
    assert task.log_group == outputs["AppLogGroup"]
    arn = run_migrations(ecs, task, poll_seconds=0.01, timeout_seconds=10)
    (described,) = ecs.describe_tasks(cluster=task.cluster, tasks=[arn])["tasks"]
    assert described["lastStatus"] == "STOPPED"
    assert described["containers"][0]["exitCode"] == 0
