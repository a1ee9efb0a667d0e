"""`threetier destroy` of a throwaway environment leaves nothing behind; prod keeps its data."""

from __future__ import annotations

import copy

import pytest

from threetier.checks.leftovers import RETAINING_POLICIES, still_billing_after_destroy
from threetier.checks.preflight import retained_name_problems

pytestmark = pytest.mark.synth


@pytest.mark.parametrize("env", ["default", "fargate"])
def test_nothing_is_retained_and_every_bucket_is_emptied_first(synthesized, env):
    built = synthesized(env)
    for name, template in built.templates.items():
        resources = template["Resources"]
        kept = [
            lid for lid, r in resources.items() if r.get("DeletionPolicy") in RETAINING_POLICIES
        ]
        assert kept == [], f"{name}: {kept}"
        buckets = {lid for lid, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
        emptied = {
            r["Properties"]["BucketName"]["Ref"]
            for r in resources.values()
            if r["Type"] == "Custom::S3AutoDeleteObjects"
        }
        assert buckets == emptied, name
    assert still_billing_after_destroy(built.templates) == []


def test_prod_keeps_its_data_and_says_so(synthesized):
    built = synthesized("prod")
    resources = built.raw()["Resources"]
    data = {
        "AWS::RDS::DBInstance",
        "AWS::EFS::FileSystem",
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
    }
    kept = {r["Type"] for r in resources.values() if r.get("DeletionPolicy") in RETAINING_POLICIES}
    assert data <= kept
    assert not [r for r in resources.values() if r["Type"] == "Custom::S3AutoDeleteObjects"]
    # ... and `check` lists each of them as still billing after destroy.
    leftovers = still_billing_after_destroy(built.templates)
    assert data <= {left.what for left in leftovers}
    assert any("snapshot" in left.why for left in leftovers)  # the database's final snapshot


@pytest.mark.parametrize("env", ["default", "prod", "fargate", "domain"])
def test_nothing_kept_by_destroy_has_a_fixed_name(synthesized, env):
    """A kept resource with a fixed name makes the next deploy fail ("already exists")."""
    for name, template in synthesized(env).templates.items():
        assert retained_name_problems(name, template) == [], name


def test_the_preflight_catches_the_kept_log_group_of_a_fixed_name(synthesized):
    """The RDS log group as it was in prod: kept by destroy, named /aws/rds/instance/threetier-prod-db/postgresql."""
    template = copy.deepcopy(synthesized("prod").raw())
    (group,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" in r["Properties"]
    ]
    assert group["DeletionPolicy"] == "Retain"
    group["Properties"]["LogGroupName"] = "/aws/rds/instance/threetier-prod-db/postgresql"
    (problem,) = retained_name_problems("threetier-prod", template)
    assert problem.rule == "retained-fixed-name" and "threetier-prod-db/postgresql" in problem.message
