"""The load balancer's two semantics, against the real Caddy binary and two small HTTP
servers standing in for the instances (no database, no Django: a second each):

- "alb": a request to a dead target gets 502 until the health check takes it out; no
  retry, no passive health; with every target unhealthy the LB fails open (routes to all
  of them, so a live one answers and a dead one gives 502), not the sorry page.
- "ideal": retries and passive health hide a dead target; all dead → the sorry page.
And the sorry site on its unix socket: 503, no-store, on every path."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from threetier.local import preflight
from threetier.local.caddy import LbSettings, failopen_socket, render_caddyfile, sorry_socket
from threetier.local.layout import Layout
from threetier.local.ports import allocate_ports
from threetier.local.probes import wait_until

HEALTH = {"path": "/healthz", "interval_seconds": 0.3, "timeout_seconds": 0.2, "healthy_threshold": 1,
          "unhealthy_threshold": 2}


class FakeInstance:
    """An instance: answers every path with its name; /healthz fails while `sick`."""

    def __init__(self, name: str, port: int):
        self.name, self.port, self.sick = name, port, False
        self.server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> None:
        instance = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                code = 500 if self.path == "/healthz" and instance.sick else 200
                body = instance.name.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Threetier-Instance", instance.name)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = TrackingServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Like kill -9: open connections are cut and the port refuses new ones."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            for connection in list(self.server.connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self.server = None


class TrackingServer(http.server.ThreadingHTTPServer):
    """Remembers its open connections (the LB keeps some alive), so `stop` can cut them."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        self.connections: set[socket.socket] = set()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address) -> None:  # noqa: ANN001
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # noqa: ANN001
        self.connections.discard(request)
        super().shutdown_request(request)


class Lb:
    def __init__(self, root: Path, semantics: str):
        http_port, lb_port, public_port, apps = allocate_ports(1, 1, 1, 2)
        self.layout = Layout(root)
        for directory in (self.layout.run, self.layout.logs, self.layout.caddy_home):
            directory.mkdir(parents=True, exist_ok=True)
        self.instances = [FakeInstance(f"web-{i}", port) for i, port in enumerate(apps)]
        self.settings = LbSettings(
            http_port=http_port[0], lb_port=lb_port[0], public_port=public_port[0], upstream_ports=list(apps),
            health=HEALTH, try_duration_seconds=5, semantics=semantics,
        )
        self.layout.caddyfile.write_text(render_caddyfile(self.settings, self.layout))
        self.process: subprocess.Popen | None = None

    @property
    def ca(self) -> Path:
        return self.layout.caddy_ca_root

    def start(self) -> None:
        for instance in self.instances:
            instance.start()
        home = self.layout.caddy_home
        env = {**os.environ, "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config")}
        self.process = subprocess.Popen(  # noqa: S603 - our own Caddy, our own config
            [preflight.caddy_executable(check=True), "run", "--config", str(self.layout.caddyfile),
             "--adapter", "caddyfile"],
            env=env, stdout=subprocess.DEVNULL, stderr=(self.layout.logs / "lb.log").open("wb"),
            start_new_session=True,
        )
        assert wait_until(lambda: self.get("/x")[0] == 200, timeout=20), (self.layout.logs / "lb.log").read_text()

    def stop(self) -> None:
        if self.process:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for instance in self.instances:
            instance.stop()

    def get(self, path: str, *, port: int | None = None, unix: Path | None = None) -> tuple[int | None, str, dict]:
        """(status, body, headers) of one request on a new connection (None: no answer)."""
        if not self.ca.exists():
            return None, "", {}
        context = ssl.create_default_context(cafile=str(self.ca))
        connection = http.client.HTTPSConnection("127.0.0.1", port or self.settings.lb_port, timeout=5,
                                                 context=context)
        try:
            if unix is not None:
                raw = socket.socket(socket.AF_UNIX)
                raw.settimeout(5)
                raw.connect(str(unix))
                connection.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace"), dict(response.getheaders())
        except (OSError, http.client.HTTPException):
            return None, "", {}
        finally:
            connection.close()


def running_lb(tmp_path_factory, semantics: str) -> Iterator[Lb]:
    lb = Lb(tmp_path_factory.mktemp(f"lb-{semantics}"), semantics)
    try:
        lb.start()
        yield lb
    finally:
        lb.stop()


@pytest.fixture
def alb(tmp_path_factory) -> Iterator[Lb]:
    yield from running_lb(tmp_path_factory, "alb")


@pytest.fixture
def ideal(tmp_path_factory) -> Iterator[Lb]:
    yield from running_lb(tmp_path_factory, "ideal")


def statuses_for(lb: Lb, seconds: float) -> list[tuple[float, int | None, str]]:
    began, seen = time.monotonic(), []
    while time.monotonic() - began < seconds:
        status, body, _ = lb.get("/users/")
        seen.append((time.monotonic() - began, status, body))
    return seen


