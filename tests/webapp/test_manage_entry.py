"""`python -m threetier.webapp` (manage.py) and gunicorn with the production settings,
as the twin and the AWS boot script run them: real processes, real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from support.webapp_postgres import SUPERUSER, PostgresServer, closed_port, free_port

pytestmark = pytest.mark.integration  # gunicorn and PostgreSQL

SECRET = "manage-entry-test-secret-not-real"


def contract_env(tmp: Path, server: PostgresServer | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THREETIER_", "DJANGO_"))}
    env.update(
        {
            "THREETIER_SECRET_KEY": SECRET,
            "THREETIER_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "THREETIER_STATIC_ROOT": str(tmp / "static"),
            "THREETIER_MEDIA_ROOT": str(tmp / "media"),
            "THREETIER_INSTANCE_NAME": "web-e2e",
            "THREETIER_AZ": "az-e2e",
        }
    )
    if server is not None:
        password_file = tmp / "db-password"
        password_file.write_text(server.password + "\n")
        password_file.chmod(0o600)
        env.update(
            {
                # A dead first host: libpq must move on to the live one.
                "THREETIER_DB_HOST": "127.0.0.1,127.0.0.1",
                "THREETIER_DB_PORT": f"{closed_port()},{server.port}",
                "THREETIER_DB_NAME": "webapp_e2e",
                "THREETIER_DB_USER": SUPERUSER,
                "THREETIER_DB_PASSWORD_FILE": str(password_file),
            }
        )
    env.update(extra)
    return env


def manage(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "threetier.webapp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_a_missing_secret_key_stops_with_one_clear_line(tmp_path):
    env = contract_env(tmp_path)
    del env["THREETIER_SECRET_KEY"]

    result = manage(["check"], env)

    assert result.returncode == 1, result.stderr
    assert "THREETIER_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


@dataclass
class Deployed:
    url: str
    env: dict[str, str]
    static_root: Path
    log: Path


@pytest.fixture(scope="module")
def deployed(postgres_server: PostgresServer, tmp_path_factory) -> Iterator[Deployed]:
    """migrate + collectstatic + gunicorn, the way `threetier up` does it."""
    tmp = tmp_path_factory.mktemp("e2e")
    with psycopg.connect(
        host="127.0.0.1",
        port=postgres_server.port,
        user=SUPERUSER,
        dbname="postgres",
        password=postgres_server.password,
        autocommit=True,
    ) as admin:
        admin.execute("DROP DATABASE IF EXISTS webapp_e2e")
        admin.execute("CREATE DATABASE webapp_e2e")
    env = contract_env(tmp, postgres_server, THREETIER_SECURE_COOKIES="false")
    for step in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        result = manage(step, env, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    port = free_port()
    log = tmp / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "threetier.webapp.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "2",
                "--worker-class",
                "gthread",
                "--access-logfile",
                "-",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        assert process.poll() is None, log.read_text()
        yield Deployed(url=url, env=env, static_root=tmp / "static", log=log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def fetch(url: str, *, host: str | None = None, data: dict | None = None):
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    if data is not None:
        request.data = json.dumps(data).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


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
