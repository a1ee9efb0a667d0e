"""`threetier bench` against a real HTTP server on loopback that labels its instance."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from threetier.bench.run import bench, ensure_loopback
from threetier.cli.main import main
from threetier.errors import ThreetierError


@pytest.fixture(scope="module")
def labelled_server():
    """Two alternating 'instances' behind one port, like round robin behind a load balancer."""
    names = itertools.cycle(["web-1a", "web-1c"])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - http.server's naming
            with lock:
                name = next(names)
            body = b"fail" if self.path == "/broken" else b"ok"
            self.send_response(500 if self.path == "/broken" else 200)
            self.send_header("X-Threetier-Instance", name)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.request_queue_size = 128
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_bench_counts_requests_latency_and_spread(labelled_server):
    result = bench(labelled_server + "/", requests=200, concurrency=10)
    assert result["requests"] == 200
    assert result["failed_requests"] == 0
    assert result["requests_per_second"] > 0
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert result["instances"] == {"web-1a": 100, "web-1c": 100}


def test_bench_counts_http_errors_as_failures(labelled_server):
    result = bench(labelled_server + "/broken", requests=20, concurrency=4)
    assert result["failed_requests"] == 20
    assert result["status_codes"] == {"500": 20}


def test_bench_cli_prints_json(labelled_server, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    code = main(["bench", "--url", labelled_server + "/", "-n", "50", "-c", "5", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert {"requests", "requests_per_second", "latency_ms", "failed_requests", "instances"} <= result.keys()
    assert result["requests"] == 50


@pytest.mark.parametrize("url", ["http://192.0.2.10/", "ftp://127.0.0.1/"])
def test_bench_refuses_targets_that_are_not_this_machine(url):
    with pytest.raises(ThreetierError):
        ensure_loopback(url)
