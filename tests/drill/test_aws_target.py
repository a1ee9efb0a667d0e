"""`AwsTarget` against a local moto server: it finds the deployed fleet from the stack,
terminates an instance, and sets and restores the capacity; clear errors otherwise.

The stack is a small hand-written template with the resource types and outputs the real
system stack has (Url, LoadBalancerDnsName, an Auto Scaling group attached to an ALB
target group); tests/aws proves the synthesized template deploys. moto runs no health
checks (every registered running instance is "healthy") and serves no URL, so what a
drill measures — detection and recovery times, failed requests — cannot be tested here.
"""

from __future__ import annotations

import itertools
import json
import time
import tomllib
import urllib.request

import boto3
import pytest
from support.moto_process import moto_server

from threetier.aws.naming import system_stack_name
from threetier.cli.main import main
from threetier.drill.aws_target import HEALTH_POLL_SECONDS, SAVED_CAPACITY_TAG, AwsTarget
from threetier.errors import ThreetierError
from threetier.paths import parameters_dir
from threetier.spec import load_spec, parse_spec

pytestmark = pytest.mark.moto

CAPACITY = 2



@pytest.fixture(scope="module")
def moto_endpoint():
    with moto_server() as endpoint:
        yield endpoint


def reset_moto(endpoint: str) -> None:
    """Empty every moto backend: each test builds its own stack, instances and tags."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture(scope="module")
def ami(moto_endpoint) -> str:
    """One of moto's stock images (listing them is slow: once per module; reset keeps them)."""
    ec2 = boto3.client(
        "ec2",
        region_name="ap-northeast-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch):
    """The process environment pointing boto3 at moto, with throwaway credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return moto_endpoint


def fleet_template(ami: str) -> dict:
    subnets = {
        f"Subnet{az}": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "CidrBlock": cidr,
                "AvailabilityZone": f"ap-northeast-1{az}",
            },
        }
        for az, cidr in (("a", "10.0.2.0/24"), ("c", "10.0.1.0/24"))
    }
    subnet_refs = [{"Ref": name} for name in subnets]
    return {
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
            **subnets,
            "TargetGroup": {
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "VpcId": {"Ref": "Vpc"},
                    "Port": 8000,
                    "Protocol": "HTTP",
                    "TargetType": "instance",
                    "HealthCheckPath": "/healthz",
                },
            },
            "Alb": {
                "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "Properties": {"Subnets": subnet_refs, "Scheme": "internet-facing"},
            },
            "Listener": {
                "Type": "AWS::ElasticLoadBalancingV2::Listener",
                "Properties": {
                    "LoadBalancerArn": {"Ref": "Alb"},
                    "Port": 80,
                    "Protocol": "HTTP",
                    "DefaultActions": [
                        {"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}
                    ],
                },
            },
            "LaunchTemplate": {
                "Type": "AWS::EC2::LaunchTemplate",
                "Properties": {"LaunchTemplateData": {"ImageId": ami, "InstanceType": "t3.micro"}},
            },
            "Group": {
                "Type": "AWS::AutoScaling::AutoScalingGroup",
                "Properties": {
                    "MinSize": str(CAPACITY),
                    "MaxSize": "4",
                    "DesiredCapacity": str(CAPACITY),
                    "VPCZoneIdentifier": subnet_refs,
                    "LaunchTemplate": {
                        "LaunchTemplateId": {"Ref": "LaunchTemplate"},
                        "Version": {"Fn::GetAtt": ["LaunchTemplate", "LatestVersionNumber"]},
                    },
                    "TargetGroupARNs": [{"Ref": "TargetGroup"}],
                },
            },
        },
        "Outputs": {
            "Url": {"Value": {"Fn::Join": ["", ["http://", {"Fn::GetAtt": ["Alb", "DNSName"]}]]}},
            "LoadBalancerDnsName": {"Value": {"Fn::GetAtt": ["Alb", "DNSName"]}},
        },
    }


@pytest.fixture
def deployed(aws_env, ami):
    """A fresh default-environment stack on moto (moto is reset afterwards): (spec, clients)."""
    spec = load_spec("default")
    region = spec.project.region

    def client(service):
        return boto3.client(service, region_name=region)

    name = system_stack_name(spec)
    cloudformation = client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(fleet_template(ami)))
    deadline = time.monotonic() + 30
    while cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"].endswith(
        "_IN_PROGRESS"
    ):
        assert time.monotonic() < deadline, "the stack did not settle on moto"
        time.sleep(0.1)
    try:
        yield spec, client
    finally:
        reset_moto(aws_env)


def ticking(step: float = 10.0):
    """A clock that jumps past the health poll interval on every reading."""
    return itertools.count(step=step).__next__


def _group(client) -> dict:
    groups = client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    (group,) = [g for g in groups if g["TargetGroupARNs"]]
    return group


def test_for_spec_finds_the_url_the_group_and_its_target_group(deployed):
    spec, client = deployed
    target = AwsTarget.for_spec(spec)
    group = _group(client)
    alb = client("elbv2").describe_load_balancers()["LoadBalancers"][0]
    assert target.url == f"http://{alb['DNSName']}"
    assert target.label == "aws default"
    assert target.fleet.target_group_arn == group["TargetGroupARNs"][0]
    assert sorted(target.instance_names()) == sorted(i["InstanceId"] for i in group["Instances"])
    assert len(target.instance_names()) == CAPACITY
    # moto calls every registered running instance healthy (it runs no health checks).
    assert target.target_health() == {name: True for name in target.instance_names()}
    assert target.instances_answering() == target.target_health()


def test_kill_instance_terminates_it_and_its_replacement_takes_its_name(deployed):
    spec, client = deployed
    target = AwsTarget.for_spec(spec, clock=ticking())
    victim, survivor = target.instance_names()
    target.kill_instance(victim)

    (instance,) = client("ec2").describe_instances(InstanceIds=[victim])["Reservations"][0][
        "Instances"
    ]
    assert instance["State"]["Name"] in ("shutting-down", "terminated")
    names = target.instance_names()
    assert victim not in names and survivor in names and len(names) == CAPACITY
    targets = {
        d["Target"]["Id"]
        for d in client("elbv2").describe_target_health(
            TargetGroupArn=target.fleet.target_group_arn
        )["TargetHealthDescriptions"]
    }
    assert victim not in targets
    # The drill polls the victim's name until its replacement is healthy. moto's group
    # does not register a replacement in the target group (AWS does): until that, the
    # victim's name reads unhealthy, and the test registers it as AWS would.
    health = target.target_health()
    assert health[victim] is False and set(health) == {victim, *names}
    (newcomer,) = set(names) - {survivor}
    client("elbv2").register_targets(
        TargetGroupArn=target.fleet.target_group_arn, Targets=[{"Id": newcomer, "Port": 8000}]
    )
    assert target.target_health() == {victim: True, survivor: True, newcomer: True}


def test_target_health_asks_aws_at_most_once_per_poll_interval(deployed):
    spec, client = deployed
    now = [0.0]
    target = AwsTarget.for_spec(spec, clock=lambda: now[0])
    first, second = target.instance_names()
    assert target.target_health() == {first: True, second: True}
    client("elbv2").deregister_targets(
        TargetGroupArn=target.fleet.target_group_arn, Targets=[{"Id": first, "Port": 8000}]
    )
    now[0] = HEALTH_POLL_SECONDS / 2
    assert target.target_health()[first] is True  # the answer from the last call
    now[0] = HEALTH_POLL_SECONDS
    assert target.target_health() == {first: False, second: True}


def test_kill_instance_refuses_an_instance_outside_the_group(deployed, ami):
    spec, client = deployed
    target = AwsTarget.for_spec(spec)
    (stranger,) = client("ec2").run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"]
    with pytest.raises(ThreetierError, match="is not a web server"):
        target.kill_instance(stranger["InstanceId"])
    (instance,) = client("ec2").describe_instances(InstanceIds=[stranger["InstanceId"]])[
        "Reservations"
    ][0]["Instances"]
    assert instance["State"]["Name"] == "running"


def test_stop_sets_capacity_to_zero_and_start_restores_it(deployed):
    spec, client = deployed
    target = AwsTarget.for_spec(spec)
    target.stop_instances()
    group = _group(client)
    assert (group["MinSize"], group["DesiredCapacity"]) == (0, 0)
    assert {t["Key"]: t["Value"] for t in group["Tags"]}[SAVED_CAPACITY_TAG] == json.dumps(
        {"min": CAPACITY, "desired": CAPACITY}
    )
    assert target.instance_names() == []
    assert target.target_health() == {}

    target.stop_instances()  # a second stop keeps the capacity saved by the first
    target2 = AwsTarget.for_spec(spec)  # a new process (a drill that died) can still restore it
    target2.start_instances()
    group = _group(client)
    assert (group["MinSize"], group["DesiredCapacity"]) == (CAPACITY, CAPACITY)
    assert SAVED_CAPACITY_TAG not in {t["Key"] for t in group["Tags"]}
    assert len(target2.instance_names()) == CAPACITY
    assert all(target2.target_health().values())


def test_start_without_a_saved_capacity_leaves_a_running_group_alone(deployed):
    spec, client = deployed
    name = _group(client)["AutoScalingGroupName"]
    autoscaling = client("autoscaling")
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=3, DesiredCapacity=3)
    AwsTarget.for_spec(spec).start_instances()
    assert (_group(client)["MinSize"], _group(client)["DesiredCapacity"]) == (3, 3)
    # Emptied by hand (no saved capacity): start brings it to the parameters' minimum.
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, DesiredCapacity=0)
    AwsTarget.for_spec(spec).start_instances()
    minimum = max(spec.web.autoscaling.min_capacity, len(spec.web_azs))
    assert (_group(client)["MinSize"], _group(client)["DesiredCapacity"]) == (minimum, minimum)


def test_an_environment_that_is_not_deployed_says_deploy_first(aws_env):
    spec = load_spec("prod")
    with pytest.raises(ThreetierError) as caught:
        AwsTarget.for_spec(spec)
    assert (
        "not deployed" in caught.value.message and system_stack_name(spec) in caught.value.message
    )
    assert "deploy" in caught.value.fix


def test_no_credentials_is_a_clear_error(aws_env, monkeypatch, tmp_path):
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ThreetierError) as caught:
        AwsTarget.for_spec(load_spec("default"))
    assert "credentials" in str(caught.value).lower() and "aws configure" in caught.value.fix


def test_cli_drill_against_an_undeployed_environment_exits_1(aws_env, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code = main(["--env", "prod", "drill", "web", "--target", "aws"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "not deployed" in err and "threetier --env prod deploy" in err


def fargate_template() -> dict:
    template = fleet_template("unused")
    resources = template["Resources"]
    for name in ("LaunchTemplate", "Group"):
        del resources[name]
    resources["TargetGroup"]["Properties"]["TargetType"] = "ip"
    resources["Cluster"] = {"Type": "AWS::ECS::Cluster", "Properties": {}}
    resources["TaskDefinition"] = {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "Cpu": "256",
            "Memory": "512",
            "ContainerDefinitions": [
                {
                    "Name": "web",
                    "Image": "threetier:test",
                    "PortMappings": [{"ContainerPort": 8000}],
                }
            ],
        },
    }
    resources["Service"] = {
        "Type": "AWS::ECS::Service",
        "DependsOn": ["Listener"],
        "Properties": {
            "Cluster": {"Ref": "Cluster"},
            "TaskDefinition": {"Ref": "TaskDefinition"},
            "DesiredCount": CAPACITY,
            "LaunchType": "FARGATE",
            "LoadBalancers": [
                {
                    "ContainerName": "web",
                    "ContainerPort": 8000,
                    "TargetGroupArn": {"Ref": "TargetGroup"},
                }
            ],
        },
    }
    return template


def test_fargate_stop_lowers_desired_count_and_scaling_minimum_and_start_restores_them(aws_env):
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    data["web"]["runtime"] = "fargate"
    spec = parse_spec(data, env_name="default")
    region = spec.project.region
    cloudformation = boto3.client("cloudformation", region_name=region)
    cloudformation.create_stack(
        StackName=system_stack_name(spec), TemplateBody=json.dumps(fargate_template())
    )
    ecs = boto3.client("ecs", region_name=region)
    (cluster,) = ecs.list_clusters()["clusterArns"]
    (service,) = ecs.list_services(cluster=cluster)["serviceArns"]
    scaling = boto3.client("application-autoscaling", region_name=region)
    resource_id = "service/" + "/".join(service.split("/")[-2:])
    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=resource_id,
        MinCapacity=1,
        MaxCapacity=3,
        ScalableDimension="ecs:service:DesiredCount",
    )

    def state() -> tuple[int, int, list[str]]:
        (found,) = ecs.describe_services(cluster=cluster, services=[service], include=["TAGS"])[
            "services"
        ]
        (target,) = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        return (
            found["desiredCount"],
            target["MinCapacity"],
            [t["key"] for t in found.get("tags", [])],
        )

    try:
        target = AwsTarget.for_spec(spec)
        assert target.fleet.service == service
        target.stop_instances()
        assert state() == (0, 0, [SAVED_CAPACITY_TAG])
        AwsTarget.for_spec(spec).start_instances()
        assert state() == (CAPACITY, 1, [])
    finally:
        reset_moto(aws_env)


def with_database(template: dict) -> dict:
    """The fleet plus a Multi-AZ RDS instance in the two private subnets, as the system stack has."""
    resources = template["Resources"]
    resources["DbSubnets"] = {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {
        "DBSubnetGroupDescription": "database", "SubnetIds": [{"Ref": "Subneta"}, {"Ref": "Subnetc"}]}}
    resources["Database"] = {"Type": "AWS::RDS::DBInstance", "Properties": {
        "Engine": "postgres", "DBInstanceClass": "db.t4g.micro", "AllocatedStorage": "20", "MultiAZ": True,
        "MasterUsername": "uda_admin", "MasterUserPassword": "not-a-real-one-1", "DBSubnetGroupName": {
            "Ref": "DbSubnets"}, "AvailabilityZone": "ap-northeast-1a"}}
    return template


class Recording:
    """A client factory that records the RDS calls a drill makes (moto's reboot leaves no trace)."""

    def __init__(self, region: str):
        self.region, self.calls = region, []

    def __call__(self, service: str):
        real = boto3.client(service, region_name=self.region)
        if service != "rds":
            return real
        calls = self.calls

        class Rds:
            def __getattr__(self, name):
                method = getattr(real, name)

                def call(**kwargs):
                    calls.append((name, kwargs))
                    return method(**kwargs)
                return call
        return Rds()


@pytest.fixture
def deployed_with_database(aws_env, ami):
    spec = load_spec("prod")
    name, region = system_stack_name(spec), spec.project.region
    cloudformation = boto3.client("cloudformation", region_name=region)
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(with_database(fleet_template(ami))))
    deadline = time.monotonic() + 30
    while cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"].endswith("_IN_PROGRESS"):
        assert time.monotonic() < deadline, "the stack did not settle on moto"
        time.sleep(0.1)
    try:
        yield spec, Recording(region)
    finally:
        reset_moto(aws_env)


def test_drill_db_on_aws_reboots_the_instance_with_force_failover(deployed_with_database):
    spec, client = deployed_with_database
    target = AwsTarget.for_spec(spec, client=client)
    assert target.kind == "aws"
    roles = target.database_roles()
    primary = next(name for name, role in roles.items() if role == "primary")
    assert primary.endswith("@ap-northeast-1a")
    assert target.kill_primary_database() == primary
    (reboot,) = [kwargs for name, kwargs in client.calls if name == "reboot_db_instance"]
    assert reboot["ForceFailover"] is True and reboot["DBInstanceIdentifier"] == target.database.identifier


def test_drill_az_on_aws_terminates_the_zones_instances_and_fails_the_database_over(deployed_with_database):
    spec, client = deployed_with_database
    target = AwsTarget.for_spec(spec, client=client, clock=ticking())
    zones = target.instance_zones()
    assert set(zones) == set(target.instance_names())
    assert target.database_zones()[next(iter(target.database_roles()))] == "ap-northeast-1a"
    # moto's group puts every instance in the first subnet's AZ: the other AZ holds nothing.
    untouched = target.kill_zone("ap-northeast-1c")
    assert untouched == {"instances": [n for n, z in zones.items() if z == "ap-northeast-1c"], "databases": []}
    assert not any(name == "reboot_db_instance" for name, _ in client.calls)
    lost = target.kill_zone("ap-northeast-1a")
    in_1a = sorted(name for name, zone in zones.items() if zone == "ap-northeast-1a")
    assert in_1a and sorted(lost["instances"]) == in_1a and lost["databases"]
    ec2 = boto3.client("ec2", region_name=spec.project.region)
    for reservation in ec2.describe_instances(InstanceIds=in_1a)["Reservations"]:
        assert {i["State"]["Name"] for i in reservation["Instances"]} <= {"shutting-down", "terminated"}
    assert [kwargs["ForceFailover"] for name, kwargs in client.calls if name == "reboot_db_instance"] == [True]
