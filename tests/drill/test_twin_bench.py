"""`threetier bench` against the real twin's load balancer (HTTPS, Caddy's local CA)."""

from __future__ import annotations

import json

import pytest

from threetier.cli.main import main

pytestmark = pytest.mark.integration


def test_bench_loads_the_twin_and_sees_both_instances(cli_env, capsys):
    code = main(["bench", "-n", "200", "-c", "10", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["requests"] == 200, json.dumps(result)
    assert result["failed_requests"] == 0
    assert result["requests_per_second"] > 0
    assert set(result["instances"]) == set(cli_env.instance_names())
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
