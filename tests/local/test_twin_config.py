"""The twin's configuration, derived from the spec without starting anything:
the Caddyfile, supervisord.conf, the instances' environment, ports, health, secrets."""

from __future__ import annotations

import hashlib
import hmac
import base64
import os
import shutil
import socket
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from threetier.errors import ThreetierError
from threetier.local import preflight
from threetier.local.caddy import go_duration, render_caddyfile, target_health_from_events
from threetier.local.layout import STATE_DIR_VARIABLE, Layout, resolve_state_dir
from threetier.local.ports import check_ports_free, port_is_free, port_owner
from threetier.local.postgres import HBA, PgNode, node_config, scram_verifier
from threetier.local.probes import Clock, wait_until
from threetier.local.secrets import ensure_secret
from threetier.local.services import instance_names
from threetier.local.supervisor import render_supervisord_conf
from threetier.local.twin import Twin
from threetier.paths import SORRY_PAGE, parameters_dir
from threetier.spec import parse_spec


def make_spec(**local):
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    data["local"].update(local)
    return parse_spec(data)


@pytest.fixture
def twin(tmp_path):
    spec = make_spec(health_check={"interval_seconds": 0.5, "timeout_seconds": 0.4,
                                   "healthy_threshold": 1, "unhealthy_threshold": 2})
    return Twin(spec, tmp_path / "state")


# --- names, ports, state dir ----------------------------------------------------------


def test_instances_are_named_after_their_az_and_spread_round_robin():
    azs = ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1a"]
    assert instance_names(azs) == ["web-1a", "web-1c", "web-1a-2", "web-1c-2", "web-1a-3"]


def test_components_follow_the_spec(twin):
    services = twin.services()
    assert [s.name for s in services] == ["db-1a", "web-1a", "web-1c", "lb", "dns", "asg"]
    assert [s.kind for s in services] == ["database", "web", "web", "loadbalancer", "failover", "autoscaling"]
    assert twin.instance_ports() == {"web-1a": 8101, "web-1c": 8102}
    # The public URL is the failover stage (Route 53's part); the load balancer has its own port.
    assert twin.url == "https://127.0.0.1:8443" and twin.lb_url == "https://127.0.0.1:8444"
    assert (twin.service("dns").port, twin.service("dns").port_key) == (8443, "local.https_port")
    assert (twin.service("lb").port, twin.service("lb").port_key) == (8444, "local.lb_port")


def test_every_port_is_claimed_for_the_conflict_check(twin):
    claims = {key: port for port, key, _ in preflight.port_claims(twin.services(), 8080)}
    assert claims["local.https_port"] == 8443 and claims["local.lb_port"] == 8444
    assert claims["local.http_port"] == 8080
    assert "local.cdn_port" not in claims
    with_cdn = {key: port for port, key, _ in preflight.port_claims(twin.services(), 8080, 8445)}
    assert with_cdn["local.cdn_port"] == 8445


def test_the_lb_port_must_differ_from_the_others():
    with pytest.raises(ThreetierError, match="local.lb_port: 8101 collides"):
        make_spec(lb_port=8101)
    with pytest.raises(ThreetierError, match="must all differ"):
        make_spec(lb_port=8443)


def test_the_failover_stage_checks_as_the_stacks_route53_health_check_with_twin_overrides(twin):
    dns = twin.plan.dns
    assert (dns.listen_port, dns.lb_port, dns.path) == (8443, 8444, "/healthz")
    # default.toml: target group every 10 s, threshold 2 → Route 53 every 10 s, threshold 2; TTL 60 s
    assert (dns.request_interval_seconds, dns.failure_threshold, dns.ttl_seconds) == (10, 2, 60)
    assert dns.enabled
    fast = Twin(make_spec(failover_check={"request_interval_seconds": 0.5, "ttl_seconds": 1}), twin.layout.root)
    assert (fast.plan.dns.request_interval_seconds, fast.plan.dns.failure_threshold, fast.plan.dns.ttl_seconds) == (
        0.5, 2, 1)
    ideal = Twin(make_spec(lb_semantics="ideal"), twin.layout.root)
    assert not ideal.plan.dns.enabled  # "ideal": the LB serves the sorry page itself, as the twin first did


def test_state_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(STATE_DIR_VARIABLE, raising=False)
    assert resolve_state_dir("prod", None).parts[-2:] == (".threetier", "prod")
    assert resolve_state_dir("prod", str(tmp_path / "x")) == tmp_path / "x"
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(tmp_path / "env"))
    assert resolve_state_dir("prod", str(tmp_path / "x")) == tmp_path / "env"


def test_too_deep_state_dir_is_refused_before_anything_is_created(tmp_path):
    layout = Layout(tmp_path / ("d" * 120))
    with pytest.raises(ThreetierError, match="too deep"):
        layout.prepare()
    assert not layout.root.exists()


