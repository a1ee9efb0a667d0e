"""web.runtime = "fargate" as wired (seeds 002/004): ECS behind the same ALB, no EC2 web servers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from aws_cdk.assertions import Match
from support.aws_helpers import default_data, logical_ids, ref

from threetier.aws.constructs.containers import (
    CONTAINER_MEDIA_ROOT,
    CONTAINER_STATIC_ROOT,
    MIGRATE_COMMAND,
    REVISION_ENV,
    web_command,
)
from threetier.aws.user_data import APP_UID
from threetier.paths import project_root
from threetier.runtime import contract
from threetier.spec import SpecError, parse_spec

pytestmark = pytest.mark.synth  # importing aws_cdk (the constructs, assertions) starts jsii's Node.js

# What the Django app reads (the same contract as the EC2 boot script's environment file).
CONTRACT = {
    "DJANGO_SETTINGS_MODULE",
    "THREETIER_DB_HOST",
    "THREETIER_DB_PORT",
    "THREETIER_DB_NAME",
    "THREETIER_ALLOWED_HOSTS",
    "THREETIER_CSRF_TRUSTED_ORIGINS",
    "THREETIER_MEDIA_BACKEND",
    "THREETIER_MEDIA_ROOT",
    "THREETIER_MEDIA_BUCKET",
    "THREETIER_STATIC_ROOT",
}
SECRETS = {"THREETIER_SECRET_KEY", "THREETIER_DB_USER", "THREETIER_DB_PASSWORD"}
# The migration task only: it ensures the app role as master before migrating as the app role.
MASTER_SECRETS = {"THREETIER_DB_MASTER_USER", "THREETIER_DB_MASTER_PASSWORD"}


def containers(template) -> dict[str, tuple[dict, dict]]:
    """{container name: (task definition resource, container definition)}."""
    return {
        c["Name"]: (definition, c)
        for definition in template.find_resources("AWS::ECS::TaskDefinition").values()
        for c in definition["Properties"]["ContainerDefinitions"]
    }


def test_tasks_replace_the_auto_scaling_group_behind_the_same_target_group(synthesized):
    template = synthesized("fargate").template()
    template.resource_count_is("AWS::AutoScaling::AutoScalingGroup", 0)
    template.resource_count_is("AWS::EC2::LaunchTemplate", 0)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup", {"TargetType": "ip", "Port": 8000}
    )
    private = logical_ids(
        template,
        "AWS::EC2::Subnet",
        {"Tags": Match.array_with([{"Key": "threetier:tier", "Value": "private"}])},
    )
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "LaunchType": "FARGATE",
            "DesiredCount": 2,
            "LoadBalancers": [
                {
                    "ContainerName": "web",
                    "ContainerPort": 8000,
                    "TargetGroupArn": ref(template, "AWS::ElasticLoadBalancingV2::TargetGroup"),
                }
            ],
            "NetworkConfiguration": {
                "AwsvpcConfiguration": Match.object_like(
                    {"AssignPublicIp": "DISABLED", "Subnets": [{"Ref": s} for s in private]}
                )
            },
            "DeploymentConfiguration": Match.object_like(
                {
                    "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                    "MinimumHealthyPercent": 100,
                }
            ),
            "EnableExecuteCommand": True,
        },
    )
    template.has_resource_properties(
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
    )


def test_task_size_scaling_and_secrets_from_the_parameters(synthesized):
    built = synthesized("fargate")
    fargate = built.spec.web.fargate
    template = built.template()
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "Cpu": str(fargate.cpu),
            "Memory": str(fargate.memory_mib),
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "Name": "web",
                        "PortMappings": [{"ContainerPort": 8000, "Protocol": "tcp"}],
                        "Secrets": Match.array_with(
                            [
                                {
                                    "Name": "THREETIER_DB_PASSWORD",
                                    "ValueFrom": Match.object_like({"Fn::Join": Match.any_value()}),
                                }
                            ]
                        ),
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": fargate.min_tasks, "MaxCapacity": fargate.max_tasks},
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {"TargetValue": fargate.cpu_target_percent}
            )
        },
    )


def test_migrations_are_a_one_off_task_named_in_the_outputs(synthesized):
    built = synthesized("fargate")
    template = built.template()
    (migrate,) = logical_ids(
        template,
        "AWS::ECS::TaskDefinition",
        {"ContainerDefinitions": [Match.object_like({"Command": MIGRATE_COMMAND})]},
    )
    template.resource_count_is("AWS::ECS::Service", 1)
    outputs = built.raw()["Outputs"]
    assert outputs["MigrationTaskDefinition"]["Value"] == {"Ref": migrate}
    assert {"MigrationCluster", "MigrationSubnets", "MigrationSecurityGroups", "WebService"} <= set(
        outputs
    )
    assert outputs["MigrationAssignPublicIp"]["Value"] == "DISABLED"
    _, container = containers(template)["migrate"]
    assert {s["Name"] for s in container["Secrets"]} == SECRETS | MASTER_SECRETS


def test_containers_get_the_webapp_contract_and_secrets_only_from_secrets_manager(synthesized):
    found = containers(synthesized("fargate").template())
    assert set(found) == {"web", "migrate"}
    for name, (_, container) in found.items():
        environment = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert CONTRACT <= environment.keys()
        assert environment["DJANGO_SETTINGS_MODULE"] == "threetier.webapp.settings.production"
        assert environment["THREETIER_DB_SSLMODE"] == "require"
        expected = SECRETS | (MASTER_SECRETS if name == "migrate" else set())
        assert {s["Name"] for s in container["Secrets"]} == expected
        assert not expected & environment.keys(), "a secret is never a plain environment variable"
    # The web container runs the contract's gunicorn command, bound for the ALB on the app port.
    command = found["web"][1]["Command"]
    # Sized for the task (256 CPU units, 512 MiB: one worker), by the contract's one rule.
    assert command == web_command(8000, contract.gunicorn_for_fargate(256, 512))
    assert command[command.index("--bind") + 1] == "0.0.0.0:8000"


def secret_sources(container: dict) -> dict[str, str]:
    """{variable: logical id of the secret (or RDS attachment) it is read from}."""
    return {
        s["Name"]: s["ValueFrom"]["Fn::Join"][1][0]["Ref"]
        for s in container["Secrets"]
        if "Fn::Join" in s["ValueFrom"]
    }


def test_web_tasks_log_in_as_the_app_role_and_only_migrations_see_the_master(synthesized):
    template = synthesized("fargate").template()
    (attachment,) = logical_ids(template, "AWS::SecretsManager::SecretTargetAttachment")
    (app_user,) = logical_ids(
        template,
        "AWS::SecretsManager::Secret",
        {"Description": Match.string_like_regexp("app role uda_app")},
    )
    found = containers(template)
    web = secret_sources(found["web"][1])
    migrate = secret_sources(found["migrate"][1])
    assert web == {"THREETIER_DB_USER": app_user, "THREETIER_DB_PASSWORD": app_user}
    assert attachment not in json.dumps(found["web"][1])
    assert migrate == {
        **web,
        "THREETIER_DB_MASTER_USER": attachment,
        "THREETIER_DB_MASTER_PASSWORD": attachment,
    }
    assert found["migrate"][1]["Command"] == ["python", "-m", "threetier.aws.boot", "migrate"]


def test_web_task_definition_outlives_its_replacement(synthesized):
    """CloudFormation keeps the old revision ACTIVE: a rollback may point the service back."""
    found = containers(synthesized("fargate").template())
    retained = {n for n, (d, _) in found.items() if d.get("UpdateReplacePolicy") == "Retain"}
    assert retained == {"web"}


@pytest.mark.parametrize(
    ("cpu", "memory", "hint"), [(256, 700, "512, 1024, 2048"), (1024, 1024, "2048..8192")]
)
def test_a_task_size_fargate_does_not_offer_is_a_spec_error(cpu, memory, hint):
    data = default_data()
    data["web"].update(
        runtime="fargate", fargate={**data["web"]["fargate"], "cpu": cpu, "memory_mib": memory}
    )
    with pytest.raises(SpecError) as raised:
        parse_spec(data, env_name="default")
    assert any(d.startswith("web.fargate: memory_mib") and hint in d for d in raised.value.details)


def test_image_is_built_from_the_dockerfile_at_deploy_time(synthesized):
    built = synthesized("fargate")
    manifest = json.loads((built.result.outdir / "threetier-fargate.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "Dockerfile"
    assert image["source"]["platform"] == "linux/amd64"
    # The image and the running containers name the same revision (no revision set here).
    revision = image["source"]["dockerBuildArgs"]["THREETIER_REVISION"]
    for _, container in containers(built.template()).values():
        assert {"Name": "THREETIER_REVISION", "Value": revision} in container["Environment"]
    staged = {p.name for p in (built.result.outdir / image["source"]["directory"]).iterdir()}
    assert {"Dockerfile", "pyproject.toml", "src", "requirements"} <= staged
    assert not {".venv", ".git", "tests", "cdk.out"} & staged, staged


# --- the Dockerfile and the CI workflow (seed 002), read as files: no Docker, no GitHub ---

SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (project_root() / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load((project_root() / ".github" / "workflows" / "ci.yml").read_text())


def _instructions(dockerfile: str) -> list[str]:
    """Instructions with continuation lines joined; comments and heredoc bodies dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    joined = re.sub(r"<<'PY'.*?\nPY\n", "<<'PY'\n", joined, flags=re.S)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_image_is_python_311_slim(dockerfile):
    bases = [line.split()[1] for line in _instructions(dockerfile) if line.startswith("FROM")]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases


