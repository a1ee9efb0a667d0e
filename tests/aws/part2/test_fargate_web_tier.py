"""Containers (seeds 002/004): the web tier on ECS Fargate behind the same ALB target group."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match
from part2_helpers import APP_PORT, DUMMY_ACCOUNT, REGION, Scaffold, part2_spec

from threetier.aws.constructs.containers import (
    MIGRATE_COMMAND,
    AppSettings,
    FargateWebTier,
)
from threetier.aws.constructs.monitoring import Monitoring, app_log_group
from threetier.aws.constructs.storage import SharedStorage
from threetier.spec import SpecError

REVISION = "0123456789abcdef0123456789abcdef01234567"
HELD = "arn:aws:ecs:ap-northeast-1:111111111111:task-definition/TestFargateTask:7"
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


@pytest.fixture(scope="module")
def built(build):
    spec = part2_spec(
        "default", web={"runtime": "fargate"}, monitoring={"alarm_email": "ops@example.com"}
    )

    def populate(app, stack, scaffold):
        storage = SharedStorage(
            stack,
            "Storage",
            storage=spec.storage,
            vpc=scaffold.vpc,
            subnets=scaffold.web_subnets,
            web_security_group=scaffold.web_sg,
            retain_data=False,
        )
        logs = app_log_group(stack, "AppLogs", retention_days=30, retain_data=False)
        common = dict(
            web=spec.web,
            vpc=scaffold.vpc,
            subnets=scaffold.web_subnets,
            security_group=scaffold.web_sg,
            log_group=logs,
            app=AppSettings(
                db_host=scaffold.database.db_instance_endpoint_address,
                db_port=scaffold.database.db_instance_endpoint_port,
                db_name=spec.database.name,
                allowed_hosts=[scaffold.alb.load_balancer_dns_name],
                csrf_trusted_origins=["https://www.example.com"],
                secure_cookies=True,
            ),
            db_secret=scaffold.db_secret,
            app_secret=scaffold.app_secret,
            storage=storage,
            revision=REVISION,
        )
        fargate = FargateWebTier(stack, "Fargate", target_group=scaffold.target_group, **common)
        Monitoring(
            stack,
            "Monitoring",
            monitoring=spec.monitoring,
            web_cpu=fargate.service.metric_cpu_utilization(),
            load_balancer=scaffold.alb,
            target_group=scaffold.target_group,
            database=scaffold.database,
        )
        # Deploy step 1 (see containers.py): the service stays on the revision it runs now.
        pinned = cdk.Stack(app, "Pinned", env=cdk.Environment(account=DUMMY_ACCOUNT, region=REGION))
        pinned_scaffold = Scaffold(pinned)
        FargateWebTier(
            pinned,
            "Fargate",
            **{
                **common,
                "vpc": pinned_scaffold.vpc,
                "security_group": pinned_scaffold.web_sg,
                "log_group": app_log_group(pinned, "AppLogs", retention_days=30, retain_data=False),
                "app": AppSettings(
                    db_host="db",
                    db_port="5432",
                    db_name="app",
                    allowed_hosts=["x"],
                    csrf_trusted_origins=[],
                    secure_cookies=False,
                ),
                "db_secret": pinned_scaffold.db_secret,
                "app_secret": pinned_scaffold.app_secret,
                "storage": None,
            },
            target_group=pinned_scaffold.target_group,
            hold=HELD,
        )
        return {"outputs": {k: stack.resolve(v) for k, v in fargate.migration_outputs.items()}}

    return build(populate)


def _web_container(built) -> dict:
    definitions = built.template().find_resources(
        "AWS::ECS::TaskDefinition",
        {"Properties": {"ContainerDefinitions": [Match.object_like({"Name": "web"})]}},
    )
    (definition,) = definitions.values()
    return definition["Properties"]


def test_cluster_has_container_insights(built):
    built.template().has_resource_properties(
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
    )


def test_task_size_port_and_awslogs_from_the_parameters(built):
    task = _web_container(built)
    assert (task["Cpu"], task["Memory"]) == ("256", "512")
    (container,) = task["ContainerDefinitions"]
    assert container["PortMappings"] == [{"ContainerPort": APP_PORT, "Protocol": "tcp"}]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["awslogs-group"]["Ref"].startswith("AppLogs")


def test_container_gets_the_webapp_contract_and_secrets_from_secrets_manager(built):
    (container,) = _web_container(built)["ContainerDefinitions"]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert CONTRACT <= environment.keys()
    assert environment["DJANGO_SETTINGS_MODULE"] == "threetier.webapp.settings.production"
    assert environment["THREETIER_REVISION"] == REVISION
    assert environment["PORT"] == str(APP_PORT)
    assert environment["THREETIER_DB_SSLMODE"] == "require"
    assert {s["Name"] for s in container["Secrets"]} == SECRETS
    assert not SECRETS & environment.keys(), "a secret must never be a plain environment variable"


def test_media_directory_is_the_efs_access_point_over_tls(built):
    task = _web_container(built)
    (volume,) = task["Volumes"]
    config = volume["EFSVolumeConfiguration"]
    assert config["TransitEncryption"] == "ENABLED"
    assert config["AuthorizationConfig"]["IAM"] == "ENABLED"
    assert config["AuthorizationConfig"]["AccessPointId"]["Ref"].startswith(
        "StorageFileSystemMediaAccessPoint"
    )
    (container,) = task["ContainerDefinitions"]
    assert container["MountPoints"][0]["SourceVolume"] == volume["Name"]


def test_service_is_registered_by_ip_into_the_alb_target_group(built):
    template = built.template()
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "LaunchType": "FARGATE",
            "LoadBalancers": [
                {
                    "ContainerName": "web",
                    "ContainerPort": APP_PORT,
                    "TargetGroupArn": {"Ref": Match.string_like_regexp("^Targets")},
                }
            ],
            "NetworkConfiguration": {
                "AwsvpcConfiguration": Match.object_like({"AssignPublicIp": "DISABLED"})
            },
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup", {"TargetType": "ip"}
    )


def test_alb_to_task_rule_is_not_duplicated(built):
    """Attaching the service re-adds the ALB → web rule part-1 already has: CDK must merge them."""
    rules = built.template().find_resources(
        "AWS::EC2::SecurityGroupIngress", {"Properties": {"FromPort": APP_PORT, "ToPort": APP_PORT}}
    )
    assert len(rules) == 1, rules


def test_rolling_deploy_rolls_back_on_failure_and_allows_ecs_exec(built):
    built.template().has_resource_properties(
        "AWS::ECS::Service",
        {
            "DeploymentConfiguration": Match.object_like(
                {
                    "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                    "MinimumHealthyPercent": 100,
                }
            ),
            "EnableExecuteCommand": True,
        },
    )


def test_cpu_autoscaling_between_min_and_max_tasks(built):
    template = built.template()
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": 1, "MaxCapacity": 3, "ScalableDimension": "ecs:service:DesiredCount"},
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                },
                "TargetValue": 50,
            }
        },
    )


def test_migrations_are_a_one_off_task_definition(built):
    found = built.template().find_resources(
        "AWS::ECS::TaskDefinition",
        {"Properties": {"ContainerDefinitions": [Match.object_like({"Name": "migrate"})]}},
    )
    (definition,) = found.values()
    (container,) = definition["Properties"]["ContainerDefinitions"]
    assert container["Command"] == MIGRATE_COMMAND
    assert {s["Name"] for s in container["Secrets"]} == SECRETS
    built.template().resource_count_is("AWS::ECS::Service", 1)  # nothing keeps it running


def test_migration_outputs_name_what_run_task_needs(built):
    outputs = built.values["outputs"]
    assert set(outputs) >= {
        "MigrationCluster",
        "MigrationTaskDefinition",
        "MigrationSubnets",
        "MigrationSecurityGroups",
    }
    assert "MigrateTask" in json.dumps(outputs["MigrationTaskDefinition"])
    assert outputs["MigrationAssignPublicIp"] == "DISABLED"


def test_image_is_an_asset_built_at_deploy_time_per_commit(built):
    manifest = json.loads(next(built.outdir.glob("Test.assets.json")).read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "Dockerfile"
    assert image["source"]["dockerBuildArgs"] == {"THREETIER_REVISION": REVISION}
    assert image["source"]["platform"] == "linux/amd64"
    staged = built.outdir / image["source"]["directory"]
    names = {p.name for p in staged.iterdir()}
    assert {"Dockerfile", "pyproject.toml", "src"} <= names
    assert not {".venv", ".git", "tests", "cdk.out"} & names, names


def test_task_role_is_scoped_to_the_media_file_system(built):
    role_policies = [
        s
        for r in built.raw()["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        and any("FargateTaskTaskRole" in json.dumps(x) for x in r["Properties"]["Roles"])
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    mount = [s for s in role_policies if "elasticfilesystem:ClientMount" in json.dumps(s["Action"])]
    assert len(mount) == 1 and mount[0]["Resource"] != "*"


def test_fargate_cpu_alarm_watches_the_service(built):
    built.template().has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "Threshold": 60, "Period": 60},
    )


def test_held_service_stays_on_its_revision_while_both_definitions_get_the_new_image(built):
    template = built.template("Pinned")
    (service,) = template.find_resources("AWS::ECS::Service").values()
    assert service["Properties"]["TaskDefinition"] == HELD
    images = {}
    for definition in template.find_resources("AWS::ECS::TaskDefinition").values():
        (container,) = definition["Properties"]["ContainerDefinitions"]
        images[container["Name"]] = json.dumps(container["Image"])
    assert images["web"] == images["migrate"]
    assert "cdk-hnb659fds-container-assets" in images["migrate"]


def test_web_task_definition_outlives_its_replacement(built):
    """CloudFormation keeps the old revision ACTIVE: a rollback may point the service back."""
    retained = {
        definition["Properties"]["ContainerDefinitions"][0]["Name"]
        for definition in built.template().find_resources("AWS::ECS::TaskDefinition").values()
        if definition.get("UpdateReplacePolicy") == "Retain"
    }
    assert retained == {"web"}


def test_no_unacknowledged_nag_findings(built):
    assert (
        built.findings_under(
            "Test/Fargate", "Test/Storage", "Test/AppLogs", "Test/Monitoring", "Pinned/Fargate"
        )
        == []
    )


@pytest.mark.parametrize(
    ("cpu", "memory", "hint"), [(256, 700, "512, 1024, 2048"), (1024, 1024, "2048..8192")]
)
def test_a_task_size_fargate_does_not_offer_is_a_spec_error(cpu, memory, hint):
    with pytest.raises(SpecError) as raised:
        part2_spec(
            "default", web={"runtime": "fargate", "fargate": {"cpu": cpu, "memory_mib": memory}}
        )
    assert any(d.startswith("web.fargate: memory_mib") and hint in d for d in raised.value.details)
