"""web.runtime = "fargate" as wired (seeds 002/004): ECS behind the same ALB, no EC2 web servers."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match
from aws_helpers import logical_ids, ref

from threetier.aws.constructs.containers import MIGRATE_COMMAND


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
                {"DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}
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


def test_image_is_built_from_the_dockerfile_at_deploy_time(synthesized):
    built = synthesized("fargate")
    manifest = json.loads((built.result.outdir / "threetier-fargate.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "Dockerfile"
    assert image["source"]["platform"] == "linux/amd64"
