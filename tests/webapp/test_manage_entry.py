"""`python -m threetier.webapp` (manage.py) and gunicorn with the production settings,
as the twin and the AWS boot script run them: real processes, real PostgreSQL."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from support.webapp_server import SECRET, contract_env, fetch, manage

pytestmark = pytest.mark.integration  # gunicorn and PostgreSQL


def test_a_missing_secret_key_stops_with_one_clear_line(tmp_path):
    env = contract_env(tmp_path)
    del env["THREETIER_SECRET_KEY"]

    result = manage(["check"], env)

    assert result.returncode == 1, result.stderr
    assert "THREETIER_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_collectstatic_writes_hashed_compressed_files_into_the_static_root(deployed):
    manifest = json.loads((deployed.static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["threetier/site.css"]

    assert hashed != "threetier/site.css"
    assert (deployed.static_root / (hashed + ".gz")).exists()
    assert (deployed.static_root / "admin" / "css" / "base.css").exists()


def test_health_checks_answer_with_the_instance_address_as_host(deployed):
    for path, body in (("/healthz", b"ok\n"), ("/readyz", b"ready\n")):
        status, headers, content = fetch(deployed.url + path, host="10.0.1.23:8000")
        assert (status, content) == (200, body), path
        assert headers["X-Threetier-Instance"] == "web-e2e"


def test_pages_name_the_instance_and_their_stylesheet_is_served(deployed):
    status, headers, content = fetch(deployed.url + "/")
    html = content.decode()

    assert status == 200 and headers["X-Threetier-AZ"] == "az-e2e"
    assert 'served by <strong class="instance">web-e2e</strong>' in html
    stylesheet = html.split('rel="stylesheet" href="')[1].split('"')[0]
    css_status, css_headers, _ = fetch(deployed.url + stylesheet)
    assert css_status == 200 and "max-age=315360000" in css_headers["Cache-Control"]


def test_the_api_creates_and_reads_users_through_the_multi_host_connection(deployed):
    status, _, content = fetch(
        deployed.url + "/api/users/",
        data={
            "user_id": "e2e",
            "user_name": "E2E",
            "password": "e2e-password-1",
            "comment": "<i>x</i>",
        },
    )
    assert status == 201, content

    status, _, content = fetch(deployed.url + "/api/users/e2e/")
    assert status == 200 and json.loads(content)["comment"] == "<i>x</i>"
    assert b"e2e-password-1" not in content


def test_errors_show_no_traceback_and_logs_hold_no_secrets(deployed):
    status, _, content = fetch(deployed.url + "/users/nobody/")
    assert status == 404 and b"Traceback" not in content

    status, _, _ = fetch(deployed.url + "/", host="evil.example")
    assert status == 400

    fetch(
        deployed.url + "/api/users/",
        data={"user_id": "x" * 11, "user_name": "n", "password": "log-test-pass"},
    )
    log = deployed.log.read_text()
    assert "GET /healthz" in log  # one access line per request
    for secret in (
        SECRET,
        "log-test-pass",
        "e2e-password-1",
        Path(deployed.env["THREETIER_DB_PASSWORD_FILE"]).read_text().strip(),
    ):
        assert secret not in log


def raw_request(url: str, head: str, body: bytes = b"", *, timeout: float = 5) -> tuple[int, dict[str, str], float]:
    """Send `head` (and `body`) on a plain socket; the status, headers and seconds to the answer."""
    host, port = url.removeprefix("http://").split(":")
    began = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    elapsed = time.monotonic() - began
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, elapsed


def test_a_60_mb_body_is_refused_with_413_before_it_is_sent(deployed):
    # Only the headers and 1 KiB of the declared 60 MB go out: the answer must not wait for the rest.
    head = (
        "POST /api/users/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {60 * 1024 * 1024}\r\n\r\n"
    )

    status, headers, elapsed = raw_request(deployed.url, head, b"[" * 1024)

    assert status == 413
    assert elapsed < 2


def test_nul_bytes_deep_json_and_unknown_hosts_are_4xx_without_a_traceback(deployed):
    assert fetch(deployed.url + "/users/alice%00/")[0] == 404
    assert fetch(deployed.url + "/api/users/alice%00/")[0] == 404
    deep = raw_request(
        deployed.url,
        "POST /api/users/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {200_000}\r\nConnection: close\r\n\r\n",
        b"[" * 100_000 + b"]" * 100_000,
    )
    assert deep[0] == 400
    assert fetch(deployed.url + "/users/", host="unknown.example")[0] == 400

    assert "Traceback" not in deployed.log.read_text()


def test_responses_name_no_server_version_and_carry_the_csp(deployed):
    status, headers, _ = fetch(deployed.url + "/users/")

    assert status == 200
    assert headers["Server"] == "gunicorn"  # no version
    assert "script-src 'self'" in headers["Content-Security-Policy"]


def test_createsuperuser_works_non_interactively_with_the_instances_environment(deployed):
    env = {**deployed.env, "DJANGO_SUPERUSER_PASSWORD": "staff-pass-9841"}

    result = manage(["createsuperuser", "--noinput", "--user_id", "ops", "--user_name", "Ops"], env)

    assert result.returncode == 0, result.stdout + result.stderr
    plan = manage(["migrate", "--plan"], deployed.env)
    assert plan.returncode == 0 and "No planned migration operations." in plan.stdout
