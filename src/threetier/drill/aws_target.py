"""`drill --target aws`: a deployed environment as a DrillTarget, through the AWS API.

The system stack (`naming.system_stack_name`) is found by name; its `Url` output is what
the drills load, and its resources name the web fleet and the ALB target group:

- web.runtime = "ec2": the Auto Scaling group. Killing an instance terminates it (the
  group launches a replacement); stopping every instance sets min and desired capacity
  to 0 and starting restores them.
- web.runtime = "fargate": the ECS service. Killing stops one task (the service starts
  another); stopping sets the desired count (and the scaling minimum) to 0.

The capacity before a stop is saved in a tag on the group (or service), so a drill that
dies halfway can still be undone by the next `start_instances` (or by hand).

Web servers sit in private subnets: nothing on this machine can ask one directly, so
`instances_answering` reports what the load balancer's health checks see.

The AWS API is reached through `threetier.aws.api`, which honours AWS_ENDPOINT_URL: that is
how the tests point this at a local moto server. moto runs no health checks and serves no URL,
so only the API side (finding the fleet, terminate, capacity) is tested there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from threetier.aws.api import (
    DRILL,
    aws_errors,
    clients,
    describe_stack,
    outputs_of,
    stack_resources,
)
from threetier.aws.naming import system_stack_name
from threetier.errors import ThreetierError
from threetier.spec import Spec

SAVED_CAPACITY_TAG = "threetier:drill-saved-capacity"
# Drills poll every 20 ms; the AWS API throttles long before that, and the ALB checks
# a target every 5 s at the fastest, so once a second loses nothing.
HEALTH_POLL_SECONDS = 1.0
ASG_TYPE = "AWS::AutoScaling::AutoScalingGroup"
TARGET_GROUP_TYPE = "AWS::ElasticLoadBalancingV2::TargetGroup"
ECS_SERVICE_TYPE = "AWS::ECS::Service"
ECS_CLUSTER_TYPE = "AWS::ECS::Cluster"
DB_INSTANCE_TYPE = "AWS::RDS::DBInstance"
USABLE_STACK_STATES = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
}
GONE_STATES = ("Terminating", "Terminated", "Detaching", "Detached")


def _stack(cloudformation: Any, name: str, region: str, env: str) -> tuple[dict[str, str], list[dict]]:
    """(outputs, resources) of a deployed, usable stack."""
    stack = describe_stack(cloudformation, name)
    if stack is None:
        raise ThreetierError(
            f"the environment {env!r} is not deployed: no stack {name} in {region}",
            fix=f"deploy it first: `threetier --env {env} deploy`",
        )
    status = stack["StackStatus"]
    if status not in USABLE_STACK_STATES:
        raise ThreetierError(
            f"the stack {name} is {status}, not deployed and settled",
            fix="wait for the deployment to finish, or fix it and `threetier deploy` again",
        )
    return outputs_of(stack), stack_resources(cloudformation, name)


def _of_type(resources: list[dict], kind: str) -> list[str]:
    return [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == kind]


class AwsTarget:
    """A deployed environment: `for_spec` finds it; the methods act on it."""

    kind = "aws"

    def __init__(
        self,
        spec: Spec,
        *,
        url: str,
        fleet: _Ec2Fleet | _EcsFleet,
        client: Any,
        clock: Callable[[], float] = time.monotonic,
        database: _Database | None = None,
    ) -> None:
        self.spec = spec
        self.label = f"aws {spec.env_name}"
        self.url = url.rstrip("/")
        # A public certificate: the system's trust store. (requests lets REQUESTS_CA_BUNDLE
        # replace verify=True; the drills' sessions switch that off, see drill.load.)
        self.verify: str | bool = True
        self.fleet = fleet
        self._elbv2 = client("elbv2")
        self._clock = clock
        self.database = database
        self._last_health: tuple[float, dict[str, bool]] | None = None

    @classmethod
    def for_spec(
        cls, spec: Spec, *, client: Any = None, clock: Callable[[], float] = time.monotonic
    ) -> AwsTarget:
        """The environment `spec` describes, as deployed; ThreetierError when it is not."""
        client = client or clients(spec.project.region, DRILL)
        name, region = system_stack_name(spec), spec.project.region
        outputs, resources = _stack(client("cloudformation"), name, region, spec.env_name)
        url = outputs.get("Url") or (
            f"http://{outputs['LoadBalancerDnsName']}"
            if outputs.get("LoadBalancerDnsName")
            else None
        )
        if not url:
            raise ThreetierError(
                f"the stack {name} has no Url output", fix="redeploy it with this version"
            )
        groups = _of_type(resources, TARGET_GROUP_TYPE)
        if spec.web.runtime == "fargate":
            fleet: _Ec2Fleet | _EcsFleet = _EcsFleet.from_resources(client, name, resources, spec)
        else:
            fleet = _Ec2Fleet.from_resources(client, name, resources, spec)
        fleet.target_group_arn = _pick_target_group(groups, fleet.attached_target_groups(), name)
        databases = _of_type(resources, DB_INSTANCE_TYPE)
        database = _Database(client, databases[0]) if len(databases) == 1 else None
        return cls(spec, url=url, fleet=fleet, client=client, clock=clock, database=database)

    # --- DrillTarget -------------------------------------------------------------------

    # An EC2 instance installs the app at boot: minutes, not seconds.
    boot_timeout_seconds = 900.0

    def health_check(self) -> dict:
        """The target group's health check, as deployed from the parameters."""
        return self.spec.load_balancer.health_check.model_dump()

    def instance_names(self) -> list[str]:
        return list(self.fleet.members())

    def target_health(self) -> dict[str, bool]:
        """name → True when the target group reports it `healthy` (initial, draining,
        unhealthy and unused all mean it gets no traffic). A killed instance keeps its
        name: it counts as healthy again once its replacement is.

        Drills poll this many times a second; the AWS API is asked at most once per
        HEALTH_POLL_SECONDS (the ALB itself checks every 5 s or more)."""
        now = self._clock()
        if self._last_health and now - self._last_health[0] < HEALTH_POLL_SECONDS:
            return dict(self._last_health[1])
        with aws_errors("reading the target group's health"):
            descriptions = self._elbv2.describe_target_health(
                TargetGroupArn=self.fleet.target_group_arn
            )
        by_target = {
            d["Target"]["Id"]: d["TargetHealth"]["State"] == "healthy"
            for d in descriptions["TargetHealthDescriptions"]
        }
        members = self.fleet.members()
        health = {name: by_target.get(target, False) for name, target in members.items()}
        for victim, before in self.fleet.replaced.items():
            newcomers = [health.get(name, False) for name in members if name not in before]
            health[victim] = health.get(victim, False) or any(newcomers)
        self._last_health = (now, health)
        return dict(health)

    def instances_answering(self) -> dict[str, bool]:
        """The web servers are private: their own health endpoint cannot be reached from
        here, so this is the load balancer's view (`target_health`)."""
        return self.target_health()

    def kill_instance(self, name: str) -> None:
        members = self.fleet.members()
        if name not in members:
            raise ThreetierError(
                f"{name} is not a web server of {self.label}",
                fix=f"use one of: {', '.join(members) or '(none running)'}",
            )
        self.fleet.replaced[name] = set(members)
        self.fleet.kill(name)
        self._last_health = None

    def stop_instances(self) -> None:
        self.fleet.stop()
        self._last_health = None

    def start_instances(self) -> None:
        self.fleet.start()
        self._last_health = None

    # --- drill db / drill az ---------------------------------------------------------------

    def _require_database(self) -> _Database:
        if self.database is None:
            raise ThreetierError(
                f"{self.label}: no RDS instance found in the system stack",
                fix="redeploy the environment with this version of threetier",
            )
        return self.database

    def database_roles(self) -> dict[str, str]:
        """'<db id>@<AZ>' → 'primary' | 'standby' (| 'down' while RDS reboots or fails over)."""
        return self._require_database().roles()

    def database_zones(self) -> dict[str, str]:
        return self._require_database().zones()

    def kill_primary_database(self) -> str:
        """RebootDBInstance with ForceFailover (Multi-AZ): RDS moves the endpoint to the standby."""
        return self._require_database().fail_over()

    def instance_zones(self) -> dict[str, str]:
        return self.fleet.zones()

    def kill_zone(self, az: str) -> dict[str, list[str]]:
        """Terminate every web server in `az` and, when the primary is there, fail the
        database over (the API side of FIS's power interruption; subnets are not cut)."""
        instances = [name for name, zone in self.instance_zones().items() if zone == az]
        databases = []
        if self.database is not None:
            roles, zones = self.database.roles(), self.database.zones()
            if any(roles.get(name) == "primary" and zone == az for name, zone in zones.items()):
                databases.append(self.database.fail_over())
        for name in instances:
            self.kill_instance(name)
        return {"instances": instances, "databases": databases}

    def restore_zone(self, az: str) -> None:
        """Nothing to do: the Auto Scaling group launches replacements and RDS rebuilds the standby."""


