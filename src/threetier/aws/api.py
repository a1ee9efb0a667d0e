"""The one door to the AWS API at run time: boto3 sessions and clients, botocore's errors
as ThreetierErrors with their fix, stack outputs, and the caller's account.

Every runtime module that talks to AWS (`rollout`, `cdk_cli`, `boot`, the drills' AWS
target, the deploy preflight's account probes, `threetier verify`) goes through here; no
other module imports boto3 or botocore. The CDK constructs do not call AWS at all. boto3
is imported on first use, so `threetier --help` and the synth stay fast.

>>> cloudformation = clients("ap-northeast-1", DEPLOY)("cloudformation")
>>> with aws_errors("reading the stack"):
...     outputs = stack_outputs(cloudformation, "threetier-prod")

botocore honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>), which is how the
tests point every client at a local moto server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from threetier.errors import ThreetierError

# boto3 client by service name ("cloudformation", "ecs"), in one region.
Clients = Callable[[str], Any]

CREDENTIALS_FIX = (
    "configure AWS credentials for the environment's account (`aws configure`, AWS_PROFILE, "
    "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); `threetier synth`, `check` and `ls` "
    "need none"
)
NETWORK_FIX = "check the network connection to AWS (and AWS_ENDPOINT_URL, if set)"
PERMISSIONS_FIX = "check the AWS credentials' permissions and the region, then try again"
# Error codes that mean "these credentials are not good here", not "the request was wrong".
_CREDENTIAL_CODE_PARTS = ("Token", "Signature", "AccessDenied", "UnrecognizedClient", "AuthFailure")


@dataclass(frozen=True)
class Timeouts:
    """How long one call may take, and how often it is tried (botocore's `Config`)."""

    connect_seconds: float
    read_seconds: float
    attempts: int


# `threetier deploy`: CloudFormation and ECS calls between two CDK deploys.
DEPLOY = Timeouts(connect_seconds=10, read_seconds=60, attempts=5)
# Drills poll these every fraction of a second and must not hang on one call.
DRILL = Timeouts(connect_seconds=5, read_seconds=15, attempts=3)
# "Do these credentials work?": answer quickly, once.
IDENTITY = Timeouts(connect_seconds=5, read_seconds=10, attempts=1)


def session(region: str | None) -> Any:
    """A boto3 session of the default credential chain (environment, profile, instance role)."""
    import boto3  # noqa: PLC0415 - boto3 takes a while to import

    with aws_errors("reading the AWS configuration", fix=CREDENTIALS_FIX):
        return boto3.Session(region_name=region)


def clients(region: str | None, timeouts: Timeouts | None = None) -> Clients:
    """Clients of one session in `region`; `timeouts` None keeps botocore's defaults."""
    return session_clients(session(region), timeouts)


def session_clients(shared: Any, timeouts: Timeouts | None = None) -> Clients:
    """Clients of the boto3 session `shared`."""
    from botocore.config import Config  # noqa: PLC0415

    config = None
    if timeouts is not None:
        retries: dict[str, Any] = {"max_attempts": timeouts.attempts}
        if timeouts.attempts > 1:
            retries["mode"] = "standard"
        config = Config(
            connect_timeout=timeouts.connect_seconds,
            read_timeout=timeouts.read_seconds,
            retries=retries,
        )
    return lambda service: shared.client(service, config=config)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ("ValidationError"), else ""."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_errors(doing: str, *, fix: str = PERMISSIONS_FIX) -> Iterator[None]:
    """botocore's exceptions as one ThreetierError that says what was being done and how
    to fix it: credentials (missing, expired, denied), the network, or `fix` for the rest."""
    from botocore.exceptions import (  # noqa: PLC0415
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise ThreetierError(f"{doing}: no usable AWS credentials ({exc})", fix=CREDENTIALS_FIX) from None
    except NoRegionError as exc:
        raise ThreetierError(
            f"{doing}: {exc}", fix="set project.region in the parameters file"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", str(exc))
        credentials = any(part in code for part in _CREDENTIAL_CODE_PARTS)
        raise ThreetierError(
            f"{doing}: {code}: {message}", fix=CREDENTIALS_FIX if credentials else fix
        ) from None
    except EndpointConnectionError as exc:
        raise ThreetierError(f"{doing}: {exc}", fix=NETWORK_FIX) from None
    except BotoCoreError as exc:
        raise ThreetierError(f"{doing}: {exc}", fix=NETWORK_FIX) from None


def describe_stack(cloudformation: Any, name: str) -> dict | None:
    """The stack's description, or None when there is no such stack (yet)."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    with aws_errors(f"reading the stack {name}"):
        try:
            return cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        except ClientError as exc:
            if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
                return None
            raise


def outputs_of(stack: dict) -> dict[str, str]:
    """{OutputKey: OutputValue} of a stack description."""
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def stack_outputs(cloudformation: Any, name: str) -> dict[str, str] | None:
    """The stack's outputs, or None when the stack does not exist (yet)."""
    stack = describe_stack(cloudformation, name)
    return None if stack is None else outputs_of(stack)


def stack_resources(cloudformation: Any, name: str) -> list[dict]:
    """Every resource summary of the stack (all pages)."""
    with aws_errors(f"listing the resources of {name}"):
        pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
        return [r for page in pages for r in page["StackResourceSummaries"]]


def caller_account(region: str) -> str:
    """The account the default credentials belong to; ThreetierError (with the
    credentials fix) when there are none or they do not work."""
    shared = session(region)
    with aws_errors("the AWS configuration is broken", fix=CREDENTIALS_FIX):
        credentials = shared.get_credentials()
    if credentials is None:
        raise ThreetierError(
            "no AWS credentials found: deploy, diff and destroy talk to your AWS account",
            fix=CREDENTIALS_FIX,
        )
    sts = session_clients(shared, IDENTITY)("sts")
    with aws_errors("AWS credentials were found but do not work", fix=CREDENTIALS_FIX):
        return sts.get_caller_identity()["Account"]


def secret_reader(region: str | None) -> Callable[[str], str]:
    """`read(arn)` → the secret's string, from Secrets Manager (botocore's default timeouts)."""
    secretsmanager = clients(region)("secretsmanager")

    def read(arn: str) -> str:
        with aws_errors(f"reading the secret {arn}"):
            return secretsmanager.get_secret_value(SecretId=arn)["SecretString"]

    return read


# --- the deploy preflight and `threetier verify` -------------------------------------------
# Each helper turns botocore's "not there" into None or [] and every other error into the
# ThreetierError of `aws_errors`; callers never import botocore.


def parameter_value(ssm: Any, name: str) -> str | None:
    """An SSM parameter's value, or None when it does not exist (e.g. the CDK bootstrap marker)."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    with aws_errors(f"reading the SSM parameter {name}"):
        try:
            return ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as exc:
            if error_code(exc) == "ParameterNotFound":
                return None
            raise


def availability_zones(ec2: Any) -> list[str]:
    """The names of the AZs this account has in the client's region, available ones only
    (the letters map to physical zones per account, so only the account can say)."""
    with aws_errors("listing the availability zones"):
        answer = ec2.describe_availability_zones(Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}])
    return sorted(z["ZoneName"] for z in answer.get("AvailabilityZones", []) if z.get("State") == "available")


def hosted_zone(route53: Any, zone_id: str) -> tuple[str, list[str]] | None:
    """(zone name, its name servers) of a Route 53 hosted zone, or None when there is none."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    with aws_errors(f"reading the hosted zone {zone_id}"):
        try:
            answer = route53.get_hosted_zone(Id=zone_id)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchHostedZone", "InvalidInput"):
                return None
            raise
    return answer["HostedZone"]["Name"], list(answer.get("DelegationSet", {}).get("NameServers", []))


def target_health(elbv2: Any, target_group_arn: str) -> list[dict]:
    """describe-target-health: [{"Target": {"Id", "Port"}, "TargetHealth": {"State", "Reason"...}}]."""
    with aws_errors(f"reading the health of the targets of {target_group_arn}"):
        return elbv2.describe_target_health(TargetGroupArn=target_group_arn)[
            "TargetHealthDescriptions"
        ]


def record_sets(route53: Any, zone_id: str, name: str) -> list[dict]:
    """The record sets of `name` (all types and set identifiers) in a hosted zone."""
    fqdn = name.rstrip(".") + "."
    with aws_errors(f"listing the records of {name} in {zone_id}"):
        pages = route53.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=zone_id, StartRecordName=fqdn
        )
        found = []
        for page in pages:
            for record in page["ResourceRecordSets"]:
                if record["Name"].lower() != fqdn.lower():
                    return found
                found.append(record)
        return found


def health_check_observations(route53: Any, health_check_id: str) -> list[str]:
    """The status line of each Route 53 checker ("Success: HTTP Status Code 200..." or "Failure: ...")."""
    with aws_errors(f"reading the Route 53 health check {health_check_id}"):
        answer = route53.get_health_check_status(HealthCheckId=health_check_id)
    return [o["StatusReport"]["Status"] for o in answer.get("HealthCheckObservations", [])]


def topic_subscriptions(sns: Any, topic_arn: str) -> list[dict]:
    """The subscriptions of an SNS topic; a pending one has SubscriptionArn "PendingConfirmation"."""
    with aws_errors(f"listing the subscriptions of {topic_arn}"):
        pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        return [s for page in pages for s in page["Subscriptions"]]


def metric_alarm(cloudwatch: Any, name: str) -> dict | None:
    """The CloudWatch metric alarm `name`, or None when there is none."""
    with aws_errors(f"reading the alarm {name}"):
        alarms = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return alarms[0] if alarms else None
