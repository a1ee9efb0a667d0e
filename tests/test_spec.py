"""The parameters file: every rule rejects a bad file with a message naming its key."""

from __future__ import annotations

import copy
import tomllib

import pytest

from threetier.paths import parameters_dir
from threetier.spec import SpecError, load_spec, parse_spec


@pytest.fixture(scope="module")
def default_data() -> dict:
    return tomllib.loads((parameters_dir() / "default.toml").read_text())


def problems_of(data: dict) -> str:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return str(caught.value)


def subnet(data: dict, name: str) -> dict:
    return next(s for s in data["network"]["subnets"] if s["name"] == name)


def test_default_file_describes_the_seeds_system():
    spec = load_spec("default")
    assert str(spec.network.vpc_cidr) == "10.0.0.0/16"
    assert spec.database.name == "uda_psql_db"
    assert spec.network.azs_of("public") == ["ap-northeast-1a", "ap-northeast-1c"]
    assert spec.instance_azs() == ["ap-northeast-1a", "ap-northeast-1c"]
    assert spec.load_balancer.health_check.interval_seconds == 10
    assert spec.load_balancer.health_check.healthy_threshold == 2


def test_prod_file_is_hardened():
    spec = load_spec("prod")
    assert spec.database.multi_az and spec.database.deletion_protection
    assert spec.network.nat_gateways == 2
    assert spec.database.backup_retention_days == 30


def test_every_key_of_default_is_written_out(default_data):
    """The default file documents every section, so a newcomer sees every knob."""
    spec = load_spec("default")
    sections = set(spec.model_dump(exclude={"env_name"}).keys())
    assert sections == set(default_data.keys())


def test_cidr_outside_the_vpc(default_data):
    data = copy.deepcopy(default_data)
    subnet(data, "private-1a")["cidr"] = "10.1.2.0/24"
    assert "network.subnets[2].cidr: 10.1.2.0/24 (private-1a) is not inside the VPC" in problems_of(data)


def test_overlapping_subnets(default_data):
    data = copy.deepcopy(default_data)
    subnet(data, "isolated-1a")["cidr"] = "10.0.3.128/25"
    assert "overlaps 10.0.3.0/24 (public-1c)" in problems_of(data)


def test_load_balancer_needs_two_azs(default_data):
    data = copy.deepcopy(default_data)
    subnet(data, "public-1c")["az"] = "ap-northeast-1a"
    assert "the load balancer needs public subnets in at least 2 AZs" in problems_of(data)


def test_db_subnet_group_needs_two_azs(default_data):
    data = copy.deepcopy(default_data)
    subnet(data, "isolated-1c")["az"] = "ap-northeast-1a"
    assert "the DB subnet group needs isolated (or private) subnets in at least 2 AZs" in problems_of(data)


def test_web_subnet_outside_the_load_balancers_azs(default_data):
    """Seed 000's trap: a private subnet in 1d while the ALB spans 1a/1c."""
    data = copy.deepcopy(default_data)
    subnet(data, "private-1c")["az"] = "ap-northeast-1d"
    message = problems_of(data)
    assert "web servers in ap-northeast-1d (private) would never get traffic" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("interval_seconds", 4, "interval_seconds: Input should be greater than or equal to 5"),
        ("interval_seconds", 301, "interval_seconds: Input should be less than or equal to 300"),
        ("timeout_seconds", 1, "timeout_seconds: Input should be greater than or equal to 2"),
        ("healthy_threshold", 1, "healthy_threshold: Input should be greater than or equal to 2"),
        ("unhealthy_threshold", 11, "unhealthy_threshold: Input should be less than or equal to 10"),
        ("path", "healthz", "path: String should match pattern"),
    ],
)
def test_health_check_outside_what_an_alb_accepts(default_data, key, value, expected):
    data = copy.deepcopy(default_data)
    data["load_balancer"]["health_check"][key] = value
    message = problems_of(data)
    assert f"load_balancer.health_check.{expected}" in message
    assert "an ALB target group accepts" in message


def test_health_check_timeout_must_be_below_interval(default_data):
    data = copy.deepcopy(default_data)
    data["load_balancer"]["health_check"].update(interval_seconds=5, timeout_seconds=5)
    assert "timeout_seconds (5) must be below interval_seconds (5)" in problems_of(data)


def test_unknown_key_is_named(default_data):
    data = copy.deepcopy(default_data)
    data["database"]["multiaz"] = True
    assert "database.multiaz: unknown key (a typo?)" in problems_of(data)


def test_each_problem_is_listed_once(default_data):
    data = copy.deepcopy(default_data)
    data["web"]["instancez"] = 3
    data["database"]["name"] = "Bad-Name"
    message = problems_of(data)
    assert message.startswith("parameters: 2 problem(s)")
    assert "web.instancez" in message and "database.name" in message


def test_private_web_servers_need_a_nat_gateway(default_data):
    data = copy.deepcopy(default_data)
    data["network"]["nat_gateways"] = 0
    assert "web servers in private subnets need at least 1 NAT gateway" in problems_of(data)


def test_local_ports_must_not_collide(default_data):
    data = copy.deepcopy(default_data)
    data["local"]["https_port"] = data["local"]["first_app_port"] + 1
    assert "collides with the app instances' ports" in problems_of(data)


def test_broken_toml_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[network\nvpc_cidr = 1\n")
    with pytest.raises(SpecError) as caught:
        load_spec("broken", path=path)
    assert "broken.toml: not valid TOML" in str(caught.value)
    assert "line 1" in str(caught.value)


def test_twin_health_check_overrides_only_the_twin(default_data):
    data = copy.deepcopy(default_data)
    data["local"]["health_check"] = {"interval_seconds": 0.5, "unhealthy_threshold": 1}
    spec = parse_spec(data)
    assert spec.twin_health_check()["interval_seconds"] == 0.5
    assert spec.twin_health_check()["unhealthy_threshold"] == 1
    assert spec.twin_health_check()["healthy_threshold"] == 2
    assert spec.load_balancer.health_check.interval_seconds == 10
