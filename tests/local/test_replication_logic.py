"""The database pair's decisions and configuration, without starting anything:
when commit degrades to async and back, when the watchdog promotes, the pair's
nodes, roles file, standby config and the watchdog program."""

from __future__ import annotations

import tomllib

import pytest

from threetier.local import replication
from threetier.local.postgres import node_config
from threetier.local.replication import Observation, Pair, failover_action, sync_decision
from threetier.local.supervisor import render_supervisord_conf
from threetier.local.twin import Twin
from threetier.paths import parameters_dir
from threetier.spec import parse_spec


def pair_spec(multi_az: bool = True):
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    data["database"]["multi_az"] = multi_az
    data["local"]["db_port"] = 54320
    return parse_spec(data)


@pytest.fixture
def twin(tmp_path):
    return Twin(pair_spec(), tmp_path / "state")


# --- degrade to async and back -----------------------------------------------------------


def decide(streaming: bool, current: str, misses: int) -> str | None:
    return sync_decision(standby="db-1c", streaming=streaming, current=current, misses=misses, degrade_after=2)


def test_a_streaming_standby_is_made_synchronous_once():
    assert decide(True, "", 0) == '"db-1c"'
    assert decide(True, '"db-1c"', 0) is None  # already: no reload every round


def test_a_missing_standby_degrades_commit_to_async_only_after_the_grace_checks():
    assert decide(False, '"db-1c"', 1) is None  # one blip: commits wait a moment, the pair stays sync
    assert decide(False, '"db-1c"', 2) == ""  # gone: stop waiting for it, writes continue on the primary
    assert decide(False, "", 50) is None  # already async: nothing to do


def test_a_standby_listed_under_an_old_name_is_replaced():
    assert decide(True, '"db-1a"', 0) == '"db-1c"'


def observation(state: str | None, sync_state: str | None, names: str) -> Observation:
    return Observation(names, state, sync_state, 0, 0.0)


def test_promotion_only_from_a_standby_that_was_in_sync():
    assert failover_action(observation("streaming", "sync", '"db-1c"')) == "promote"
    # Degraded (async) or catching up: the standby may miss acknowledged commits.
    assert failover_action(observation("streaming", "async", "")) == "restart"
    assert failover_action(observation("catchup", "sync", '"db-1c"')) == "restart"
    assert failover_action(observation(None, None, "")) == "restart"
    assert failover_action(None) == "restart"  # never saw the pair healthy


# --- the pair as data ----------------------------------------------------------------------


def test_multi_az_twin_has_a_pair_on_consecutive_ports_and_a_watchdog(twin):
    nodes = twin.db_nodes
    assert [(n.name, n.role, n.port, n.az) for n in nodes] == [
        ("db-1a", "primary", 54320, "ap-northeast-1a"), ("db-1c", "standby", 54321, "ap-northeast-1c"),
    ]
    services = {s.name: s for s in twin.services()}
    assert services["db-1c"].port_key == "local.db_port + 1 (standby)"
    assert services["db-1a"].autorestart is services["db-1c"].autorestart is False
    watchdog = services["db-watchdog"]
    assert watchdog.kind == "watchdog" and watchdog.port == 0
    assert watchdog.command[1:3] == ["-m", "threetier.local.watchdog"]
    # stopped before everything else, so `down` never looks like a failure to it
    assert watchdog.priority > max(s.priority for s in services.values() if s.kind != "watchdog")
    settings = twin.app_settings()
    assert settings.db_ports == [54320, 54321]


def test_single_az_twin_has_one_node_and_no_watchdog(tmp_path):
    twin = Twin(pair_spec(multi_az=False), tmp_path / "state")
    assert [n.name for n in twin.db_nodes] == ["db-1a"]
    assert twin.db_pair() is None
    assert "db-watchdog" not in {s.name for s in twin.services()}


def test_roles_follow_the_roles_file_and_the_config_does_not(twin):
    twin.layout.postgres.mkdir(parents=True)
    before = render_supervisord_conf(twin.services(), twin.layout, identifier="x")
    env_before = twin.app_settings()
    twin.db_pair().record_primary("db-1c")
    assert {n.name: n.role for n in twin.db_nodes} == {"db-1a": "standby", "db-1c": "primary"}
    assert twin.primary_node().name == "db-1c"
    # A failover changes no program, port or environment: a second `up` stays a no-op.
    assert render_supervisord_conf(twin.services(), twin.layout, identifier="x") == before
    assert twin.app_settings() == env_before


def test_a_corrupt_or_unknown_roles_file_falls_back_to_the_first_node(twin):
    pair = twin.db_pair()
    twin.layout.postgres.mkdir(parents=True)
    pair.roles_file.write_text("{not json")
    assert pair.recorded_primary() == "db-1a"
    pair.roles_file.write_text('{"primary": "db-9z"}')
    assert pair.recorded_primary() == "db-1a"


def test_each_node_follows_its_peer_when_standby_without_a_password_in_the_config(twin):
    pair = twin.db_pair()
    a, c = pair.nodes
    conf = node_config(c, replication.node_standby_lines(pair, c))
    assert "port=54320" in conf and "application_name=db-1c" in conf
    assert f"user={replication.REPLICATION_USER}" in conf and "passfile=" in conf and "password=" not in conf
    assert "primary_slot_name = 'db_1c'" in conf
    assert "synchronous_commit = on" in conf
    assert "port=54321" in node_config(a, replication.node_standby_lines(pair, a))


def test_the_pair_round_trips_through_the_watchdog_config(twin):
    pair = twin.db_pair()
    assert Pair.from_json(pair.to_json()) == pair
    assert "password" not in pair.to_json().lower().replace("password-file", "")
