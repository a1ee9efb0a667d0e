"""`threetier init` for a region other than Tokyo, then `threetier synth` of what it wrote:
the file validates and the stacks build in that region with its subnets and AZs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from threetier.paths import project_root

pytestmark = pytest.mark.synth

# What synth reads from the project besides parameters/: the bundle's sources and lock.
CHECKOUT_PARTS = ("pyproject.toml", "README.md", "Dockerfile", "src", "requirements", "build")


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project root of its own parameters/, everything else the checkout's (linked)."""
    checkout = project_root()
    for name in CHECKOUT_PARTS:
        if (checkout / name).exists():
            (tmp_path / name).symlink_to(checkout / name)
    monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(tmp_path))
    return tmp_path


def test_init_for_eu_west_1_synthesizes(cli, project):
    written = cli(
        "init", "shop", "--region", "eu-west-1", "--vpc-cidr", "10.40.0.0/16",
        "--alarm-email", "ops@example.com", "--no-interactive",
    )
    assert written.code == 0, written
    assert (project / "parameters" / "shop.toml").is_file()

    out = project / "cdk.out"
    result = cli("--env", "shop", "synth", "--out", str(out))
    assert result.code == 0, result
    assert "shop-shop" in result.out and "eu-west-1" in result.out

    manifest = json.loads((out / "manifest.json").read_text())
    stacks = {
        name: artifact for name, artifact in manifest["artifacts"].items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
    assert stacks["shop-shop"]["environment"].endswith("/eu-west-1")
    template = json.loads((out / stacks["shop-shop"]["properties"]["templateFile"]).read_text())
    subnets = sorted(
        (r["Properties"]["AvailabilityZone"], r["Properties"]["CidrBlock"])
        for r in template["Resources"].values() if r["Type"] == "AWS::EC2::Subnet"
    )
    assert subnets == [
        ("eu-west-1a", "10.40.0.0/24"), ("eu-west-1a", "10.40.2.0/24"), ("eu-west-1a", "10.40.4.0/24"),
        ("eu-west-1b", "10.40.1.0/24"), ("eu-west-1b", "10.40.3.0/24"), ("eu-west-1b", "10.40.5.0/24"),
    ]
    topics = [r for r in template["Resources"].values() if r["Type"] == "AWS::SNS::Subscription"]
    assert any(t["Properties"].get("Endpoint") == "ops@example.com" for t in topics)
