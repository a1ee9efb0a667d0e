"""The twin survives its own faults: supervisord killed, a program restarted behind our
back, the state directory deleted. `status` tells the truth (orphans, exit 1), `up`
recovers, and `down` stops every process of the twin, found by its marker."""

from __future__ import annotations

import json
import shutil
import signal

import pytest
from support.twin_helpers import throwaway_twin

from threetier.cli.main import main
from threetier.local.probes import http_status, wait_until
from threetier.local.processes import is_alive, kill_process
from threetier.local.teardown import component_of, twin_processes

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("twin-faults")]


def status_json(env, monkeypatch, capsys) -> tuple[int, dict]:
    env.cli_env(monkeypatch)
    code = main(["status", "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out)


def kill_supervisord(twin) -> int:
    pid = int(twin.layout.supervisord_pidfile.read_text())
    kill_process(pid, signal.SIGKILL)
    assert wait_until(lambda: not is_alive(pid), timeout=5)
    return pid


def test_after_supervisord_dies_status_shows_the_orphans_up_recovers_and_down_leaves_nothing(monkeypatch, capsys):
    with throwaway_twin("faults") as env:
        twin = env.twin
        twin.up()
        # Caddy restarted by supervisord since `up`: `down` must find it by what it carries, not by a pid
        # recorded earlier.
        old_lb = twin.programs.pid("lb")
        kill_process(old_lb, signal.SIGKILL)
        assert wait_until(lambda: twin.programs.pid("lb") not in (None, old_lb)
                          and twin.programs.state("lb") == "RUNNING", timeout=20)
        new_lb = twin.programs.pid("lb")
        kill_supervisord(twin)

        code, status = status_json(env, monkeypatch, capsys)
        assert code == 1
        assert status["running"] is False and status["state_dir_missing"] is False
        states = {c["name"]: c["state"] for c in status["components"]}
        assert states["db-1a"] == states["web-1a"] == states["web-1c"] == states["lb"] == "ORPHANED"
        assert {c["name"]: c["pid"] for c in status["components"]}["lb"] == new_lb
        assert "supervisord is gone" in status["problems"][0] and "threetier --env faults down" in status["problems"][0]
        orphans = {o["pid"] for o in status["orphans"]}
        assert new_lb in orphans

        result = twin.up()
        assert result.orphans_stopped >= 4
        assert not any(is_alive(pid) for pid in orphans)
        assert twin.status().problems == []
        assert http_status(twin.spec.local.https_port, "/healthz", tls_ca=twin.ca_cert_path) == 200

        kill_supervisord(twin)
        found = twin_processes(twin.plan)
        left = {p.pid for p in found}
        leaders = {p.pid for p in found if component_of(p, twin.plan)}
        assert left and len(leaders) >= 4
        down = twin.down()
        # A leader may exit on its own between this look and down's: the pipe supervisord
        # held is closed, and a program's next log line (the failover stage's decision, a
        # gunicorn worker's restart on a busy machine) meets EPIPE. Those are gone; down
        # stopped the others.
        stopped = set(down.stopped_pids)
        assert down.orphans > 0 and len(leaders & stopped) >= 3, (leaders, stopped)
        assert not any(is_alive(pid) for pid in leaders - stopped)
        assert twin_processes(twin.plan) == []
        assert not any(is_alive(pid) for pid in left)
        code, status = status_json(env, monkeypatch, capsys)
        assert code == 0 and status["orphans"] == [] and status["running"] is False


def test_a_deleted_state_directory_is_detected_and_its_orphans_stopped(monkeypatch, capsys):
    with throwaway_twin("gone") as env:
        twin = env.twin
        twin.up()
        running = {p.pid for p in twin_processes(twin.plan)}
        assert len(running) >= 8  # supervisord, postgres and its workers, gunicorn masters and workers, caddy
        shutil.rmtree(twin.layout.root)

        code, status = status_json(env, monkeypatch, capsys)
        assert code == 1 and status["state_dir_missing"] is True
        assert "was deleted while the twin ran" in status["problems"][0]

        env.cli_env(monkeypatch)
        assert main(["down"]) == 0
        assert "ran without a supervisord" in capsys.readouterr().err
        assert twin_processes(twin.plan) == []
        assert not any(is_alive(pid) for pid in running)
