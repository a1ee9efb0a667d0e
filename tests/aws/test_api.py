"""threetier.aws.api: botocore's errors become one ThreetierError with the fix that fits."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from threetier.aws import api
from threetier.errors import ThreetierError


def client_error(code: str, message: str = "nope") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeStacks")


def translated(exc: Exception, **kwargs) -> ThreetierError:
    with pytest.raises(ThreetierError) as raised:
        with api.aws_errors("reading the stack", **kwargs):
            raise exc
    return raised.value


@pytest.mark.parametrize(
    "exc",
    [
        NoCredentialsError(),
        client_error("ExpiredToken"),
        client_error("InvalidSignatureException"),
        client_error("AccessDenied"),
        client_error("UnrecognizedClientException"),
    ],
)
def test_credential_problems_get_the_credentials_fix(exc):
    error = translated(exc, fix="deploy again")
    assert error.message.startswith("reading the stack: ")
    assert error.fix == api.CREDENTIALS_FIX and "aws configure" in error.fix


def test_other_api_errors_say_the_code_and_get_the_callers_fix():
    error = translated(client_error("ThrottlingException", "Rate exceeded"), fix="deploy again")
    assert error.message == "reading the stack: ThrottlingException: Rate exceeded"
    assert error.fix == "deploy again"


def test_an_unreachable_endpoint_gets_the_network_fix():
    error = translated(EndpointConnectionError(endpoint_url="https://cloudformation.example"))
    assert "cloudformation.example" in error.message and error.fix == api.NETWORK_FIX


def test_no_region_names_the_parameter():
    assert "project.region" in (translated(NoRegionError()).fix or "")


def test_other_exceptions_pass_through():
    with pytest.raises(KeyError):
        with api.aws_errors("reading the stack"):
            raise KeyError("Outputs")


class Stacks:
    """describe_stacks as CloudFormation answers it."""

    def __init__(self, error: ClientError | None = None) -> None:
        self.error = error

    def describe_stacks(self, StackName):  # noqa: N803 - boto3's parameter names
        if self.error:
            raise self.error
        outputs = [{"OutputKey": "Url", "OutputValue": "https://example"}]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}


def test_stack_outputs_or_none_when_the_stack_does_not_exist():
    assert api.stack_outputs(Stacks(), "s") == {"Url": "https://example"}
    missing = client_error("ValidationError", "Stack with id s does not exist")
    assert api.stack_outputs(Stacks(missing), "s") is None
    with pytest.raises(ThreetierError, match="AccessDenied"):
        api.stack_outputs(Stacks(client_error("AccessDenied")), "s")


class Zones:
    """describe_availability_zones as EC2 answers it (one zone not available)."""

    def describe_availability_zones(self, Filters):  # noqa: N803 - boto3's parameter names
        assert Filters == [{"Name": "zone-type", "Values": ["availability-zone"]}]
        return {"AvailabilityZones": [
            {"ZoneName": "eu-west-1b", "State": "available"},
            {"ZoneName": "eu-west-1a", "State": "available"},
            {"ZoneName": "eu-west-1c", "State": "impaired"},
        ]}


def test_availability_zones_are_the_available_ones_by_name():
    assert api.availability_zones(Zones()) == ["eu-west-1a", "eu-west-1b"]
