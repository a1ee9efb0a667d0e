"""The synthesized templates deploy on a local moto server (CloudFormation reaches
CREATE_COMPLETE), and boto3 reads back what was built. What moto cannot create is listed
by `moto_adapter` and pinned here; docs/aws.md says what this does not prove.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import boto3
import pytest
from support.aws_helpers import DOMAIN, TEST_ZONE_ID
from support.moto_adapter import adapt_for_moto
from support.moto_process import moto_server

pytestmark = [pytest.mark.moto, pytest.mark.synth]

SYSTEM_REGION = "ap-northeast-1"
EDGE_REGION = "us-east-1"
# The ALB hosted zone of ap-northeast-1 (moto does not implement CanonicalHostedZoneID).
ALB_ZONE = "Z14GRHDCWA56QT"
STACK_WAIT_SECONDS = 60



@pytest.fixture(scope="module")
def moto_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@dataclass
class Deployed:
    client: callable
    outputs: dict[str, str]
    dropped: dict[str, set[str]]
    zone_id: str | None = None


def deploy(client, name: str, region: str, template: dict) -> dict[str, str]:
    cloudformation = client("cloudformation", region)
    cloudformation.create_stack(
        StackName=name, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
    )
    deadline = time.monotonic() + STACK_WAIT_SECONDS
    while True:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@pytest.fixture(scope="module")
def aws(moto_endpoint, synthesized):
    """Deploy default, prod, fargate and the 'domain' environment (edge + system) on moto."""

    def client(service: str, region: str = SYSTEM_REGION):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=moto_endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    for region in (SYSTEM_REGION, EDGE_REGION):
        # CDK templates read the bootstrap version from SSM.
        client("ssm", region).put_parameter(
            Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String"
        )
    zone_id = (
        client("route53")
        .create_hosted_zone(Name="example.com", CallerReference="threetier-test")["HostedZone"][
            "Id"
        ]
        .split("/")[-1]
    )
    certificate = client("acm").request_certificate(DomainName=DOMAIN)["CertificateArn"]
    options = {
        "substitutes": {"AWS::CertificateManager::Certificate": certificate},
        "attributes": {
            ("AWS::ElasticLoadBalancingV2::LoadBalancer", "CanonicalHostedZoneID"): ALB_ZONE
        },
    }
    deployed = {}
    for env in ("default", "prod", "domain", "fargate"):
        built = synthesized(env)
        outputs: dict[str, str] = {}
        dropped: dict[str, set[str]] = {}
        # The edge stack first: the system stack depends on it.
        for summary in sorted(built.result.stacks, key=lambda s: s.region != EDGE_REGION):
            text = json.dumps(built.templates[summary.name]).replace(TEST_ZONE_ID, zone_id)
            template, gone = adapt_for_moto(json.loads(text), **options)
            outputs |= deploy(client, summary.name, summary.region, template)
            dropped[summary.name] = set(gone.values())
        deployed[env] = Deployed(client=client, outputs=outputs, dropped=dropped, zone_id=zone_id)
    return deployed


def vpc_of(aws_env: Deployed, stack: str) -> str:
    resources = aws_env.client("cloudformation").describe_stack_resources(StackName=stack)[
        "StackResources"
    ]
    (vpc,) = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::EC2::VPC"]
    return vpc


def groups_by_role(aws_env: Deployed, vpc: str) -> dict[str, dict]:
    groups = aws_env.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}]
    )
    roles = {"ALB": "alb", "Web servers": "web", "Database": "db"}
    return {
        role: group
        for group in groups["SecurityGroups"]
        for prefix, role in roles.items()
        if group["Description"].startswith(prefix)
    }


# What moto's CloudFormation cannot create, per stack kind (docs/aws.md lists it too).
SYSTEM_DROPPED = {
    "AWS::AutoScaling::ScalingPolicy",
    "AWS::CloudTrail::Trail",
    "AWS::CloudWatch::Alarm",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::IAM::Group",
    "AWS::Lambda::Function",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SecretsManager::Secret",
    "AWS::SecretsManager::SecretTargetAttachment",
    "Custom::S3AutoDeleteObjects",
}


def test_what_moto_cannot_create_is_known(aws):
    """A new unsupported type must be noticed (and docs/aws.md updated), not silently skipped."""
    assert aws["domain"].dropped["threetier-domain"] == SYSTEM_DROPPED | {
        "AWS::CertificateManager::Certificate",
        "AWS::SNS::Subscription",  # the alarm e-mail
    }
    assert aws["fargate"].dropped["threetier-fargate"] == (
        SYSTEM_DROPPED - {"AWS::AutoScaling::ScalingPolicy"}
    ) | {
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
    }
    assert aws["fargate"].dropped["threetier-fargate-billing"] == {
        "AWS::CloudWatch::Alarm",
        "AWS::SNS::TopicPolicy",
    }
    assert aws["domain"].dropped["threetier-domain-edge"] == {
        "AWS::CertificateManager::Certificate",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::Function",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Subscription",
        "AWS::SNS::TopicPolicy",
        "Custom::CDKBucketDeployment",
        "Custom::S3AutoDeleteObjects",
    }


@pytest.mark.parametrize("env", ["default", "prod", "domain"])
def test_subnets_have_the_parameters_cidrs_and_azs(aws, synthesized, env):
    spec = synthesized(env).spec
    vpc = vpc_of(aws[env], f"threetier-{env}")
    subnets = (
        aws[env]
        .client("ec2")
        .describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    )
    assert {(s["CidrBlock"], s["AvailabilityZone"]) for s in subnets} == {
        (str(s.cidr), s.az) for s in spec.network.subnets
    }


def test_security_group_chain_as_deployed(aws):
    env = aws["domain"]
    sg = groups_by_role(env, vpc_of(env, "threetier-domain"))
    (db_rule,) = sg["db"]["IpPermissions"]
    assert (db_rule["FromPort"], db_rule["ToPort"], db_rule["IpRanges"]) == (5432, 5432, [])
    assert [p["GroupId"] for p in db_rule["UserIdGroupPairs"]] == [sg["web"]["GroupId"]]
    (web_rule,) = sg["web"]["IpPermissions"]
    assert (web_rule["FromPort"], web_rule["IpRanges"]) == (8000, [])
    assert [p["GroupId"] for p in web_rule["UserIdGroupPairs"]] == [sg["alb"]["GroupId"]]
    world = {
        (r["FromPort"], ip["CidrIp"]) for r in sg["alb"]["IpPermissions"] for ip in r["IpRanges"]
    }
    assert world == {(80, "0.0.0.0/0"), (443, "0.0.0.0/0")}


def load_balancer(env: Deployed) -> dict:
    elbv2 = env.client("elbv2")
    (alb,) = [
        lb
        for lb in elbv2.describe_load_balancers()["LoadBalancers"]
        if lb["DNSName"] == env.outputs["LoadBalancerDnsName"]
    ]
    return alb


def test_listeners_https_and_redirect_as_deployed(aws):
    env = aws["domain"]
    elbv2 = env.client("elbv2")
    listeners = elbv2.describe_listeners(LoadBalancerArn=load_balancer(env)["LoadBalancerArn"])[
        "Listeners"
    ]
    by_port = {listener["Port"]: listener for listener in listeners}
    assert set(by_port) == {80, 443}
    assert by_port[443]["Protocol"] == "HTTPS"
    assert by_port[443]["Certificates"][0]["CertificateArn"].startswith("arn:aws:acm:")
    # Any other Host: the listener's fixed 404; the system's own names: a host-header rule.
    default = by_port[443]["DefaultActions"][0]
    assert default["Type"] == "fixed-response" and default["FixedResponseConfig"]["StatusCode"] == "404"
    rules = [r for r in elbv2.describe_rules(ListenerArn=by_port[443]["ListenerArn"])["Rules"] if not r["IsDefault"]]
    (rule,) = rules
    hosts = next(c for c in rule["Conditions"] if c["Field"] == "host-header")
    assert "www.example.com" in (hosts.get("HostHeaderConfig", {}).get("Values") or hosts.get("Values"))
    assert rule["Actions"][0]["Type"] == "forward"
    redirect = by_port[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"


def test_target_group_health_check_as_deployed(aws, synthesized):
    env = aws["domain"]
    health = synthesized("domain").spec.load_balancer.health_check
    (group,) = env.client("elbv2").describe_target_groups(
        LoadBalancerArn=load_balancer(env)["LoadBalancerArn"]
    )["TargetGroups"]
    assert (
        group["HealthCheckPath"],
        group["HealthCheckIntervalSeconds"],
        group["HealthCheckTimeoutSeconds"],
        group["HealthyThresholdCount"],
        group["UnhealthyThresholdCount"],
        group["Port"],
    ) == (health.path, 15, 6, 3, 4, 8000)


def test_prod_database_as_deployed(aws):
    env = aws["prod"]
    (db,) = [
        d
        for d in env.client("rds").describe_db_instances()["DBInstances"]
        if d["Endpoint"]["Address"] == env.outputs["DatabaseEndpoint"]
    ]
    assert (db["MultiAZ"], db["StorageEncrypted"], db["PubliclyAccessible"], db["Engine"]) == (
        True,
        True,
        False,
        "postgres",
    )
    # (moto's CloudFormation drops DeletionProtection; test_database asserts it on the template)
    assert db["BackupRetentionPeriod"] == 30
    subnet_ids = {s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]}
    isolated = env.client("ec2").describe_subnets(
        Filters=[
            {"Name": "tag:threetier:tier", "Values": ["isolated"]},
            {"Name": "vpc-id", "Values": [vpc_of(env, "threetier-prod")]},
        ]
    )
    assert subnet_ids == {s["SubnetId"] for s in isolated["Subnets"]} and len(subnet_ids) == 2


def test_failover_records_as_deployed(aws):
    env = aws["domain"]
    route53 = env.client("route53")
    records = route53.list_resource_record_sets(HostedZoneId=env.zone_id)["ResourceRecordSets"]
    failover = {r["Failover"]: r for r in records if r.get("Failover")}
    assert set(failover) == {"PRIMARY", "SECONDARY"}
    primary = failover["PRIMARY"]
    assert primary["Name"] == f"{DOMAIN}."
    assert primary["AliasTarget"]["DNSName"].rstrip(".") == env.outputs["LoadBalancerDnsName"]
    check = route53.get_health_check(HealthCheckId=primary["HealthCheckId"])["HealthCheck"][
        "HealthCheckConfig"
    ]
    assert (check["ResourcePath"], check["Type"], check["FullyQualifiedDomainName"]) == (
        "/healthz",
        "HTTPS",
        env.outputs["LoadBalancerDnsName"],
    )


def test_web_servers_launch_in_the_private_subnets_with_imdsv2(aws):
    env = aws["prod"]
    (group,) = [
        g
        for g in env.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        if g["AutoScalingGroupName"].startswith("threetier-prod")
    ]
    assert (group["MinSize"], group["MaxSize"]) == (2, 4)
    private = env.client("ec2").describe_subnets(
        Filters=[
            {"Name": "tag:threetier:tier", "Values": ["private"]},
            {"Name": "vpc-id", "Values": [vpc_of(env, "threetier-prod")]},
        ]
    )["Subnets"]
    assert set(group["VPCZoneIdentifier"].split(",")) == {s["SubnetId"] for s in private}
    template_id = group["LaunchTemplate"]["LaunchTemplateId"]
    (version,) = env.client("ec2").describe_launch_template_versions(LaunchTemplateId=template_id)[
        "LaunchTemplateVersions"
    ]
    assert version["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"


def test_outputs_name_the_url_alb_database_and_secret(aws):
    outputs = aws["domain"].outputs
    assert outputs["Url"] == f"https://{DOMAIN}"
    assert outputs["LoadBalancerDnsName"].endswith(".elb.amazonaws.com")
    assert outputs["DatabaseEndpoint"].endswith(".rds.amazonaws.com")
    assert "DatabaseSecretArn" in outputs
    # The app role's own login (moto's CloudFormation has no Secrets Manager secrets: the
    # adapter drops them, so its generated value is template-tested only).
    assert "AppDatabaseSecretArn" in outputs


@pytest.mark.parametrize(("env", "nats"), [("default", 1), ("prod", 2)])
def test_nat_gateways_as_deployed(aws, env, nats):
    vpc = vpc_of(aws[env], f"threetier-{env}")
    gateways = (
        aws[env].client("ec2").describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    )
    assert len(gateways["NatGateways"]) == nats


def test_default_database_is_single_az_private_and_encrypted(aws):
    env = aws["default"]
    (db,) = [
        d
        for d in env.client("rds").describe_db_instances()["DBInstances"]
        if d["Endpoint"]["Address"] == env.outputs["DatabaseEndpoint"]
    ]
    assert (db["MultiAZ"], db["StorageEncrypted"], db["PubliclyAccessible"]) == (False, True, False)


def stack_resources(env: Deployed, stack: str, type_name: str) -> list[str]:
    resources = env.client("cloudformation").describe_stack_resources(StackName=stack)[
        "StackResources"
    ]
    return [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == type_name]


def test_fargate_service_runs_in_the_private_subnets_behind_an_ip_target_group(aws):
    env = aws["fargate"]
    ecs = env.client("ecs")
    outputs = env.outputs
    (service,) = ecs.describe_services(
        cluster=outputs["MigrationCluster"], services=[outputs["WebService"]]
    )["services"]
    # (moto reports launchType EC2 whatever the template says; test_fargate asserts FARGATE)
    assert service["desiredCount"] == 2
    # (moto keeps neither the service's load balancers nor its launch type: template-tested)
    (group,) = env.client("elbv2").describe_target_groups(
        LoadBalancerArn=load_balancer(env)["LoadBalancerArn"]
    )["TargetGroups"]
    assert (group["TargetType"], group["Port"]) == ("ip", 8000)
    private = env.client("ec2").describe_subnets(
        Filters=[
            {"Name": "tag:threetier:tier", "Values": ["private"]},
            {"Name": "vpc-id", "Values": [vpc_of(env, "threetier-fargate")]},
        ]
    )["Subnets"]
    # (nor its network configuration: the subnets the stack names for the tasks are checked)
    assert set(outputs["MigrationSubnets"].split(",")) == {s["SubnetId"] for s in private}
    # (moto's cluster ignores ClusterSettings: Container Insights is template-tested)
    assert ecs.describe_clusters(clusters=[outputs["MigrationCluster"]])["clusters"]


def test_migration_task_definition_as_deployed(aws):
    env = aws["fargate"]
    definition = env.client("ecs").describe_task_definition(
        taskDefinition=env.outputs["MigrationTaskDefinition"]
    )["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    # As master it ensures the app role, then migrates as the app role (threetier.aws.boot).
    assert container["command"] == ["python", "-m", "threetier.aws.boot", "migrate"]
    secrets = {s["name"] for s in container["secrets"]}
    assert {"THREETIER_DB_MASTER_USER", "THREETIER_DB_MASTER_PASSWORD"} <= secrets
    assert container["logConfiguration"]["options"]["awslogs-group"] == env.outputs["AppLogGroup"]


@pytest.mark.parametrize("env", ["default", "fargate"])
def test_shared_file_system_with_mount_targets_in_the_web_subnets(aws, env):
    deployed = aws[env]
    efs = deployed.client("efs")
    file_system_id = deployed.outputs["MediaFileSystem"]
    (fs,) = efs.describe_file_systems(FileSystemId=file_system_id)["FileSystems"]
    assert fs["Encrypted"] is True
    targets = efs.describe_mount_targets(FileSystemId=file_system_id)["MountTargets"]
    private = deployed.client("ec2").describe_subnets(
        Filters=[
            {"Name": "tag:threetier:tier", "Values": ["private"]},
            {"Name": "vpc-id", "Values": [vpc_of(deployed, f"threetier-{env}")]},
        ]
    )["Subnets"]
    assert {t["SubnetId"] for t in targets} == {s["SubnetId"] for s in private}
    (point,) = efs.describe_access_points(FileSystemId=file_system_id)["AccessPoints"]
    assert point["PosixUser"]["Uid"] == 10001 and point["RootDirectory"]["Path"] == "/media"


def test_media_bucket_is_encrypted_as_deployed(aws):
    env = aws["fargate"]
    s3 = env.client("s3")
    bucket = env.outputs["MediaBucket"]
    # (moto's CloudFormation does not apply PublicAccessBlockConfiguration: template-tested)
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


@pytest.mark.parametrize("env", ["default", "prod"])
def test_log_groups_have_the_parameters_retention(aws, env):
    deployed = aws[env]
    logs = deployed.client("logs")
    (app,) = logs.describe_log_groups(logGroupNamePrefix=deployed.outputs["AppLogGroup"])[
        "logGroups"
    ]
    (rds,) = logs.describe_log_groups(
        logGroupNamePrefix=f"/aws/rds/instance/threetier-{env}-db-"
    )["logGroups"]
    # Named per stack creation: .../threetier-ENV-db-<first group of the stack id>/postgresql
    (stack,) = deployed.client("cloudformation").describe_stacks(StackName=f"threetier-{env}")["Stacks"]
    suffix = stack["StackId"].split("/")[2].split("-")[0]
    assert rds["logGroupName"] == f"/aws/rds/instance/threetier-{env}-db-{suffix}/postgresql"
    assert app["retentionInDays"] == rds["retentionInDays"] == 30


def test_audit_key_rotates_and_groups_exist_only_in_the_template(aws):
    env = aws["prod"]
    kms = env.client("kms")
    (key,) = stack_resources(env, "threetier-prod", "AWS::KMS::Key")
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True
    # IAM groups and the trail are not created by moto (see SYSTEM_DROPPED); the managed
    # policies the groups use are.
    names = {p["PolicyName"] for p in env.client("iam").list_policies(Scope="Local")["Policies"]}
    assert {"threetier-prod-DeveloperPolicy", "threetier-prod-DirectorPolicy"} <= names


# --- `threetier verify` on what was deployed ---------------------------------------------------


def verify_on_moto(env: Deployed, spec, fetch):
    from threetier.checks.verify import verify_deployment

    return {
        r.check: r
        for r in verify_deployment(
            spec, clients=lambda region: (lambda service: env.client(service, region)), fetch=fetch
        ).results
    }


def test_verify_reads_the_domain_deployment_and_names_what_fails(aws, synthesized):
    """Through moto: targets, failover records, the health check, subscriptions and the
    billing alarm are read with the real API calls. moto serves no URL (the ALB, the domain
    and CloudFront are names only), so the HTTP answers are supplied; moto's health
    checkers always say Success; moto's CloudFormation creates no alarm, no e-mail
    subscription and no CloudFront distribution (docs/aws.md)."""
    from support.aws_helpers import default_data

    from threetier.spec import parse_spec

    env = aws["domain"]
    data = default_data()
    data["dns"] = {"domain": DOMAIN, "hosted_zone_id": TEST_ZONE_ID, "failover": True}
    data["monitoring"]["alarm_email"] = "ops@example.com"
    spec = parse_spec(data, env_name="domain")
    # The zone the templates were deployed with is moto's (its ids do not look like AWS's).
    spec = spec.model_copy(update={"dns": spec.dns.model_copy(update={"hosted_zone_id": env.zone_id})})
    answers = {f"https://{DOMAIN}": 200, f"https://{DOMAIN}/healthz": 200}
    fetch = lambda url: answers.get(url, 503)  # noqa: E731 - the sorry site's 503 everywhere else

    first = verify_on_moto(env, spec, fetch)
    assert first["failover-records"].status == "ok", first["failover-records"]
    assert first["health-check"].status == "ok"  # moto's checkers: always Success
    assert first["sorry-page"].status == "ok"
    assert first["url"].status == "ok"
    assert first["targets"].status == "ok" and "2/2 healthy" in first["targets"].detail
    # Not created by moto's CloudFormation: no subscription, no billing alarm. verify says so.
    assert {name for name, r in first.items() if r.status == "fail"} == {"alarm-mail", "billing-mail", "billing-alarm"}

    # What AWS would have made: the e-mail subscriptions (moto confirms at once) and the alarm.
    outputs = env.outputs
    env.client("sns").subscribe(TopicArn=outputs["AlarmTopicArn"], Protocol="email", Endpoint="ops@example.com")
    env.client("sns", EDGE_REGION).subscribe(
        TopicArn=outputs["BillingTopicArn"], Protocol="email", Endpoint="ops@example.com"
    )
    env.client("cloudwatch", EDGE_REGION).put_metric_alarm(
        AlarmName=outputs["BillingAlarmName"],
        Namespace="AWS/Billing",
        MetricName="EstimatedCharges",
        Statistic="Maximum",
        Period=21600,
        EvaluationPeriods=1,
        Threshold=150,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    second = verify_on_moto(env, spec, fetch)
    assert [r for r in second.values() if r.status == "fail"] == []
    assert "confirmed: email:ops@example.com" in second["alarm-mail"].detail

    # A sorry page that answers / with 200 (default_root_object) fails, and says where.
    root_200 = {**answers, f"https://{outputs['SorryDistributionDomain']}/": 200}
    root_ok = verify_on_moto(env, spec, lambda url: root_200.get(url, 503))
    assert root_ok["sorry-page"].status == "fail" and "/ → 200" in root_ok["sorry-page"].detail
