"""One instance runtime: the twin's web instances, an EC2 web server and a Fargate task emit
the same environment keys, the same gunicorn settings and (twin and EC2, the two with
nginx) the same nginx settings, all rendered from threetier.runtime.contract."""

from __future__ import annotations

import re
import tomllib

import pytest

from threetier.local.webapp import SIGNUP_RATE_VARIABLES

from threetier.aws import boot
from threetier.aws.constructs.containers import AppSettings, container_environment, web_command
from threetier.local.twin import Twin
from threetier.local.webapp import instance_nginx_conf
from threetier.paths import parameters_dir
from threetier.runtime import contract
from threetier.spec import parse_spec

pytestmark = pytest.mark.synth  # importing the containers construct starts jsii's Node.js

# What ECS puts into a web task's environment from Secrets Manager (tests/aws/test_fargate.py
# asserts the synthesized task definition's `Secrets` are exactly these).
FARGATE_SECRETS = {"THREETIER_SECRET_KEY", "THREETIER_DB_USER", "THREETIER_DB_PASSWORD"}


@pytest.fixture
def twin(tmp_path):
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    return Twin(parse_spec(data), tmp_path / "state", web_user=None)


def ec2_settings(**overrides) -> boot.BootSettings:
    values = dict(
        region="ap-northeast-1", bundle_url="s3://b/k.zip", app_port=8000, db_host="db", db_port="5432",
        db_name="uda_psql_db", db_secret_arn="arn:db", app_secret_arn="arn:app", allowed_hosts=["alb.example"],
        csrf_trusted_origins=["https://alb.example"], secure_cookies=True,
    )
    return boot.BootSettings(**{**values, **overrides})


def twin_environment(twin) -> dict[str, str]:
    return twin.service("web-1a").env


def ec2_environment() -> dict[str, str]:
    return boot.app_environment(ec2_settings(), boot.Ec2Layout(), db_user="uda_app", name="i-1", az="ap-northeast-1a")


def fargate_environment() -> dict[str, str]:
    app = AppSettings(db_host="db", db_port="5432", db_name="uda_psql_db", allowed_hosts=["alb.example"],
                      csrf_trusted_origins=["https://alb.example"], secure_cookies=True)
    return {
        **container_environment(app, revision="abc", region="ap-northeast-1"),
        **dict.fromkeys(FARGATE_SECRETS, "(from Secrets Manager)"),
        # Set by the image's entrypoint from the task metadata (threetier.runtime.__main__.task_identity).
        **contract.instance_environment("task", "ap-northeast-1a"),
    }


def test_the_three_runtimes_give_the_app_the_same_environment_keys(tmp_path, monkeypatch):
    # The sign-up rates a caller may pass to a rehearsal twin (local/webapp.py) are not part of
    # the contract; a test twin alive in the same worker may have them set.
    for name in SIGNUP_RATE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    twin = Twin(parse_spec(tomllib.loads((parameters_dir() / "default.toml").read_text())),
                tmp_path / "state", web_user=None)
    twin_keys = contract.contract_keys(twin_environment(twin))
    assert twin_keys == contract.contract_keys(ec2_environment()) == contract.contract_keys(fargate_environment())
    # and they are the keys the app reads: settings, database, hosts, storage, secrets, identity
    assert {"DJANGO_SETTINGS_MODULE", "THREETIER_DB_PASSWORD", "THREETIER_SECRET_KEY", "THREETIER_DB_USER",
            "THREETIER_INSTANCE_NAME", "THREETIER_AZ", "THREETIER_ALLOWED_HOSTS", "THREETIER_STATIC_ROOT"} <= twin_keys


def test_twin_and_ec2_hand_the_secrets_over_as_files_of_the_same_layout(twin):
    for environment in (twin_environment(twin), ec2_environment()):
        paths = {secret.name: environment[secret.variable] for secret in contract.APP_SECRETS}
        assert {name: path.rsplit("/", 1)[1] for name, path in paths.items()} == {n: n for n in paths}
        assert len({path.rsplit("/", 1)[0] for path in paths.values()}) == 1  # one secrets directory
        assert not {secret.value_variable for secret in contract.APP_SECRETS} & environment.keys()


def gunicorn_settings(command: list[str]) -> list[str]:
    """The command from `-m gunicorn` on, the values that must differ (bind, name) blanked,
    without the access log (only Fargate's gunicorn writes one: nginx does elsewhere)."""
    args = command[command.index("gunicorn") - 1:]
    if "--access-logfile" in args:
        at = args.index("--access-logfile")
        del args[at:at + 2]
    for flag in ("--bind", "--name", "--env"):
        args[args.index(flag) + 1] = "<" + flag + ">"
    return args