def _pick_target_group(in_stack: list[str], attached: list[str], stack: str) -> str:
    candidates = [arn for arn in attached if arn in in_stack] or attached or in_stack
    if len(candidates) != 1:
        raise ThreetierError(
            f"expected one target group for the web tier in {stack}, found {len(candidates)}",
            fix="redeploy the environment with this version of threetier",
        )
    return candidates[0]


def _saved(tags: list[dict], key: str = "Key", value: str = "Value") -> dict | None:
    for tag in tags:
        if tag[key] == SAVED_CAPACITY_TAG:
            return json.loads(tag[value])
    return None


class _Ec2Fleet:
    """The Auto Scaling group: members are instance ids (also the target ids)."""

    def __init__(self, client: Any, asg_name: str, spec: Spec) -> None:
        self.asg_name = asg_name
        self.spec = spec
        self.target_group_arn = ""
        self.replaced: dict[str, set[str]] = {}
        self._autoscaling, self._ec2 = client("autoscaling"), client("ec2")

    @classmethod
    def from_resources(cls, client: Any, stack: str, resources: list[dict], spec: Spec) -> _Ec2Fleet:
        groups = _of_type(resources, ASG_TYPE)
        if len(groups) != 1:
            raise ThreetierError(
                f"expected one Auto Scaling group in {stack}, found {len(groups)}",
                fix='was it deployed with web.runtime = "fargate"? Drill with the parameters it used',
            )
        return cls(client, groups[0], spec)

    def group(self) -> dict[str, Any]:
        with aws_errors(f"reading the Auto Scaling group {self.asg_name}"):
            found = self._autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=[self.asg_name]
            )
        if not found["AutoScalingGroups"]:
            raise ThreetierError(
                f"the Auto Scaling group {self.asg_name} is gone", fix="redeploy the environment"
            )
        return found["AutoScalingGroups"][0]

    def attached_target_groups(self) -> list[str]:
        return list(self.group().get("TargetGroupARNs", []))

    def zones(self) -> dict[str, str]:
        """instance id → its AZ."""
        return {
            i["InstanceId"]: i["AvailabilityZone"]
            for i in self.group()["Instances"] if not i["LifecycleState"].startswith(GONE_STATES)
        }

    def members(self) -> dict[str, str]:
        instances = [
            i for i in self.group()["Instances"] if not i["LifecycleState"].startswith(GONE_STATES)
        ]
        ordered = sorted(instances, key=lambda i: (i["AvailabilityZone"], i["InstanceId"]))
        return {i["InstanceId"]: i["InstanceId"] for i in ordered}

    def kill(self, name: str) -> None:
        with aws_errors(f"terminating {name}"):
            self._ec2.terminate_instances(InstanceIds=[name])

    def stop(self) -> None:
        group = self.group()
        if _saved(group.get("Tags", [])) is None:  # a second stop must not save the zeros
            saved = {"min": group["MinSize"], "desired": group["DesiredCapacity"]}
            self._tag(json.dumps(saved))
        with aws_errors(f"setting the capacity of {self.asg_name} to 0"):
            self._autoscaling.update_auto_scaling_group(
                AutoScalingGroupName=self.asg_name, MinSize=0, DesiredCapacity=0
            )

    def start(self) -> None:
        group = self.group()
        saved = _saved(group.get("Tags", []))
        if saved is None:
            if group["DesiredCapacity"] > 0:
                return  # never stopped by a drill
            minimum = max(self.spec.web.autoscaling.min_capacity, len(self.spec.web_azs))
            saved = {"min": minimum, "desired": minimum}
        with aws_errors(f"restoring the capacity of {self.asg_name}"):
            self._autoscaling.update_auto_scaling_group(
                AutoScalingGroupName=self.asg_name,
                MinSize=saved["min"],
                DesiredCapacity=saved["desired"],
            )
            self._autoscaling.delete_tags(Tags=[self._tag_spec("")])

    def _tag(self, value: str) -> None:
        with aws_errors(f"tagging {self.asg_name}"):
            self._autoscaling.create_or_update_tags(Tags=[self._tag_spec(value)])

    def _tag_spec(self, value: str) -> dict[str, Any]:
        return {
            "ResourceId": self.asg_name,
            "ResourceType": "auto-scaling-group",
            "Key": SAVED_CAPACITY_TAG,
            "Value": value,
            "PropagateAtLaunch": False,
        }