# --- the Caddyfile, without running it -----------------------------------------------


def settings(semantics: str) -> LbSettings:
    return LbSettings(http_port=8080, lb_port=8444, public_port=8443, upstream_ports=[8101, 8102], health=HEALTH,
                      try_duration_seconds=5, semantics=semantics)


def test_alb_caddyfile_has_the_target_groups_checks_and_nothing_that_hides_a_dead_target(tmp_path):
    layout = Layout(tmp_path)
    text = render_caddyfile(settings("alb"), layout)
    assert "https://127.0.0.1:8444" in text
    for line in ("health_uri /healthz", "health_interval 300ms", "health_timeout 200ms", "health_passes 1",
                 "health_fails 2", "health_status 200", "lb_try_duration 0", "lb_retries 0"):
        assert line in text
    site = text[text.index("https://127.0.0.1:8444"):]
    site = site[:site.index("\n}\n")]
    # No passive health: the LB's handler counts no failure of its own (no fail_duration);
    # `max_fails 1` only honours a deregistration (the drain server's failure, per address).
    assert "fail_duration" not in site and "max_fails 1" in site
    assert "unhealthy_status" not in site and "unhealthy_latency" not in site
    assert f"reverse_proxy unix/{failopen_socket(layout)}" in text  # fail-open
    assert f"bind unix/{sorry_socket(layout)}" in text
    assert "redir https://{host}:8443{uri} 301" in text  # to the public URL, not the LB's port
    assert text.count("status 503") == 1  # the sorry page is the sorry site's only, not the LB's


def test_ideal_caddyfile_keeps_retries_passive_health_and_the_sorry_page_at_the_lb(tmp_path):
    text = render_caddyfile(settings("ideal"), Layout(tmp_path))
    for line in ("lb_try_duration 5s", "lb_retries 4", "max_fails 1", "handle_errors 502 503 504"):
        assert line in text
    assert "lb-failopen.sock" not in text


# --- the real Caddy -----------------------------------------------------------------------


@pytest.mark.integration
def test_alb_a_dead_target_costs_502s_until_the_health_check_takes_it_out(alb):
    alb.instances[0].stop()
    seen = statuses_for(alb, 2.0)
    failed = [(t, status) for t, status, _ in seen if status != 200]
    assert failed, "no request failed: something retried the dead target"
    assert {status for _, status in failed} == {502}
    # 2 checks × 0.3 s (+ the time the first check takes to come round), then no more.
    assert max(t for t, _ in failed) < 1.5, failed
    assert all(body == "web-1" for t, status, body in seen if t > 1.5)


@pytest.mark.integration
def test_alb_fails_open_when_every_target_is_unhealthy(alb):
    """Both fail their health check; one still serves, one is dead. An ALB routes to both
    (fail-open): the live one answers 200, the dead one 502 — never the sorry page. This
    also proves the fail-open server's upstreams do not share the main one's health state."""
    for instance in alb.instances:
        instance.sick = True
    alb.instances[1].stop()
    assert wait_until(lambda: "unhealthy" in alb.layout.lb_health_log.read_text(), timeout=5)
    time.sleep(1.0)  # both are out by now (2 × 0.3 s)
    seen = statuses_for(alb, 1.0)
    statuses = {status for _, status, _ in seen}
    assert statuses == {200, 502}, seen[:6]
    assert all(body == "web-0" for _, status, body in seen if status == 200)
    assert not any("threetier-sorry-page" in body for _, _, body in seen)
    status, body, _ = next((s, b, h) for s, b, h in (alb.get("/users/") for _ in range(4)) if s == 502)
    assert "502 Bad Gateway" in body  # as an ALB words it


@pytest.mark.integration
def test_the_sorry_site_answers_503_no_store_on_every_path(alb):
    for path in ("/", "/users/", "/api/users/x/"):
        status, body, headers = alb.get(path, port=alb.settings.public_port, unix=sorry_socket(alb.layout))
        assert status == 503, (path, status)
        assert "threetier-sorry-page" in body
        assert headers["Cache-Control"] == "no-store"


@pytest.mark.integration
def test_ideal_hides_a_dead_target_and_serves_the_sorry_page_when_all_are_dead(ideal):
    ideal.instances[0].stop()
    seen = statuses_for(ideal, 1.5)
    assert {status for _, status, _ in seen} == {200}, [s for s in seen if s[1] != 200][:5]
    ideal.instances[1].stop()
    assert wait_until(lambda: ideal.get("/users/")[0] == 503, timeout=5)
    status, body, headers = ideal.get("/users/")
    assert status == 503 and "threetier-sorry-page" in body and headers["Cache-Control"] == "no-store"
