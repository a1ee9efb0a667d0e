"""The twin's web instances run what an EC2 web server runs: nginx (the generated config)
in front of gunicorn over a unix socket, as the web user, and each instance is one unit:
killed whole, replaced whole."""

from __future__ import annotations

import http.client
import os
import pwd
from pathlib import Path

import pytest

from threetier.errors import ThreetierError
from threetier.local import webapp
from threetier.local.probes import wait_until
from threetier.local.processes import group_members, is_alive
from threetier.runtime import contract


def command_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def uid_of(pid: int) -> int:
    return Path(f"/proc/{pid}").stat().st_uid


def test_a_missing_nginx_is_a_threetier_error_that_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(webapp.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(ThreetierError, match="nginx is not installed") as raised:
        webapp.require_nginx()
    assert "scripts/ensure-nginx" in raised.value.fix and "apt-get install nginx" in raised.value.fix


@pytest.mark.integration
def test_an_instance_is_nginx_in_front_of_gunicorn_both_as_the_web_user(running_twin):
    name = running_twin.instance_names()[0]
    port = running_twin.instance_ports()[name]
    leader = running_twin.programs.pid(name)
    members = group_members(leader)
    commands = {pid: command_of(pid) for pid in members}
    assert any("nginx: master process" in c for c in commands.values()), commands
    assert any("nginx: worker process" in c for c in commands.values()), commands
    assert any("gunicorn" in c and "threetier.webapp.wsgi:application" in c for c in commands.values()), commands
    expected_uid = pwd.getpwnam(running_twin.web_user).pw_uid if running_twin.web_user else os.geteuid()
    assert {uid_of(pid) for pid in members} == {expected_uid}

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    response.read()
    assert response.status == 200 and response.getheader("Server") == "nginx"  # server_tokens off
    # A body over the app's largest request is refused by nginx, before gunicorn reads any of it.
    connection.putrequest("POST", "/users/new/")
    connection.putheader("Content-Length", str(contract.NGINX.client_max_body_bytes + 1))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413
    connection.close()


@pytest.mark.integration
def test_kill_instance_kills_nginx_and_gunicorn_and_the_replacer_brings_back_both(running_twin):
    name = running_twin.instance_names()[-1]
    leader = running_twin.programs.pid(name)
    before = group_members(leader)
    assert len(before) >= 5  # wrapper, gunicorn master + workers, nginx master + workers
    running_twin.kill_instance(name)
    assert wait_until(lambda: not any(is_alive(pid) for pid in before), timeout=10), [
        command_of(pid) for pid in before if is_alive(pid)
    ]
    # The twin's Auto Scaling group replaces the whole instance once the LB marks it unhealthy.
    assert wait_until(lambda: running_twin.target_health().get(name) is True
                      and running_twin.programs.pid(name) not in (None, leader), timeout=60)
    after = group_members(running_twin.programs.pid(name))
    assert any("nginx: master process" in command_of(pid) for pid in after)