class _EcsFleet:
    """The Fargate service: members are task ids; the target group holds their IPs."""

    def __init__(self, client: Any, cluster: str, service: str, spec: Spec) -> None:
        self.cluster, self.service = cluster, service
        self.spec = spec
        self.target_group_arn = ""
        self.replaced: dict[str, set[str]] = {}
        self._ecs, self._scaling = client("ecs"), client("application-autoscaling")
        self._task_ips: dict[str, str] = {}

    @classmethod
    def from_resources(cls, client: Any, stack: str, resources: list[dict], spec: Spec) -> _EcsFleet:
        services, clusters = (
            _of_type(resources, ECS_SERVICE_TYPE),
            _of_type(resources, ECS_CLUSTER_TYPE),
        )
        if len(services) != 1 or not clusters:
            raise ThreetierError(
                f"expected one ECS service and its cluster in {stack}, "
                f"found {len(services)} and {len(clusters)}",
                fix='was it deployed with web.runtime = "ec2"? Drill with the parameters it used',
            )
        service = services[0]
        # The service's ARN names its cluster (arn:...:service/<cluster>/<service>).
        cluster = service.split("/")[-2] if service.count("/") >= 2 else clusters[0]
        return cls(client, cluster, service, spec)

    def describe(self) -> dict[str, Any]:
        with aws_errors(f"reading the ECS service {self.service}"):
            found = self._ecs.describe_services(
                cluster=self.cluster, services=[self.service], include=["TAGS"]
            )
        if not found["services"]:
            raise ThreetierError(
                f"the ECS service {self.service} is gone", fix="redeploy the environment"
            )
        return found["services"][0]

    def attached_target_groups(self) -> list[str]:
        return [
            lb["targetGroupArn"]
            for lb in self.describe().get("loadBalancers", [])
            if "targetGroupArn" in lb
        ]

    def members(self) -> dict[str, str]:
        """task id → its private IP (the target id), for tasks that are meant to run."""
        with aws_errors(f"listing the tasks of {self.service}"):
            arns = self._ecs.list_tasks(
                cluster=self.cluster, serviceName=self.service, desiredStatus="RUNNING"
            )
            tasks = (
                self._ecs.describe_tasks(cluster=self.cluster, tasks=arns["taskArns"])["tasks"]
                if arns["taskArns"]
                else []
            )
        members = {}
        for task in sorted(tasks, key=lambda t: (t.get("availabilityZone", ""), t["taskArn"])):
            members[task["taskArn"].rsplit("/", 1)[-1]] = _task_ip(task)
        return members

    def zones(self) -> dict[str, str]:
        """task id → its AZ."""
        with aws_errors(f"listing the tasks of {self.service}"):
            arns = self._ecs.list_tasks(
                cluster=self.cluster, serviceName=self.service, desiredStatus="RUNNING"
            )["taskArns"]
            tasks = self._ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"] if arns else []
        return {t["taskArn"].rsplit("/", 1)[-1]: t.get("availabilityZone", "") for t in tasks}

    def kill(self, name: str) -> None:
        with aws_errors(f"stopping the task {name}"):
            self._ecs.stop_task(cluster=self.cluster, task=name, reason="threetier drill web")

    def stop(self) -> None:
        service = self.describe()
        if _saved(service.get("tags", []), "key", "value") is None:
            saved = {"desired": service["desiredCount"], "min": self._scaling_min()}
            with aws_errors(f"tagging {self.service}"):
                self._ecs.tag_resource(
                    resourceArn=service["serviceArn"],
                    tags=[{"key": SAVED_CAPACITY_TAG, "value": json.dumps(saved)}],
                )
        # Scaling would bring tasks back up to its minimum: lower it first.
        self._set_scaling_min(0)
        with aws_errors(f"setting the desired count of {self.service} to 0"):
            self._ecs.update_service(cluster=self.cluster, service=self.service, desiredCount=0)

    def start(self) -> None:
        service = self.describe()
        saved = _saved(service.get("tags", []), "key", "value")
        if saved is None:
            if service["desiredCount"] > 0:
                return
            saved = {
                "desired": self.spec.web.fargate.min_tasks,
                "min": self.spec.web.fargate.min_tasks,
            }
        if saved.get("min") is not None:
            self._set_scaling_min(saved["min"])
        with aws_errors(f"restoring the desired count of {self.service}"):
            self._ecs.update_service(
                cluster=self.cluster, service=self.service, desiredCount=saved["desired"]
            )
            self._ecs.untag_resource(
                resourceArn=service["serviceArn"], tagKeys=[SAVED_CAPACITY_TAG]
            )

    def _resource_id(self) -> str:
        return f"service/{self.cluster}/{self.service.rsplit('/', 1)[-1]}"

    def _scaling_min(self) -> int | None:
        with aws_errors("reading the service's scaling target"):
            targets = self._scaling.describe_scalable_targets(
                ServiceNamespace="ecs", ResourceIds=[self._resource_id()]
            )["ScalableTargets"]
        return targets[0]["MinCapacity"] if targets else None

    def _set_scaling_min(self, minimum: int) -> None:
        if self._scaling_min() is None:
            return
        with aws_errors("changing the service's scaling minimum"):
            self._scaling.register_scalable_target(
                ServiceNamespace="ecs",
                ResourceId=self._resource_id(),
                ScalableDimension="ecs:service:DesiredCount",
                MinCapacity=minimum,
            )