def test_a_listening_port_is_reported_with_its_key_and_program():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free(port)
        owner = port_owner(port)
        assert owner is not None and owner.pid == os.getpid()
        with pytest.raises(ThreetierError) as caught:
            check_ports_free([(port, "local.https_port", "load balancer lb")], "default")
    message = str(caught.value)
    assert f"port {port} (local.https_port" in message
    assert f"pid {os.getpid()}" in message
    assert "change local.https_port in parameters/default.toml" in message
    assert port_is_free(port)


# --- Caddy ----------------------------------------------------------------------------


def test_go_durations():
    assert [go_duration(s) for s in (10, 0.5, 5, 0.1, 1.25)] == ["10s", "500ms", "5s", "100ms", "1250ms"]


def test_caddyfile_is_loopback_https_with_the_target_groups_health_check_and_fail_open(twin):
    text = render_caddyfile(twin.lb_settings(), twin.layout)
    assert 'local.lb_semantics = "alb"' in text
    assert "https://127.0.0.1:8444" in text and "bind 127.0.0.1" in text
    assert "tls internal" in text and "skip_install_trust" in text and "local_certs" in text
    assert f"admin unix/{twin.layout.caddy_admin_socket}" in text  # never the fixed :2019
    assert "reverse_proxy 127.0.0.1:8101 127.0.0.1:8102" in text
    for line in ("health_uri /healthz", "health_interval 500ms", "health_timeout 400ms",
                 "health_passes 1", "health_fails 2", "health_status 200", "lb_try_duration 0", "lb_retries 0"):
        assert line in text
    site = text[text.index("\nhttps://127.0.0.1:"):]
    site = site[:site.index("\n}\n")]
    # No passive health (an ALB has none): only a deregistration takes a target out.
    assert "fail_duration" not in site and "max_fails 1" in site
    assert "handle_errors 503 {\n\t\treverse_proxy unix/" in text  # fail-open
    # the sorry site, on its own socket: the failover stage's SECONDARY
    assert f"root * {SORRY_PAGE.parent}" in text and f"rewrite * /{SORRY_PAGE.name}" in text
    assert 'Cache-Control "no-store"' in text and "status 503" in text
    assert "redir https://{host}:8443{uri} 301" in text
    assert str(twin.layout.lb_health_log) in text


def test_ideal_caddyfile_keeps_retries_passive_health_and_the_sorry_page(tmp_path):
    spec = make_spec(lb_semantics="ideal", health_check={"interval_seconds": 0.5, "timeout_seconds": 0.4,
                                                         "healthy_threshold": 1, "unhealthy_threshold": 2})
    twin = Twin(spec, tmp_path / "state")
    text = render_caddyfile(twin.lb_settings(), twin.layout)
    assert "https://127.0.0.1:8444" in text and "bind 127.0.0.1" in text
    assert "tls internal" in text and "skip_install_trust" in text and "local_certs" in text
    assert f"admin unix/{twin.layout.caddy_admin_socket}" in text  # never the fixed :2019
    assert "reverse_proxy 127.0.0.1:8101 127.0.0.1:8102" in text
    assert "lb_policy round_robin" in text
    for line in ("health_uri /healthz", "health_interval 500ms", "health_timeout 400ms",
                 "health_passes 1", "health_fails 2", "lb_try_duration 5s", "lb_retries 4",
                 "fail_duration 500ms", "max_fails 1", "handle_errors 502 503 504"):
        assert line in text
    assert f"root * {SORRY_PAGE.parent}" in text and f"rewrite * /{SORRY_PAGE.name}" in text
    assert 'Cache-Control "no-store"' in text and "status 503" in text
    assert "redir https://{host}:8443{uri} 301" in text
    assert str(twin.layout.lb_health_log) in text


