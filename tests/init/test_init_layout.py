"""threetier.init's answers one by one: the region's AZs, the subnets laid out from the VPC
CIDR, and the bad values refused by name with the fix (exit code 2, a usage error)."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from threetier.init.inputs import BadInputError, alarm_email, hosted_zone_id, instances, vpc_cidr
from threetier.init.layout import free_space, lay_out_subnets
from threetier.init.regions import choose_azs, region_table, zones_of
from threetier.init.render import free_ports


def test_the_table_knows_tokyo_as_the_shipped_files_use_it():
    assert zones_of("ap-northeast-1")[:2] == ["ap-northeast-1a", "ap-northeast-1c"]


def test_every_region_in_the_table_names_azs_of_its_own():
    for region, zones in region_table().items():
        assert len(zones) >= 2, region
        assert all(zone.startswith(region) and len(zone) == len(region) + 1 for zone in zones), region


def test_azs_default_to_the_first_two_and_take_letters_or_names():
    assert choose_azs("eu-west-1") == ["eu-west-1a", "eu-west-1b"]
    assert choose_azs("eu-west-1", ["c", "eu-west-1a"]) == ["eu-west-1a", "eu-west-1c"]


def test_an_unknown_region_names_the_closest_and_the_known_ones():
    with pytest.raises(BadInputError) as caught:
        zones_of("eu-wset-1")
    assert caught.value.exit_code == 2
    assert "'eu-wset-1' is not a region init knows" in str(caught.value)
    assert "did you mean eu-west-1?" in caught.value.fix and "us-east-2" in caught.value.fix


@pytest.mark.parametrize(
    ("azs", "message"),
    [(["b"], "is not an AZ of ap-northeast-1"), (["a"], "need at least two"), (["a", "a"], "named twice")],
)
def test_bad_azs_are_refused(azs, message):
    with pytest.raises(BadInputError, match=message):
        choose_azs("ap-northeast-1", azs)


def test_a_16_gets_24s_tier_by_tier_az_by_az():
    subnets = lay_out_subnets(IPv4Network("10.20.0.0/16"), ["eu-west-1a", "eu-west-1b"], "eu-west-1")
    assert [(s.name, s.tier, s.az, str(s.cidr)) for s in subnets] == [
        ("public-1a", "public", "eu-west-1a", "10.20.0.0/24"),
        ("public-1b", "public", "eu-west-1b", "10.20.1.0/24"),
        ("private-1a", "private", "eu-west-1a", "10.20.2.0/24"),
        ("private-1b", "private", "eu-west-1b", "10.20.3.0/24"),
        ("isolated-1a", "isolated", "eu-west-1a", "10.20.4.0/24"),
        ("isolated-1b", "isolated", "eu-west-1b", "10.20.5.0/24"),
    ]
    assert free_space(IPv4Network("10.20.0.0/16"), subnets) == IPv4Network("10.20.6.0/24")


def test_three_azs_get_nine_subnets_inside_the_vpc_without_overlap():
    vpc = IPv4Network("172.16.0.0/16")
    subnets = lay_out_subnets(vpc, ["us-east-2a", "us-east-2b", "us-east-2c"], "us-east-2")
    assert len(subnets) == 9 and {s.name for s in subnets} >= {"public-2c", "isolated-2c"}
    assert all(s.cidr.subnet_of(vpc) and s.cidr.prefixlen == 24 for s in subnets)
    assert not any(a.cidr.overlaps(b.cidr) for i, a in enumerate(subnets) for b in subnets[:i])


def test_a_small_vpc_gets_smaller_equal_blocks():
    subnets = lay_out_subnets(IPv4Network("10.1.0.0/24"), ["eu-west-1a", "eu-west-1b"], "eu-west-1")
    assert [str(s.cidr) for s in subnets][:2] == ["10.1.0.0/27", "10.1.0.32/27"]
    assert free_space(IPv4Network("10.1.0.0/24"), subnets) == IPv4Network("10.1.0.192/27")


def test_a_vpc_too_small_for_alb_subnets_says_how_large_it_must_be():
    with pytest.raises(BadInputError) as caught:
        lay_out_subnets(IPv4Network("10.1.0.0/25"), ["eu-west-1a", "eu-west-1b"], "eu-west-1")
    assert "6 are needed" in str(caught.value) and "/27" in str(caught.value)
    assert "use a /24 or larger" in caught.value.fix


@pytest.mark.parametrize(
    ("text", "message", "fix"),
    [
        ("10.0.0.1/16", "not an IPv4 network", "use the network address: 10.0.0.0/16"),
        ("10.0.0.0/8", "a VPC's CIDR block is /16 to /28", "10.20.0.0/16"),
        ("banana", "not an IPv4 network", "such as 10.20.0.0/16"),
        ("8.8.0.0/16", "not a private range", "10.0.0.0/8"),
    ],
)
def test_bad_vpc_cidrs_are_refused_with_the_fix(text, message, fix):
    with pytest.raises(BadInputError) as caught:
        vpc_cidr(text)
    assert message in str(caught.value) and fix in caught.value.fix


def test_the_spec_rules_check_the_e_mail_and_the_zone():
    assert alarm_email(" ops@example.com ") == "ops@example.com"
    assert alarm_email("") is None
    with pytest.raises(BadInputError, match="'ops-at-example' is not an e-mail address"):
        alarm_email("ops-at-example")
    with pytest.raises(BadInputError, match="needs the id of its Route 53 hosted zone"):
        hosted_zone_id(None, domain_name="www.example.com")
    with pytest.raises(BadInputError, match="is not a Route 53 hosted zone id"):
        hosted_zone_id("zone-1", domain_name="www.example.com")
    assert hosted_zone_id("/hostedzone/z0123456789abc", domain_name="www.example.com") == "Z0123456789ABC"


def test_instances_cover_every_az_within_the_spec_bound():
    assert instances("3", azs=2) == 3
    with pytest.raises(BadInputError, match="takes 2 to 8"):
        instances(1, azs=2)
    with pytest.raises(BadInputError, match="takes 3 to 8"):
        instances(9, azs=3)


def test_twin_ports_take_the_first_step_no_other_file_uses():
    assert free_ports(set(), 2).https_port == 8443
    default_and_fargate = {8080, 8443, 8444, 54320, 54321, 8101, 8102, 8180, 8543, 8544, 54420, 54421, 8201}
    ports = free_ports(default_and_fargate, 2)
    assert (ports.http_port, ports.https_port, ports.lb_port, ports.first_app_port, ports.db_port) == (
        8280, 8643, 8644, 8301, 54520,
    )


def test_the_table_agrees_with_a_second_source_motos_region_data():
    """moto ships AWS's published AZ names per region (what its EC2 answers
    describe-availability-zones with); read as data, no mock started."""
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    for region, zones in region_table().items():
        assert set(zones) <= {zone.name for zone in RegionsAndZonesBackend.zones[region]}, region
