"""`threetier manage COMMAND...` against a live twin: the real CLI (a subprocess, as a
user types it) runs Django's commands in the web instances' environment, as their OS
user, against the database they use; a command Django does not know exits non-zero
with Django's own message. The refusals without a twin are test_manage_and_version.py."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from support.twin_helpers import TwinEnv, throwaway_twin

from threetier.local.layout import STATE_DIR_VARIABLE
from threetier.local.probes import wait_until

pytestmark = pytest.mark.integration

ENV = "managetest"
THREETIER = Path(sys.executable).with_name("threetier")  # the venv's console script

# What the instances' Python says about itself, printed by `manage shell -c`.
PROBE = (
    "import json, os; from django.conf import settings; d = settings.DATABASES['default']; "
    "print('PROBE ' + json.dumps({'uid': os.getuid(), 'gid': os.getgid(), "
    "'settings': os.environ['DJANGO_SETTINGS_MODULE'], 'host': d['HOST'], 'port': str(d['PORT']), "
    "'name': d['NAME'], 'user': d['USER'], 'debug': settings.DEBUG, 'media': str(settings.MEDIA_ROOT)}))"
)


@pytest.fixture(scope="module")
def twin_env():
    with throwaway_twin(ENV) as env:
        env.twin.up()
        assert wait_until(lambda: all(env.twin.target_health().values()), timeout=30), env.twin.target_health()
        yield env


def manage(env: TwinEnv, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {
        **os.environ, "THREETIER_PROJECT_ROOT": str(env.project), STATE_DIR_VARIABLE: str(env.state_dir),
        "THREETIER_ENV": ENV, "NO_COLOR": "1", "COLUMNS": "200", **(extra or {}),
    }
    return subprocess.run([str(THREETIER), "manage", *args], env=environ, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)


def probe(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


def instance_uids(env: TwinEnv) -> set[tuple[int, int]]:
    """(uid, gid) of every running web instance's processes, from /proc."""
    found = set()
    for name in env.twin.instance_names():
        pid = env.twin.supervisor.processes()[name]["pid"]
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        found.add((int(status["Uid"].split()[0]), int(status["Gid"].split()[0])))
    return found


def test_migrate_plan_runs_against_the_instances_database_and_finds_nothing_to_do(twin_env):
    result = manage(twin_env, "migrate", "--plan")

    assert result.returncode == 0, result.stderr[-2000:]
    assert "No planned migration operations." in result.stdout, result.stdout


def test_a_shell_runs_as_the_instances_user_with_their_settings(twin_env):
    seen = probe(manage(twin_env, "shell", "-c", PROBE))
    instance_env = twin_env.twin.manage_env()

    # The same OS user as every web instance (threetier-web when the twin runs as root).
    assert instance_uids(twin_env) == {(seen["uid"], seen["gid"])}
    if os.geteuid() == 0 and twin_env.twin.web_user:
        import pwd

        assert pwd.getpwuid(seen["uid"]).pw_name == twin_env.twin.web_user != "root"
    # The same settings module, database (hosts, port, name, the app's role) and media root.
    assert seen["settings"] == instance_env["DJANGO_SETTINGS_MODULE"]
    assert (seen["host"], seen["port"], seen["name"], seen["user"]) == (
        instance_env["THREETIER_DB_HOST"], instance_env["THREETIER_DB_PORT"], instance_env["THREETIER_DB_NAME"],
        instance_env["THREETIER_DB_USER"],
    )
    assert seen["debug"] is False
    assert seen["media"] == instance_env["THREETIER_MEDIA_ROOT"]


def test_createsuperuser_without_a_prompt_makes_an_account_that_signs_in_through_the_lb(twin_env):
    user_id, password = f"ops{secrets.randbelow(10_000):04d}", secrets.token_urlsafe(18)
    result = manage(twin_env, "createsuperuser", "--noinput", extra={
        "DJANGO_SUPERUSER_USER_ID": user_id, "DJANGO_SUPERUSER_USER_NAME": "Operator",
        "DJANGO_SUPERUSER_PASSWORD": password,
    })

    assert result.returncode == 0, result.stderr[-2000:]
    assert "Superuser created successfully." in result.stdout
    assert password not in result.stdout + result.stderr
    # The account is in the instances' database: it signs in through the load balancer.
    twin = twin_env.twin
    answer = requests.post(f"{twin.url}/api/auth/login/", json={"user_id": user_id, "password": password},
                           verify=str(twin.ca_cert_path), timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    token = answer.json()["token"]
    me = requests.get(f"{twin.url}/api/users/{user_id}/", headers={"Authorization": f"Token {token}"},
                      verify=str(twin.ca_cert_path), timeout=30)
    assert me.status_code == 200 and me.json()["user_name"] == "Operator"
    staff = probe(manage(twin_env, "shell", "-c", (
        "from threetier.webapp.users.models import User; import json; "
        f"u = User.objects.get(user_id={user_id!r}); print('PROBE ' + json.dumps([u.is_staff, u.is_superuser]))"
    )))
    assert staff == [True, True]


def test_an_unknown_command_exits_non_zero_with_djangos_message(twin_env):
    result = manage(twin_env, "no_such_command")

    assert result.returncode != 0
    assert "Unknown command: 'no_such_command'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