@pytest.mark.integration  # runs the caddy binary
def test_caddyfile_is_valid_for_caddy(twin, tmp_path):
    twin.layout.root.mkdir(parents=True)
    twin.layout.caddyfile.write_text(render_caddyfile(twin.lb_settings(), twin.layout))
    caddy = preflight.caddy_executable(check=True)
    result = subprocess.run([caddy, "adapt", "--config", str(twin.layout.caddyfile)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert '"try_duration"' not in result.stdout and '"retries"' not in result.stdout  # alb: no retry
    assert "lb-failopen.sock" in result.stdout and "sorry-site.sock" in result.stdout
    ideal = Twin(make_spec(lb_semantics="ideal"), tmp_path / "ideal")
    ideal.layout.root.mkdir(parents=True)
    ideal.layout.caddyfile.write_text(render_caddyfile(ideal.lb_settings(), ideal.layout))
    result = subprocess.run([caddy, "adapt", "--config", str(ideal.layout.caddyfile)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert '"try_duration":5000000000' in result.stdout and '"retries":4' in result.stdout


def test_no_retries_when_try_duration_is_zero(tmp_path):
    twin = Twin(make_spec(lb_semantics="ideal", lb_try_duration_seconds=0), tmp_path)
    assert "lb_retries 0" in render_caddyfile(twin.lb_settings(), twin.layout)


def test_target_health_follows_caddys_events():
    ports = [8101, 8102]
    lines = [
        '{"msg":"event","name":"unhealthy","data":{"host":"127.0.0.1:8101"}}',  # before the restart
        '{"msg":"event","name":"started","data":null}',
        '{"msg":"event","name":"cert_obtained","data":{"identifier":"localhost"}}',
        '{"msg":"event","name":"unhealthy","data":{"host":"127.0.0.1:8102"}}',
        "not json",
    ]
    assert target_health_from_events([], ports) == {8101: None, 8102: None}
    assert target_health_from_events(lines, ports) == {8101: True, 8102: False}
    lines.append('{"msg":"event","name":"healthy","data":{"host":"127.0.0.1:8102"}}')
    assert target_health_from_events(lines, ports) == {8101: True, 8102: True}


# --- supervisord ------------------------------------------------------------------------


def test_supervisord_conf_runs_each_program_in_its_own_group_with_bounded_stops(twin):
    conf = render_supervisord_conf(twin.services(), twin.layout, identifier="threetier-default")
    assert f"file={twin.layout.supervisor_socket}" in conf and "chmod=0700" in conf
    for name in ("db-1a", "web-1a", "web-1c", "lb"):
        section = conf.split(f"[program:{name}]")[1].split("[program:")[0]
        assert "stopasgroup=true" in section and "killasgroup=true" in section
        assert "autostart=false" in section
        assert f"stdout_logfile={twin.layout.log_of(name)}" in section
        assert int(section.split("stopwaitsecs=")[1].split()[0]) <= 15
    web = conf.split("[program:web-1a]")[1].split("[program:")[0]
    # a dead instance is the twin's Auto Scaling group's to replace (after the LB notices), not supervisord's
    assert "autorestart=false" in web
    asg = conf.split("[program:asg]")[1].split("[program:")[0]
    assert "autorestart=true" in asg and "-m threetier.local.replacer" in asg
    assert 'THREETIER_INSTANCE_NAME="web-1a"' in web and 'THREETIER_AZ="ap-northeast-1a"' in web
    db = conf.split("[program:db-1a]")[1].split("[program:")[0]
    # the single database is restarted in place when it dies, like single-AZ RDS
    assert "autorestart=true" in db and "stopsignal=INT" in db


def test_supervisord_conf_and_instance_env_hold_no_secret_value(twin):
    twin.layout.prepare()
    values = [ensure_secret(twin.layout.secrets, name).read_text()
              for name in ("db-master-password", "db-app-password", "django-secret-key")]
    conf = render_supervisord_conf(twin.services(), twin.layout, identifier="x")
    caddyfile = render_caddyfile(twin.lb_settings(), twin.layout)
    for value in values:
        assert value not in conf and value not in caddyfile
    assert f"THREETIER_DB_PASSWORD_FILE=\"{twin.layout.secrets / 'db-app-password'}\"" in conf


def test_instances_get_the_webapp_contract(twin):
    env = twin.service("web-1c").env
    assert env["DJANGO_SETTINGS_MODULE"] == "threetier.webapp.settings.production"
    assert env["THREETIER_DB_HOST"] == "127.0.0.1" and env["THREETIER_DB_PORT"] == "54320"
    assert env["THREETIER_DB_USER"] == "uda_app" and env["THREETIER_DB_NAME"] == "uda_psql_db"
    assert env["THREETIER_CSRF_TRUSTED_ORIGINS"] == "https://127.0.0.1:8443"
    assert env["THREETIER_MEDIA_BACKEND"] == "filesystem"
    assert env["THREETIER_MEDIA_ROOT"] == str(twin.layout.media)
    assert env["THREETIER_SECURE_COOKIES"] == "true"
    assert env["THREETIER_INSTANCE_NAME"] == "web-1c" and env["THREETIER_AZ"] == "ap-northeast-1c"
    command = twin.service("web-1c").command
    assert "threetier.webapp.wsgi:application" in command
    # nginx listens on the instance's port (the LB's target) and proxies to gunicorn's socket.
    socket = twin.layout.root / "instances" / "web-1c" / "gunicorn.sock"
    assert command[command.index("--bind") + 1] == f"unix:{socket}"
    assert command[command.index("--socket") + 1] == str(socket)
    assert twin.service("web-1c").port == 8102 and twin.service("web-1c").probe.port == 8102
    assert command[command.index("--workers") + 1] == "2"


def test_gunicorn_config_turns_the_key_file_into_the_contract_variable(tmp_path, monkeypatch):
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    monkeypatch.setenv("THREETIER_SECRET_KEY_FILE", str(key))
    monkeypatch.delenv("THREETIER_SECRET_KEY", raising=False)
    import importlib

    import threetier.local.gunicorn_conf as conf

    importlib.reload(conf)
    assert os.environ["THREETIER_SECRET_KEY"] == "s3cret"
    assert "THREETIER_SECRET_KEY_FILE" not in os.environ


# --- PostgreSQL -----------------------------------------------------------------------


def test_postgres_listens_on_loopback_only_with_scram_and_no_trust(tmp_path):
    conf = node_config(PgNode("db-1a", "primary", 54320, tmp_path / "db-1a"))
    assert "listen_addresses = '127.0.0.1'" in conf and "port = 54320" in conf
    assert "wal_level = replica" in conf
    rules = [line.split() for line in HBA.splitlines() if line and not line.startswith("#")]
    assert rules and all(rule[0] == "host" and rule[3] == "127.0.0.1/32" and rule[4] == "scram-sha-256"
                         for rule in rules)
    assert "trust" not in HBA.replace("no trust", "")


def test_scram_verifier_matches_rfc_7677_derivation():
    salt = b"0123456789abcdef"
    verifier = scram_verifier("pencil", salt=salt)
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    assert method == "SCRAM-SHA-256" and iterations_salt == f"4096:{base64.b64encode(salt).decode()}"
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    assert keys.split(":")[1] == base64.b64encode(server_key).decode()
    assert "pencil" not in verifier


def test_secrets_are_created_once_with_mode_0600(tmp_path):
    first = ensure_secret(tmp_path, "db-app-password").read_text()
    assert ensure_secret(tmp_path, "db-app-password").read_text() == first
    assert len(first) >= 40
    assert stat.S_IMODE((tmp_path / "db-app-password").stat().st_mode) == 0o600


# --- waits ------------------------------------------------------------------------------


def test_wait_until_is_bounded_without_sleeping():
    now = [0.0]
    clock = Clock(now=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    calls = []
    assert not wait_until(lambda: calls.append(1) and False, timeout=2, interval=0.5, clock=clock)
    assert len(calls) == 5 and now[0] == 2.0
    assert wait_until(lambda: now[0] >= 1, timeout=5, interval=0.5, clock=clock)


def test_missing_postgres_binaries_name_the_key_and_fix(tmp_path):
    spec = make_spec(postgres="system", postgres_bin_dir=str(tmp_path))
    with pytest.raises(ThreetierError) as caught:
        preflight.pg_bin_dir(spec, check=True)
    assert "'initdb' is missing" in str(caught.value) and "local.postgres_bin_dir" in str(caught.value)


def test_purge_refuses_a_directory_that_is_not_a_state_dir(tmp_path, twin):
    other = tmp_path / "precious"
    other.mkdir()
    (other / "file").write_text("keep me")
    with pytest.raises(ThreetierError, match="does not look like a threetier state directory"):
        Twin(twin.spec, other).down(purge=True)
    assert (other / "file").exists()
    shutil.rmtree(other)


def test_status_of_a_twin_that_never_ran(twin):
    status = twin.status()
    assert status.running is False
    assert {c["name"]: c["state"] for c in status.to_json()["components"]} == {
        "db-1a": "NOT RUNNING", "web-1a": "NOT RUNNING", "web-1c": "NOT RUNNING", "lb": "NOT RUNNING",
        "dns": "NOT RUNNING", "asg": "NOT RUNNING",
    }
    assert status.problems == [] and status.orphans == []
    assert not Path(twin.layout.root).exists()


def test_target_health_reader_follows_the_log_incrementally(tmp_path):
    from threetier.local.caddy import TargetHealthReader

    log = tmp_path / "lb-health.log"
    event = '{{"msg":"event","name":"{}","data":{}}}\n'.format
    log.write_text(event("started", "null") + event("unhealthy", '{"host":"127.0.0.1:8102"}') + '{"msg":"ev')
    reader = TargetHealthReader(log, [8101, 8102])
    assert reader.read() == {8101: True, 8102: False}
    with log.open("a") as handle:  # the partial line is completed later
        handle.write('ent","name":"healthy","data":{"host":"127.0.0.1:8102"}}\n')
    assert reader.read() == {8101: True, 8102: True}
    log.unlink()  # rolled: the backup holds the past, the new file the present
    (tmp_path / "lb-health-2026-01-01T00-00-00.000.log").write_text(event("started", "null"))
    log.write_text(event("unhealthy", '{"host":"127.0.0.1:8101"}'))
    assert reader.read() == {8101: False, 8102: True}
