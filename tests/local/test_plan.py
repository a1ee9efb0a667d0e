"""The twin's plan (pure data), its Auto Scaling group's decisions, and how its processes
are found: unit tests, nothing started."""

from __future__ import annotations

import os
from pathlib import Path

from threetier.local import replacer
from threetier.local.layout import Layout
from threetier.local.plan import MARKER_VARIABLE, Binaries, OsUsers, build_plan
from threetier.local.processes import marked_processes
from threetier.local.status import Component, Orphan, TwinStatus
from threetier.spec import load_spec

BINARIES = Binaries(pg_bin_dir=Path("/nowhere/pg/bin"), caddy="/nowhere/caddy")


def plan_of(env: str, root: Path):
    return build_plan(load_spec(env), Layout(root), binaries=BINARIES, users=OsUsers(None, None))


def test_building_a_plan_touches_nothing_and_names_every_program(tmp_path):
    root = tmp_path / "never-created"
    plan = plan_of("default", root)
    assert not root.exists()
    assert [s.name for s in plan.services] == ["db-1a", "web-1a", "web-1c", "lb", "dns", "asg"]
    assert plan.instance_ports() == {"web-1a": 8101, "web-1c": 8102}
    assert plan.pair is None and plan.primary_node().name == "db-1a"
    assert plan.marker == str(root)
    assert plan.services[0].command[0] == "/nowhere/pg/bin/postgres"
    assert plan.service("lb").command[0] == "/nowhere/caddy"
    # the single database restarts in place; web instances are the ASG's to replace
    assert plan.service("db-1a").autorestart is True
    assert {plan.service(n).autorestart for n in ("web-1a", "web-1c")} == {False}


def test_a_multi_az_plan_has_a_pair_whose_nodes_only_the_watchdog_restarts(tmp_path):
    plan = plan_of("prod", tmp_path / "s")
    assert plan.multi_az and [n.name for n in plan.db_nodes] == ["db-1a", "db-1c"]
    assert [n.port for n in plan.db_nodes] == [plan.db_nodes[0].port, plan.db_nodes[0].port + 1]
    assert {s.autorestart for s in plan.services_of("database")} == {False}
    assert plan.service("db-watchdog") is not None
    assert plan.app.db_ports == [n.port for n in plan.db_nodes]


def test_the_asg_replaces_a_dead_instance_once_the_lb_marks_it_unhealthy():
    dead_since: dict[str, float] = {}
    states = {"web-1a": "EXITED", "web-1c": "RUNNING"}
    # dead, but the load balancer still thinks it healthy: wait (an ASG would too)
    assert replacer.replacements(states, {"web-1a": True}, dead_since, 100.0, max_wait=30) == []
    assert replacer.replacements(states, {"web-1a": True}, dead_since, 110.0, max_wait=30) == []
    # the load balancer marks it unhealthy: replace now
    assert replacer.replacements(states, {"web-1a": False}, dead_since, 111.0, max_wait=30) == ["web-1a"]
    assert dead_since == {}


def test_the_asg_replaces_anyway_after_its_bound_and_leaves_stopped_instances_alone():
    dead_since: dict[str, float] = {}
    states = {"web-1a": "FATAL", "web-1c": "STOPPED"}
    assert replacer.replacements(states, {}, dead_since, 0.0, max_wait=30) == []
    assert replacer.replacements(states, {}, dead_since, 29.9, max_wait=30) == []
    assert replacer.replacements(states, {}, dead_since, 30.0, max_wait=30) == ["web-1a"]
    # a deliberately stopped instance (drill outage) and one supervisord still retries are not replaced
    assert replacer.replacements({"web-1c": "STOPPED", "web-1a": "BACKOFF"}, {"web-1c": False}, {}, 99,
                                 max_wait=0) == []


def test_the_asg_config_round_trips():
    config = replacer.ReplacerConfig({"web-1a": 8101}, "/s/logs/lb-health.log", 10.0, 2)
    assert replacer.ReplacerConfig.from_json(config.to_json()) == config
    assert config.max_wait == 3 * 10.0 * 2 + 10


def fake_process(proc: Path, pid: int, ppid: int, command: list[str], environ: dict[str, str]) -> None:
    entry = proc / str(pid)
    entry.mkdir()
    entry.joinpath("stat").write_text(f"{pid} ({Path(command[0]).name}) S {ppid} {pid} {pid} 0 -1\n")
    entry.joinpath("cmdline").write_bytes(b"\0".join(c.encode() for c in command) + b"\0")
    entry.joinpath("environ").write_bytes(b"\0".join(f"{k}={v}".encode() for k, v in environ.items()) + b"\0")


def test_processes_are_found_by_the_marker_and_as_descendants_of_marked_ones(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    mine, other = {MARKER_VARIABLE: "/s/default", "PATH": "/bin"}, {MARKER_VARIABLE: "/s/prod"}
    fake_process(proc, 10, 1, ["supervisord", "-c", "/s/default/supervisord.conf"], mine)
    fake_process(proc, 11, 1, ["postgres", "-D", "/s/default/postgres/db-1a/data"], mine)  # an orphan
    fake_process(proc, 12, 11, ["postgres: checkpointer"], {})  # its title overwrote its environment
    fake_process(proc, 13, 1, ["caddy", "run"], other)  # another twin's
    fake_process(proc, 14, 1, ["bash"], {"PATH": "/bin"})
    found = marked_processes(MARKER_VARIABLE, "/s/default", proc)
    assert [(p.pid, p.ppid) for p in found] == [(10, 1), (11, 1), (12, 11)]
    assert found[1].command == ("postgres", "-D", "/s/default/postgres/db-1a/data")
    # a prefix of another twin's state dir is not a match
    assert marked_processes(MARKER_VARIABLE, "/s/de", proc) == []


def test_the_marker_reaches_this_process_tree_only_through_the_twins_own_environment():
    assert f"{MARKER_VARIABLE}=" not in "\0".join(f"{k}={v}" for k, v in os.environ.items())


def test_status_problems_name_what_is_wrong_and_the_command_that_fixes_it():
    status = TwinStatus("prod", False, "https://127.0.0.1:9443", "/s/prod",
                        orphans=[Orphan(11, "db-1a", "postgres -D x"), Orphan(12, None, "postgres: checkpointer")])
    assert status.problems == [
        "its supervisord is gone: 2 processes of the twin still run unmanaged (pids 11, 12); "
        "`threetier --env prod down` stops them, `threetier --env prod up` restarts the twin"
    ]
    status.state_dir_missing = True
    assert status.problems[0].startswith("the state directory /s/prod was deleted while the twin ran")
    running = TwinStatus("prod", True, "u", "/s/prod", components=[
        Component("web-1a", "web", "a", 1, "FATAL"), Component("web-1c", "web", "c", 2, "STOPPED"),
    ])
    assert running.problems == ["web-1a is FATAL: see `threetier --env prod logs web-1a`"]
