"""`threetier bench` against the real twin's load balancer (HTTPS, Caddy's local CA), straight
to its own port (local.lb_port), not through the failover stage on the public URL."""

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
    # The load balancer itself, not the failover stage: on AWS, DNS is not on the request path.
    assert result["url"].startswith(cli_env.lb_url) and not result["url"].startswith(cli_env.url)
    assert result["failed_requests"] == 0
    assert result["requests_per_second"] > 0
    assert set(result["instances"]) == set(cli_env.instance_names())
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