def _task_ip(task: dict) -> str:
    for attachment in task.get("attachments", []):
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address":
                return detail["value"]
    return ""


class _Database:
    """The RDS instance of the system stack: where its primary and standby are, and a
    failover (RebootDBInstance with ForceFailover) for `drill db` and `drill az`."""

    def __init__(self, client: Any, identifier: str) -> None:
        self.identifier = identifier
        self._rds = client("rds")

    def describe(self) -> dict[str, Any]:
        with aws_errors(f"reading the RDS instance {self.identifier}"):
            found = self._rds.describe_db_instances(DBInstanceIdentifier=self.identifier)["DBInstances"]
        if not found:
            raise ThreetierError(f"the RDS instance {self.identifier} is gone", fix="redeploy the environment")
        return found[0]

    def zones(self) -> dict[str, str]:
        """'<id>@<AZ>' → AZ, the primary's first."""
        instance = self.describe()
        azs = [instance.get("AvailabilityZone"), instance.get("SecondaryAvailabilityZone")]
        return {f"{self.identifier}@{az}": az for az in azs if az}

    def roles(self) -> dict[str, str]:
        instance = self.describe()
        available = instance.get("DBInstanceStatus") == "available"
        roles = {}
        if instance.get("AvailabilityZone"):
            roles[f"{self.identifier}@{instance['AvailabilityZone']}"] = "primary" if available else "down"
        if instance.get("MultiAZ") and instance.get("SecondaryAvailabilityZone"):
            roles[f"{self.identifier}@{instance['SecondaryAvailabilityZone']}"] = "standby"
        return roles

    def fail_over(self) -> str:
        """Reboot with ForceFailover when Multi-AZ (a plain reboot otherwise); the primary's name."""
        instance = self.describe()
        name = f"{self.identifier}@{instance.get('AvailabilityZone')}"
        with aws_errors(f"rebooting {self.identifier} with failover"):
            self._rds.reboot_db_instance(
                DBInstanceIdentifier=self.identifier, ForceFailover=bool(instance.get("MultiAZ"))
            )
        return name