def test_the_three_runtimes_run_gunicorn_with_the_same_settings(twin):
    twin_command = twin.service("web-1a").command
    gunicorn = twin_command[twin_command.index("--") + 1:]
    ec2 = boot.gunicorn_command(boot.Ec2Layout())
    fargate = web_command(8000)
    assert gunicorn_settings(gunicorn) == gunicorn_settings(ec2) == gunicorn_settings(fargate)
    assert gunicorn[gunicorn.index("--bind") + 1].startswith("unix:")
    assert ec2[ec2.index("--bind") + 1] == f"unix:{boot.Ec2Layout().socket}"
    assert fargate[fargate.index("--bind") + 1] == "0.0.0.0:8000"  # behind the ALB directly: no nginx in a task
    # The proxies that append to X-Forwarded-For: the LB and nginx; the ALB alone in a task.
    for command, count in ((gunicorn, 2), (ec2, 2), (fargate, 1)):
        assert command[command.index("--env") + 1] == f"THREETIER_PROXY_COUNT={count}"
    # One access log line per request: nginx's behind nginx, gunicorn's in a task.
    assert "--access-logfile" not in gunicorn and "--access-logfile" not in ec2
    assert fargate[fargate.index("--access-logfile") + 1] == "-"
    for flag, value in (("--workers", contract.GUNICORN.workers), ("--threads", contract.GUNICORN.threads),
                        ("--timeout", contract.GUNICORN.timeout_seconds),
                        ("--graceful-timeout", contract.GUNICORN.graceful_timeout_seconds)):
        assert gunicorn[gunicorn.index(flag) + 1] == str(value)


def normalized(config: str) -> str:
    """An nginx config with its paths, listen address and user blanked: the settings only."""
    config = re.sub(r"(?m)^(\s*(?:listen|alias|pid|error_log|access_log|include|user|\w+_temp_path))\s+[^\s;]+",
                    r"\1 <value>", config)
    config = re.sub(r"unix:\S+;", "unix:<socket>;", config)
    return re.sub(r"(?m)^# no `user`.*$", "user <value>;", config)  # the twin's master is the app user


def test_twin_and_ec2_run_nginx_with_the_same_settings(twin):
    instance = twin.plan.instances[0]
    twin_main, twin_site = instance_nginx_conf(twin.plan.app, instance.name, instance.port)
    ec2_main, ec2_site = boot.nginx_configs(boot.Ec2Layout(), ec2_settings())
    assert normalized(twin_site) == normalized(ec2_site)
    assert normalized(twin_main) == normalized(ec2_main)
    for site in (twin_site, ec2_site):
        assert "server_tokens off;" in site and "client_max_body_size 11m;" in site
        assert "proxy_read_timeout 35s;" in site and "keepalive_timeout 75s;" in site
    # What differs is where: the twin's nginx writes only inside its instance directory.
    assert "user " not in twin_main.split("\n", 2)[1] and "user nginx;" in ec2_main
    directory = str(twin.plan.app.instances_dir / instance.name)
    for line in twin_main.splitlines():
        if line.strip().startswith(("pid", "access_log")) or "_temp_path" in line:
            assert directory in line, line


def test_nginx_takes_the_apps_largest_request_and_outwaits_gunicorn():
    from threetier.webapp.limits import MULTIPART_BODY_MAX

    assert contract.NGINX.client_max_body_bytes == MULTIPART_BODY_MAX
    assert contract.nginx_size(MULTIPART_BODY_MAX) == "11m" and contract.nginx_size(1536) == "2k"
    assert contract.NGINX.proxy_timeout_seconds > contract.GUNICORN.timeout_seconds
    assert contract.NGINX.keepalive_timeout_seconds > 60 and contract.GUNICORN.keepalive_seconds > 60  # the ALB's idle


def test_nginx_keeps_connections_to_gunicorn_and_closes_them_before_gunicorn_does():
    site = contract.nginx_site(listen="8000", socket="/run/threetier/gunicorn.sock", static_root="/static")
    upstream = site[site.index("upstream gunicorn {"):site.index("}")]
    assert "server unix:/run/threetier/gunicorn.sock;" in upstream
    assert f"keepalive {contract.NGINX.upstream_keepalive};" in upstream
    # Keep-alive to an upstream needs HTTP/1.1 and no "Connection: close" passed on.
    assert "proxy_pass http://gunicorn;" in site
    assert "proxy_http_version 1.1;" in site and 'proxy_set_header Connection "";' in site
    # nginx closes an idle connection first: gunicorn closing it first races a reuse (a 502).
    assert contract.NGINX.upstream_keepalive_timeout_seconds < contract.GUNICORN.keepalive_seconds


def test_nginx_without_upstream_keepalive_opens_a_connection_per_request_as_the_seeds_do():
    from dataclasses import replace

    site = contract.nginx_site(listen="8000", socket="/run/g.sock", static_root="/static",
                               settings=replace(contract.NGINX, upstream_keepalive=0))
    assert "upstream" not in site and "proxy_pass http://unix:/run/g.sock;" in site
    assert "proxy_http_version" not in site


def test_secrets_are_written_with_the_layouts_group_and_mode_never_readable_before(tmp_path):
    import os
    import stat

    directory = tmp_path / "secrets"
    gid = os.getgid()
    contract.secure_secrets_dir(directory, app_gid=gid)
    contract.write_secret(directory / "db-app-password", "pw", app_gid=gid)
    assert stat.S_IMODE(directory.stat().st_mode) == contract.SECRETS_DIR_MODE
    info = (directory / "db-app-password").stat()
    assert (stat.S_IMODE(info.st_mode), info.st_gid) == (contract.SECRET_FILE_MODE, gid)
    assert (directory / "db-app-password").read_text() == "pw"
    contract.write_secret(directory / "k", "v", app_gid=None)
    assert stat.S_IMODE((directory / "k").stat().st_mode) == contract.PRIVATE_FILE_MODE
    assert sorted(p.name for p in directory.iterdir()) == ["db-app-password", "k"]  # no temp file left
