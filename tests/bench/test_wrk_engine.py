"""wrk as `threetier bench`'s engine: its Lua report parsed, the generator's own CPU per
request and saturation; and a real wrk against a real HTTP server on loopback."""

from __future__ import annotations

import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from threetier.bench.run import choose_engine
from threetier.bench.wrk import generator_cost, parse_output, run_wrk, summarize
from threetier.cli.main import main
from threetier.errors import ThreetierError

RAW = {"requests": 5000, "duration_us": 10_000_000, "bytes": 1, "status_codes": {"200": 4990, "502": 10},
       "instances": {"web-1a": 2500, "web-1c": 2500},
       "errors": {"connect": 0, "read": 1, "write": 0, "status": 10, "timeout": 2},
       "latency_us": {"mean": 19_000, "p50": 15_000, "p90": 30_000, "p95": 40_000, "p99": 90_000, "max": 200_000}}


def test_the_report_becomes_benchs_result_with_the_generators_cost():
    result = summarize(RAW, url="https://x/", connections=100, threads=2, cpu_seconds=0.5, wall_seconds=10.2)
    assert result["requests_per_second"] == 500.0 and result["failed_requests"] == 13
    assert result["latency_ms"]["p50"] == 15.0 and result["latency_ms"]["p99"] == 90.0
    assert result["errors"] == {"socket read": 1, "socket timeout": 2, "non-2xx/3xx answers": 10}
    assert result["generator"]["cpu_ms_per_request"] == 0.1 and result["generator"]["saturated"] is False
    assert result["instances"] == {"web-1a": 2500, "web-1c": 2500}


def test_a_generator_using_90_percent_of_its_cores_is_saturated():
    assert generator_cost(1.8, 1.0, 100, usable_cores=2)["saturated"] is True
    assert generator_cost(0.9, 1.0, 100, usable_cores=1)["saturated"] is True
    assert generator_cost(0.5, 1.0, 100, usable_cores=1)["saturated"] is False


def test_no_result_line_is_an_error_with_wrks_output():
    with pytest.raises(ThreetierError, match="printed no result"):
        parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("X-Threetier-Instance", "web-1a")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def server_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def needs_wrk() -> None:
    """wrk from the system (scripts/test installs it as root, as scripts/ensure-wrk does);
    missing, the test fails, unless THREETIER_SKIP_WRK=1 says to skip it on purpose."""
    if shutil.which("wrk") is not None:
        return
    if os.environ.get("THREETIER_SKIP_WRK") == "1":
        pytest.skip("THREETIER_SKIP_WRK=1")
    pytest.fail("wrk is not installed: run ./scripts/ensure-wrk (Debian: apt-get install wrk), "
                "or set THREETIER_SKIP_WRK=1 to skip this test on purpose", pytrace=False)


@pytest.mark.integration  # starts wrk
def test_real_wrk_counts_statuses_and_instances_and_its_own_cpu(needs_wrk, server_url):
    result = run_wrk(server_url, duration=1, connections=4, threads=2, count=True)
    assert result["requests"] > 10 and result["failed_requests"] == 0
    assert set(result["status_codes"]) == {"200"}
    assert set(result["instances"]) == {"web-1a"}
    assert result["generator"]["cpu_seconds"] > 0 and result["generator"]["cpu_ms_per_request"] > 0


@pytest.mark.integration  # starts wrk
def test_the_cli_uses_wrk_by_default_and_reports_the_generator(needs_wrk, server_url, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code = main(["bench", "--url", server_url, "-d", "1", "-c", "4", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["engine"] == "wrk" and result["requests"] > 0
    assert {"cpu_ms_per_request", "cores_busy", "saturated"} <= result["generator"].keys()


def test_wrk_with_a_request_count_and_locust_with_a_duration_are_refused_with_the_fix():
    with pytest.raises(ThreetierError, match="duration"):
        choose_engine("wrk", requests=100, duration=None)
    with pytest.raises(ThreetierError, match="number of requests"):
        choose_engine("locust", requests=None, duration=5)
    assert choose_engine("auto", requests=100, duration=None) == "locust"  # an exact count: Locust
    assert choose_engine("auto", requests=None, duration=5) == "wrk"
