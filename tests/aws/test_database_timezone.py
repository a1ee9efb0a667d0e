"""The RDS parameter group sets the zone Django asks for, so no new connection pays a
SET TIME ZONE round trip."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

pytestmark = pytest.mark.synth


@pytest.mark.parametrize("env", ["default", "prod"])
def test_the_parameter_group_sets_timezone_utc(synthesized, env):
    synthesized(env).template().has_resource_properties(
        "AWS::RDS::DBParameterGroup", {"Parameters": Match.object_like({"timezone": "UTC", "rds.force_ssl": "1"})},
    )
