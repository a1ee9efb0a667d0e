"""The benchmark script's cheap parts (no twin is started): `pytest benchmarks/`."""

from __future__ import annotations

import pytest
from rich.console import Console
from twin_throughput import machine_info, parse_args, results_table, twin_spec


def test_defaults_are_modest_and_bad_counts_are_refused():
    args = parse_args([])
    assert (args.requests, args.concurrency, args.instances) == (400, 20, [1, 2, 4])
    assert parse_args(["--instances", "2,4", "-n", "10"]).instances == [2, 4]
    with pytest.raises(SystemExit):
        parse_args(["--instances", "0,9"])


@pytest.mark.parametrize("count", [1, 2, 4])
def test_each_twin_spec_runs_that_many_instances_on_distinct_ports(count):
    spec = twin_spec(count)
    assert len(spec.instance_azs()) == count
    local = spec.local
    ports = [local.http_port, local.https_port, local.lb_port, local.db_port, local.db_port + 1]
    ports += range(local.first_app_port, local.first_app_port + count)
    assert len(set(ports)) == len(ports)


def test_table_has_a_row_per_measurement_and_names_the_machine():
    row = {
        "web_instances": 2,
        "route": "lb",
        "path": "/users/",
        "requests": 10,
        "requests_per_second": 123.4,
        "failed_requests": 0,
        "latency_ms": {"p50": 10, "p95": 20, "p99": 30},
    }
    console = Console(width=140, record=True)
    console.print(results_table(machine_info(), [row, {**row, "route": "direct"}]))
    text = console.export_text()
    assert "LB (Caddy, HTTPS)" in text and "direct (HTTP)" in text and "123" in text
    assert f"{machine_info()['cpus']} ×" in text


def twin_ports(spec) -> set[int]:
    local = spec.local
    apps = range(local.first_app_port, local.first_app_port + len(spec.instance_azs()))
    return {local.http_port, local.https_port, local.lb_port, local.db_port, local.db_port + 1, *apps}


def test_the_twins_of_one_run_never_share_a_port():
    # The script brings up a twin per instance count, one after another; a test twin may run beside it.
    specs = [twin_spec(count) for count in (1, 2, 4)]
    for i, first in enumerate(specs):
        for second in specs[i + 1:]:
            assert twin_ports(first).isdisjoint(twin_ports(second))
