"""A real webapp server for tests/webapp: `python -m threetier.webapp` (manage.py) and
gunicorn with the production settings and the environment contract, as the twin and the
AWS boot script run them, against the session's PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from support.webapp_postgres import SUPERUSER, PostgresServer, closed_port, free_port

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


@dataclass
class Deployed:
    url: str
    env: dict[str, str]
    static_root: Path
    log: Path


@contextmanager
def deployed_app(postgres_server: PostgresServer, tmp: Path, **extra_env: str) -> Iterator[Deployed]:
    """migrate + collectstatic + gunicorn, the way `threetier up` does it."""
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
    env = contract_env(tmp, postgres_server, THREETIER_SECURE_COOKIES="false", **extra_env)
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


