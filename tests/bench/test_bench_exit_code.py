"""`threetier bench` fails (exit 1, one line with the fix) when every request failed."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from threetier.cli.main import main


@pytest.fixture
def broken_server():
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration  # a Locust worker process
def test_bench_exits_1_when_every_request_failed(broken_server, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")

    code = main(["bench", "--url", broken_server + "/", "-n", "5", "-c", "2"])

    err = capsys.readouterr().err
    assert code == 1, err
    assert "every one of the 5 requests" in err and "fix:" in err
