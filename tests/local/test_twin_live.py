"""The running twin, end to end over real loopback: HTTPS through the failover stage and
Caddy to both instances, shared database and media, failures that cost what they cost
behind an ALB (lb_semantics "alb"), the sorry page once Route 53 would have failed over,
idempotent `up`, `status`, and a `down` that leaves nothing behind."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import requests

from threetier.cli.main import main
from threetier.local import postgres
from threetier.local.probes import wait_until
from threetier.local.processes import is_alive, program_processes
from threetier.local.secrets import read_secret

pytestmark = pytest.mark.integration

# Direct requests to an instance skip the load balancer, so they say what it would have.
AS_IF_BEHIND_LB = {"X-Forwarded-Proto": "https"}


def get(twin, path, **kwargs):
    # verify= per request: a session's verify loses to REQUESTS_CA_BUNDLE from the environment.
    return requests.get(twin.url + path, verify=str(twin.ca_cert_path), timeout=10, **kwargs)


def direct(twin, name, path, **kwargs):
    port = twin.instance_ports()[name]
    return requests.get(f"http://127.0.0.1:{port}{path}", headers=AS_IF_BEHIND_LB, timeout=10, **kwargs)


def new_user_id() -> str:
    return "t" + uuid.uuid4().hex[:9]  # the model allows 10 characters


def test_both_instances_answer_through_the_load_balancer_over_verified_https(running_twin):
    seen = set()
    for _ in range(10):
        response = get(running_twin, "/whoami")
        assert response.status_code == 200
        body = response.json()
        assert response.headers["X-Threetier-Instance"] == body["instance"]
        seen.add((body["instance"], body["az"]))
    assert seen == {("web-1a", "ap-northeast-1a"), ("web-1c", "ap-northeast-1c")}


def test_http_redirects_to_https(running_twin, twin_env):
    response = requests.get(f"{running_twin.http_url}/users/?page=2", allow_redirects=False, timeout=5)
    assert response.status_code == 301
    assert response.headers["Location"] == f"{running_twin.url}/users/?page=2"


def test_a_user_created_through_the_lb_is_seen_by_every_instance(running_twin):
    user_id = new_user_id()
    created = requests.post(
        f"{running_twin.url}/api/users/", verify=str(running_twin.ca_cert_path), timeout=10,
        json={"user_id": user_id, "user_name": "Twin Test", "password": "a-long-pass-123", "comment": "hi"},
    )
    assert created.status_code == 201, created.text
    assert "a-long-pass-123" not in created.text
    for name in running_twin.instance_names():
        response = direct(running_twin, name, f"/api/users/{user_id}/")
        assert response.status_code == 200, (name, response.text)
        assert response.json()["user_name"] == "Twin Test"
        assert response.headers["X-Threetier-Instance"] == name


def test_a_file_uploaded_through_one_instance_downloads_through_the_other(running_twin):
    user_id, content = new_user_id(), b"shared media " + uuid.uuid4().bytes
    port_a, port_c = running_twin.instance_ports()["web-1a"], running_twin.instance_ports()["web-1c"]
    created = requests.post(
        f"http://127.0.0.1:{port_a}/api/users/", headers=AS_IF_BEHIND_LB, timeout=10,
        data={"user_id": user_id, "user_name": "Uploader", "password": "a-long-pass-123", "comment": ""},
        files={"attachment": ("note.txt", content, "text/plain")},
    )
    assert created.status_code == 201, created.text
    assert created.headers["X-Threetier-Instance"] == "web-1a"
    download = requests.get(
        f"http://127.0.0.1:{port_c}/users/{user_id}/attachment", headers=AS_IF_BEHIND_LB, timeout=10
    )
    assert download.status_code == 200, download.text
    assert download.headers["X-Threetier-Instance"] == "web-1c"
    assert download.content == content
    assert any(running_twin.layout.media.rglob("*")), "the upload is not in the shared media directory"


def test_stopping_one_instance_under_load_costs_requests_only_until_the_lb_takes_it_out(running_twin):
    """A graceful stop deregisters the instance first (connection draining), so no request
    fails; were one routed to it after it stopped, an ALB would not retry it (5xx) until the
    health check took it out (interval 0.5 s × threshold 1 here). After the stop the other
    instance serves everything. (tests/local/test_lb_edge.py proves the draining itself.)"""
    outcomes, stop_times = [], []

    def stop() -> None:
        stop_times.append(time.monotonic())
        running_twin.stop_instance("web-1a")
        stop_times.append(time.monotonic())

    stopper = threading.Timer(0.5, stop)
    deadline = time.monotonic() + 30
    session = requests.Session()
    session.trust_env = False
    stopper.start()
    try:
        while time.monotonic() < deadline and not (len(stop_times) == 2 and time.monotonic() > stop_times[1] + 2):
            began = time.monotonic()
            try:
                response = session.get(running_twin.url + "/users/", verify=str(running_twin.ca_cert_path), timeout=10)
                outcomes.append((began, response.status_code, response.headers.get("X-Threetier-Instance")))
            except requests.RequestException as exc:
                outcomes.append((began, repr(exc), None))
    finally:
        stopper.join()
    assert running_twin.status().components[1].state == "STOPPED"
    assert len(outcomes) >= 50, f"only {len(outcomes)} requests in 30 s"
    failures = [(at - stop_times[0], status) for at, status, _ in outcomes if status != 200]
    assert {status for _, status in failures} <= {502, 504}, failures[:5]  # the LB's own answers, not errors
    # Only until detection: one check interval (+ its timeout) after the stop completed.
    assert all(at <= stop_times[1] - stop_times[0] + 0.5 + 0.4 + 0.5 for at, _ in failures), failures
    later = [instance for at, status, instance in outcomes if at > stop_times[1] + 1.5]
    assert later and set(later) == {"web-1c"}
    assert wait_until(lambda: running_twin.target_health()["web-1a"] is False, timeout=5)
    assert {get(running_twin, "/whoami").json()["instance"] for _ in range(4)} == {"web-1c"}
    running_twin.start_instance("web-1a")
    assert wait_until(lambda: all(running_twin.target_health().values()), timeout=20)


def test_every_instance_stopped_gives_5xx_until_the_failover_window_then_the_sorry_page(running_twin):
    """ALB fail-open: the LB routes to the stopped instances and answers 5xx; the failover
    stage (Route 53's part) switches new connections to the sorry site once it decided and
    the TTL passed (1 s here), and back once the LB is healthy again."""
    seen: list[tuple[float, int | None, bool]] = []
    looking = threading.Event()

    def look() -> None:
        while not looking.is_set():
            try:
                response = get(running_twin, "/users/")
                seen.append((time.time(), response.status_code, "threetier-sorry-page" in response.text))
            except requests.RequestException:
                seen.append((time.time(), None, False))
            looking.wait(0.05)

    poller = threading.Thread(target=look)
    stopped_at = time.time()
    poller.start()
    try:
        running_twin.stop_instances()
        assert wait_until(lambda: any(sorry for _, _, sorry in seen), timeout=20, interval=0.1), seen[-5:]
    finally:
        looking.set()
        poller.join()
    try:
        first_sorry = next(at for at, _, sorry in seen if sorry)
        before = [status for at, status, sorry in seen if at < first_sorry and at > stopped_at]
        assert any(status in (502, 503, 504) for status in before), f"no 5xx before the sorry page: {before}"
        started = time.monotonic()
        response = get(running_twin, "/users/")
        one_request = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["Cache-Control"] == "no-store"
        assert "threetier-sorry-page" in response.text
        assert one_request < 2, f"a request took {one_request:.2f} s to get the sorry page"
        # The stage's own account: the record went unhealthy, and clients switched a TTL later.
        events = running_twin.failover_events_since(stopped_at)
        decided = next(e for e in events if e["event"] == "record" and not e["healthy"])
        switched = next(e for e in events if e["event"] == "route" and e["route"] == "sorry")
        assert 0.9 <= switched["ts"] - decided["ts"] <= 1.5, events
        assert first_sorry >= decided["ts"] + 0.9
        print(f"sorry page {first_sorry - stopped_at:.2f} s after the stop began ({decided['reason']})")
    finally:
        running_twin.start_instances()
    assert wait_until(lambda: get(running_twin, "/users/").status_code == 200, timeout=20, interval=0.2)
    assert running_twin.failover_state()["route"] == "lb"
    assert wait_until(lambda: all(running_twin.target_health().values()), timeout=20)


def test_a_killed_instance_is_replaced_like_an_auto_scaling_group_would(running_twin):
    before = running_twin.status().components[2]
    assert before.name == "web-1c" and before.pid
    running_twin.kill_instance("web-1c")
    assert wait_until(lambda: not is_alive(before.pid), timeout=5)

    def replaced() -> bool:
        now = running_twin.status().components[2]
        return now.state == "RUNNING" and now.pid not in (None, before.pid)

    assert wait_until(replaced, timeout=20, interval=0.2)
    assert wait_until(lambda: direct(running_twin, "web-1c", "/readyz").status_code == 200, timeout=20)


def test_a_second_up_changes_nothing(running_twin, twin_env, monkeypatch, capsys):
    pids = {c.name: c.pid for c in running_twin.status().components}
    assert running_twin.up().started == []
    twin_env.cli_env(monkeypatch)
    code = main(["up"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "already running; nothing changed" in err
    assert out.strip() == running_twin.url
    assert {c.name: c.pid for c in running_twin.status().components} == pids


def test_up_starts_a_program_that_is_down(running_twin):
    running_twin.stop_instance("web-1a")
    result = running_twin.up()
    assert result.started == ["web-1a"]
    assert direct(running_twin, "web-1a", "/readyz").status_code == 200


def test_status_json_lists_every_component_with_its_health(running_twin, twin_env, monkeypatch, capsys):
    twin_env.cli_env(monkeypatch)
    code = main(["status", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    status = json.loads(out)
    assert status["url"] == running_twin.url and status["lb_url"] == running_twin.lb_url
    assert status["lb_semantics"] == "alb"
    rows = {c["name"]: c for c in status["components"]}
    assert list(rows) == ["db-1a", "web-1a", "web-1c", "lb", "dns", "asg"]
    assert status["problems"] == [] and status["orphans"] == []
    for row in rows.values():
        assert {"name", "kind", "az", "state", "health", "pid", "port"} <= set(row)
        assert row["state"] == "RUNNING"
    assert rows["web-1a"]["health"] == rows["web-1c"]["health"] == "healthy"
    assert rows["db-1a"]["kind"] == "database" and rows["db-1a"]["health"] == "healthy"
    assert (rows["dns"]["kind"], rows["dns"]["health"], rows["dns"]["role"]) == ("failover", "healthy", "→ lb")
    code = main(["status"])
    out, _ = capsys.readouterr()
    assert code == 0 and "web-1c" in out and "healthy" in out and "ap-northeast-1c" in out


def test_logs_shows_a_components_last_lines(running_twin, twin_env, monkeypatch, capsys):
    twin_env.cli_env(monkeypatch)
    assert main(["logs", "web-1a", "-n", "3"]) == 0
    out, _ = capsys.readouterr()
    assert 0 < len(out.strip().splitlines()) <= 3
    assert main(["logs", "nope"]) == 1
    assert "no log for 'nope'" in capsys.readouterr().err


def test_database_is_loopback_only_and_the_app_role_is_not_a_superuser(running_twin, twin_env):
    spec, secrets = twin_env.spec, running_twin.layout.secrets
    node = running_twin.db_nodes[0]
    with postgres.connect(node.port, user=spec.database.master_username,
                          password=read_secret(secrets / "db-master-password")) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        rules = conn.execute("SELECT type, address, auth_method FROM pg_hba_file_rules").fetchall()
        role = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolcanlogin FROM pg_roles WHERE rolname = %s",
            (spec.database.app_username,),
        ).fetchone()
    assert rules and {r[0] for r in rules} == {"host"} and {r[1] for r in rules} == {"127.0.0.1"}
    assert {r[2] for r in rules} == {"scram-sha-256"}
    assert role == (False, False, False, False, True)
    app = dict(user=spec.database.app_username, password=read_secret(secrets / "db-app-password"))
    with postgres.connect(node.port, dbname=spec.database.name, **app) as conn:
        owner = conn.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'").fetchone()
        assert owner == (spec.database.app_username,)
    assert not postgres.sql_ready(node.port, user=spec.database.app_username, password="wrong")
    with open("/proc/net/tcp") as table:  # listening (0A) on our port: only 127.0.0.1 (0100007F)
        listeners = [line.split()[1] for line in table.read().splitlines()[1:]
                     if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == node.port]
    assert listeners == ["0100007F:" + format(node.port, "04X")]


def test_down_leaves_no_process_and_keeps_the_data(running_twin):
    status = running_twin.status()
    pids = {running_twin.supervisor.pid()}
    for component in status.components:
        pids |= program_processes(component.pid)
    assert len(pids) >= 8  # supervisord, postgres and its workers, 2 × gunicorn master + workers, caddy
    result = running_twin.down(purge=False)
    assert result.was_running and result.leftovers == []
    assert [pid for pid in pids if is_alive(pid)] == []
    assert set(result.stopped_pids) >= pids
    assert running_twin.status().running is False
    assert running_twin.db_nodes[0].initialized  # data kept
    assert running_twin.ca_cert_path.exists()
