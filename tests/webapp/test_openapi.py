"""The API's OpenAPI schema (drf-spectacular) at /api/schema/, and a property-based run
of schemathesis against the running app (pytest-django's live server: a real HTTP
server over loopback) that must find no server error, anonymous and signed in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from threetier.webapp.users.services import user_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

PASSWORD = "Pa55-word-never-shown"


def test_the_schema_describes_the_api(client):
    schema = client.get("/api/schema/?format=json").json()

    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert {"/api/users/", "/api/users/{user_id}/", "/api/auth/login/"} <= set(paths)
    assert {"get", "post"} <= set(paths["/api/users/"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/users/{user_id}/"])
    listing = paths["/api/users/"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"page", "q"}
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"count", "next", "previous", "results"} <= set(schema["components"]["schemas"][page]["properties"])
    user = schema["components"]["schemas"]["UserOutput"]["properties"]
    assert "password" not in user and {"user_id", "user_name", "created_at"} <= set(user)


@pytest.fixture
def running_api(live_server, settings) -> str:
    # Generous limits: the run is about server errors, not about meeting 429s.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "signup": "10000/minute", "signup_all": "10000/minute", "api_write": "10000/minute",
    }}
    settings.AXES_FAILURE_LIMIT = 10_000
    user_create(user_id="alice", user_name="Alice", password=PASSWORD)
    return live_server.url


def schemathesis_run(url: str, *extra: str) -> subprocess.CompletedProcess:
    """schemathesis's own CLI (its stateful and property-based phases), every check that
    a response is not a 5xx; exit 0 means it found none."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/api/schema/?format=json",
         "--checks", "not_a_server_error", "--max-examples", "8", "--seed", "1", "--request-timeout", "10",
         "--no-color", *extra],
        capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL, check=False,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )


def test_schemathesis_finds_no_server_error_anonymous_or_signed_in(running_api):
    token = requests.post(f"{running_api}/api/auth/login/", json={"user_id": "alice", "password": PASSWORD},
                          timeout=10).json()["token"]

    anonymous = schemathesis_run(running_api)
    # Signed in, without the logout operations: they would revoke the token mid-run.
    signed_in = schemathesis_run(
        running_api, "--header", f"Authorization: Token {token}", "--exclude-path-regex", "^/api/auth/logout",
    )

    for run in (anonymous, signed_in):
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        counted = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
        assert counted and counted.group(1) == counted.group(2) and int(counted.group(1)) > 50, run.stdout[-2000:]