def test_runs_as_the_app_uid_not_root(dockerfile):
    users = [line.split()[1] for line in _instructions(dockerfile) if line.startswith("USER")]
    assert users[-1] == f"{APP_UID}:{APP_UID}"
    assert f"--uid {APP_UID}" in dockerfile


def test_installs_only_the_hash_locked_runtime_and_serves_the_contracts_gunicorn(dockerfile):
    lines = _instructions(dockerfile)
    installs = [line for line in lines if line.startswith("RUN") and "pip install" in line]
    (install,) = installs
    # Every dependency from the lock, hash-checked and offline; the package itself without its
    # pyproject dependencies (which also list the tool's: CDK, linters, load tests...).
    assert "--require-hashes" in install and "--no-index" in install and "requirements.txt" in install
    assert "--no-deps /wheels/app/threetier-" in install
    assert "COPY requirements/runtime.txt ./requirements.txt" in lines
    assert not any("GUNICORN_CMD_ARGS" in line for line in lines)  # one command line: the contract's
    assert lines[-2] == 'ENTRYPOINT ["python", "-m", "threetier.runtime", "entrypoint"]'
    assert lines[-1] == 'CMD ["python", "-m", "threetier.runtime", "serve"]'
    assert "PORT=8000" in dockerfile  # `serve` binds 0.0.0.0:$PORT


def test_health_check_uses_python_not_curl(dockerfile):
    (health,) = [line for line in _instructions(dockerfile) if line.startswith("HEALTHCHECK")]
    assert "urllib.request" in health and "/healthz" in health
    assert not any("curl" in line for line in _instructions(dockerfile))


def test_paths_match_what_the_task_definition_says(dockerfile):
    assert f"THREETIER_STATIC_ROOT={CONTAINER_STATIC_ROOT}" in dockerfile
    assert f"THREETIER_MEDIA_ROOT={CONTAINER_MEDIA_ROOT}" in dockerfile


def test_dockerignore_admits_only_what_the_build_copies():
    rules = [
        r
        for r in (project_root() / ".dockerignore").read_text().splitlines()
        if r and not r.startswith("#")
    ]
    assert rules[0] == "**"
    assert {"!pyproject.toml", "!README.md", "!requirements/runtime.txt", "!src/"} <= set(rules)


def test_every_action_is_pinned_to_a_commit(workflow):
    uses = [
        step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step
    ]
    assert uses and all(SHA_PIN.match(u) for u in uses), uses


def test_tests_run_through_the_one_ci_script(workflow):
    runs = [step.get("run", "") for step in workflow["jobs"]["test"]["steps"]]
    assert "bash .ci/run" in runs


def test_deploy_only_on_main_with_the_role_variable(workflow):
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    assert "refs/heads/main" in deploy["if"] and "vars.AWS_DEPLOY_ROLE_ARN != ''" in deploy["if"]
    assert deploy["permissions"]["id-token"] == "write"
    assert "id-token" not in workflow.get("permissions", {}), (
        "only the deploy job may mint OIDC tokens"
    )
    (credentials,) = [
        s for s in deploy["steps"] if "configure-aws-credentials" in s.get("uses", "")
    ]
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"


def test_deploy_tags_the_image_with_the_commit(workflow):
    deploy = workflow["jobs"]["deploy"]
    assert deploy["env"][REVISION_ENV] == "${{ github.sha }}"
    assert any(s.get("run") == "./threetier --env prod deploy --yes" for s in deploy["steps"])


@pytest.fixture
def task_metadata():
    """A stand-in for the ECS task metadata endpoint v4 on a free loopback port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = json.dumps(
                {
                    "TaskARN": "arn:aws:ecs:ap-northeast-1:1:task/cluster/abc123",
                    "AvailabilityZone": "ap-northeast-1c",
                }
            ).encode()
            self.send_response(200 if self.path == "/v4/meta/task" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v4/meta"
    server.shutdown()
    server.server_close()


def _run_entrypoint(env: dict) -> str:
    """The image's entrypoint (`python -m threetier.runtime entrypoint CMD`) with a command
    that shows what it was given."""
    show = "import os; print(os.environ.get('THREETIER_INSTANCE_NAME'), os.environ.get('THREETIER_AZ'))"
    result = subprocess.run(
        [sys.executable, "-m", "threetier.runtime", "entrypoint", sys.executable, "-c", show],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("THREETIER_")}, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def test_entrypoint_names_the_task_and_its_az(task_metadata):
    shown = _run_entrypoint({"ECS_CONTAINER_METADATA_URI_V4": task_metadata})
    assert shown == "abc123 ap-northeast-1c"


def test_entrypoint_without_metadata_runs_the_command_unchanged():
    assert _run_entrypoint({}) == "None None"
