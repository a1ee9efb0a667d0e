"""The contract every runtime of the web app renders from: EC2 (threetier.aws.user_data and
threetier.aws.boot), Fargate (threetier.aws.constructs.containers and the Dockerfile) and
the twin (threetier.local.webapp).

Stdlib only: the EC2 boot imports it under a bare python3.11 before any dependency is
installed, and the CDK synth and the twin import it too.

>>> env = {**app_environment(config), **instance_environment("web-1a", "ap-northeast-1a")}
>>> gunicorn_command("/opt/threetier/venv/bin/python", bind=unix_bind(socket), name="threetier")
>>> nginx_site(listen="8000", socket=socket, static_root="/var/lib/threetier/static")
"""

from __future__ import annotations

import math
import os
import shlex
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from threetier.webapp.limits import MULTIPART_BODY_MAX

# --- what runs --------------------------------------------------------------------------

SETTINGS_MODULE = "threetier.webapp.settings.production"
WSGI_APP = "threetier.webapp.wsgi:application"
GUNICORN_CONFIG = "python:threetier.runtime.gunicorn_conf"
# What gunicorn serves for a user's app: its callable (THREETIER_APP_WSGI) wrapped in
# threetier's health and identity middleware (threetier.apps.wsgi).
APP_WRAPPER = "threetier.apps.wsgi:application"


@dataclass(frozen=True)
class AppIdentity:
    """Which app an instance runs: the bundled registry (the defaults) or a user's own.

    `directory`: where the app's code is on this runtime ("" = installed, the bundled
    app); `settings`: its Django settings module ("" = not Django); `migrate`: None =
    Django's migrate under the migration lock, "" = none, else a command line run in
    `directory`; `health_path`: the app's own health endpoint ("" = the middleware's).
    """

    wsgi: str = WSGI_APP
    settings: str = SETTINGS_MODULE
    directory: str = ""
    migrate: str | None = None
    collectstatic: bool = True
    health_path: str = ""

    @property
    def bundled(self) -> bool:
        return not self.directory and self.wsgi == WSGI_APP

    @property
    def django(self) -> bool:
        return bool(self.settings)

    def server_wsgi(self) -> str:
        """The callable gunicorn loads: the registry's own, or the wrapper around the user's."""
        return WSGI_APP if self.bundled else APP_WRAPPER


BUNDLED_APP = AppIdentity()

# --- the environment (threetier.webapp.settings.base documents what each one means) -----

SETTINGS = "DJANGO_SETTINGS_MODULE"
DB_HOST = "THREETIER_DB_HOST"
DB_PORT = "THREETIER_DB_PORT"
DB_NAME = "THREETIER_DB_NAME"
DB_USER = "THREETIER_DB_USER"
DB_SSLMODE = "THREETIER_DB_SSLMODE"
ALLOWED_HOSTS = "THREETIER_ALLOWED_HOSTS"
CSRF_TRUSTED_ORIGINS = "THREETIER_CSRF_TRUSTED_ORIGINS"
SECURE_COOKIES = "THREETIER_SECURE_COOKIES"
MEDIA_BACKEND = "THREETIER_MEDIA_BACKEND"
MEDIA_ROOT = "THREETIER_MEDIA_ROOT"
MEDIA_BUCKET = "THREETIER_MEDIA_BUCKET"
STATIC_ROOT = "THREETIER_STATIC_ROOT"
REVISION = "THREETIER_REVISION"
REGION = "AWS_DEFAULT_REGION"  # boto3 (django-storages' S3 backend) does not read it from IMDS
INSTANCE_NAME = "THREETIER_INSTANCE_NAME"
AZ = "THREETIER_AZ"
# Which app (AppIdentity): read by the wrapper and the one-off steps.
APP_DIR = "THREETIER_APP_DIR"
APP_WSGI = "THREETIER_APP_WSGI"
APP_HEALTH_PATH = "THREETIER_APP_HEALTH_PATH"
APP_MIGRATE = "THREETIER_APP_MIGRATE"  # "default" (Django's, under the lock), "none", or a command line
APP_COLLECTSTATIC = "THREETIER_APP_COLLECTSTATIC"  # "on" | "off"
# "on" in the twin only: the wrapper's drill probes (threetier.apps.probes) answer.
DRILL_PROBES = "THREETIER_DRILL_PROBES"
# Built in the app's own process at start-up (`process_environment`), never written to
# a file: they hold the password. DATABASE_URL as dj-database-url reads it, and libpq's
# own variables (a multi-host pair lives in PGHOST/PGPORT: a URL holds one host).
DATABASE_URL = "DATABASE_URL"
LIBPQ_VARIABLES = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE", "PGTARGETSESSIONATTRS")

# --- the secrets -------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretFile:
    """One secret the app reads: from `name` in the secrets directory, whose path is in
    `variable` (EC2, the twin), or as the value itself in `value_variable` (Fargate: ECS
    puts Secrets Manager values into the environment, it cannot write files)."""

    name: str
    variable: str
    value_variable: str


DB_PASSWORD = SecretFile("db-app-password", "THREETIER_DB_PASSWORD_FILE", "THREETIER_DB_PASSWORD")
SECRET_KEY = SecretFile("django-secret-key", "THREETIER_SECRET_KEY_FILE", "THREETIER_SECRET_KEY")
APP_SECRETS = (DB_PASSWORD, SECRET_KEY)

# The secrets layout. The directory and its files belong to root (whoever writes them);
# the app's group may enter the directory (not list it) and read the files it is told
# about, never change them. The app user is never the owner: a compromised app cannot
# rewrite its own credentials. Without a separate app user (the twin not run as root),
# everything is the caller's alone.
SECRETS_DIR_MODE = 0o710
SECRET_FILE_MODE = 0o640
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def secrets_dir_mode(app_gid: int | None) -> int:
    return PRIVATE_DIR_MODE if app_gid is None else SECRETS_DIR_MODE


def secret_file_mode(app_gid: int | None) -> int:
    return PRIVATE_FILE_MODE if app_gid is None else SECRET_FILE_MODE


def secure_secrets_dir(path: Path, *, app_gid: int | None) -> None:
    """Create `path` (if needed) with the layout's owner, group and mode."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if app_gid is not None:
        os.chown(path, -1, app_gid)
    os.chmod(path, secrets_dir_mode(app_gid))


def write_secret(path: Path, value: str, *, app_gid: int | None) -> None:
    """Write one secret file with the layout's group and mode, never readable by anyone
    else, not even briefly (created 0600, chowned, chmodded, then renamed into place)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    if app_gid is not None:
        os.chown(tmp, -1, app_gid)
    os.chmod(tmp, secret_file_mode(app_gid))
    os.replace(tmp, path)


def secure_secret_file(path: Path, *, app_gid: int | None) -> None:
    """Give an existing secret file the layout's group and mode."""
    if app_gid is not None:
        os.chown(path, -1, app_gid)
    os.chmod(path, secret_file_mode(app_gid))


def secret_file_environment(secrets_dir: str | Path) -> dict[str, str]:
    """The variables that name the secret files (the app reads them at start-up)."""
    return {secret.variable: f"{secrets_dir}/{secret.name}" for secret in APP_SECRETS}


# --- the app's environment ---------------------------------------------------------------


@dataclass(frozen=True)
class AppConfig:
    """The webapp's non-secret settings (CDK tokens allowed in every string)."""

    db_host: str  # one host, or a comma list for libpq's multi-host failover (the twin's pair)
    db_port: str  # one port, or a comma list matching the hosts
    db_name: str
    allowed_hosts: Sequence[str]  # the names clients send as Host (seed 000's server_name trap)
    csrf_trusted_origins: Sequence[str]
    secure_cookies: bool
    static_root: str
    media_root: str
    media_backend: str = "filesystem"
    media_bucket: str = ""
    db_sslmode: str = ""  # "" = libpq's default; "require" on RDS (its parameter group forces TLS)
    region: str = ""
    revision: str = "unversioned"
    app: AppIdentity = BUNDLED_APP
    drill_probes: bool = False  # the twin's rehearsals only


def app_environment(config: AppConfig) -> dict[str, str]:
    """What every instance of every runtime gets, secrets and instance identity aside.
    Every key is always present (empty when it does not apply), so the three runtimes
    emit the same keys."""
    return {
        **identity_environment(config.app),
        DRILL_PROBES: "on" if config.drill_probes else "off",
        DB_HOST: config.db_host,
        DB_PORT: config.db_port,
        DB_NAME: config.db_name,
        DB_SSLMODE: config.db_sslmode,
        ALLOWED_HOSTS: ",".join(config.allowed_hosts),
        CSRF_TRUSTED_ORIGINS: ",".join(config.csrf_trusted_origins),
        SECURE_COOKIES: "true" if config.secure_cookies else "false",
        MEDIA_BACKEND: config.media_backend,
        MEDIA_ROOT: config.media_root,
        MEDIA_BUCKET: config.media_bucket,
        STATIC_ROOT: config.static_root,
        REGION: config.region,
        REVISION: config.revision,
        "PYTHONUNBUFFERED": "1",
    }


def instance_environment(name: str, az: str) -> dict[str, str]:
    """Who this instance is (shown on every page and in the X-Threetier-* headers)."""
    return {INSTANCE_NAME: name, AZ: az}


def identity_environment(app: AppIdentity) -> dict[str, str]:
    """The keys that say which app runs (part of `app_environment`; `app_identity` reads them back)."""
    return {
        SETTINGS: app.settings,
        APP_DIR: app.directory,
        APP_WSGI: "" if app.bundled else app.wsgi,
        APP_HEALTH_PATH: app.health_path,
        APP_MIGRATE: "default" if app.migrate is None else (app.migrate.strip() or "none"),
        APP_COLLECTSTATIC: "on" if app.collectstatic else "off",
    }


def app_identity(environ: Mapping[str, str]) -> AppIdentity:
    """The AppIdentity an `app_environment` describes (what the one-off steps and the
    container's entrypoint read; absent keys: the bundled registry)."""
    migrate = environ.get(APP_MIGRATE, "default")
    return AppIdentity(
        wsgi=environ.get(APP_WSGI) or WSGI_APP,
        settings=environ.get(SETTINGS, SETTINGS_MODULE),
        directory=environ.get(APP_DIR, ""),
        migrate=None if migrate == "default" else ("" if migrate == "none" else migrate),
        collectstatic=environ.get(APP_COLLECTSTATIC, "on") != "off",
        health_path=environ.get(APP_HEALTH_PATH, ""),
    )


def database_url(environ: Mapping[str, str], password: str) -> str:
    """DATABASE_URL from the discrete variables: `postgres://user:pw@host:port/name`; with
    a multi-host pair (the twin's) the host is left out, so libpq takes PGHOST/PGPORT."""
    hosts = environ.get(DB_HOST, "")
    auth = f"{urllib.parse.quote(environ.get(DB_USER, ''), safe='')}:{urllib.parse.quote(password, safe='')}"
    where = "" if "," in hosts else f"{hosts}:{environ.get(DB_PORT) or '5432'}"
    query = f"?sslmode={environ[DB_SSLMODE]}" if environ.get(DB_SSLMODE) else ""
    return f"postgres://{auth}@{where}/{urllib.parse.quote(environ.get(DB_NAME, ''), safe='')}{query}"


def process_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What an app process adds to its own environment at start-up (the wrapper and the
    one-off steps): the secret key's value (from its file when given as one), the
    password, DATABASE_URL and libpq's variables. Nothing here ever reaches a file."""
    added: dict[str, str] = {}
    for secret in APP_SECRETS:
        if not environ.get(secret.value_variable) and environ.get(secret.variable):
            with open(environ[secret.variable], encoding="utf-8") as handle:
                added[secret.value_variable] = handle.read().strip()
    password = added.get(DB_PASSWORD.value_variable) or environ.get(DB_PASSWORD.value_variable, "")
    if not environ.get(DB_HOST):
        return added
    added.update({
        DATABASE_URL: database_url(environ, password),
        "PGHOST": environ[DB_HOST], "PGPORT": environ.get(DB_PORT) or "5432",
        "PGDATABASE": environ.get(DB_NAME, ""), "PGUSER": environ.get(DB_USER, ""), "PGPASSWORD": password,
        # The primary only: after a failover the pair's new primary, never the read-only standby.
        "PGTARGETSESSIONATTRS": "read-write",
    })
    if environ.get(DB_SSLMODE):
        added["PGSSLMODE"] = environ[DB_SSLMODE]
    return added


def contract_keys(environment: Mapping[str, str]) -> set[str]:
    """The keys an environment gives the app, a secret given as a file or as its value
    counting the same (so EC2, the twin and Fargate compare equal)."""
    by_file = {secret.variable: secret.value_variable for secret in APP_SECRETS}
    return {by_file.get(key, key) for key in environment}


# --- gunicorn ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gunicorn:
    """The app server's settings, the same on every runtime: `gunicorn_for(machine)` sizes
    them from the machine the parameters give (docs/performance.md explains the rule).

    gthread workers: one process per vCPU (the app is CPU-bound Python, one core per
    process at most), a few threads each, so a request waiting on the database or the
    network holds a thread, not the vCPU; threads also hold the load balancer's keep-alive
    connections. `timeout`: a worker silent this long is restarted. `graceful_timeout`:
    in-flight requests get this long after SIGTERM (a scale-in, a deploy,
    `Twin.stop_instance`), below the target group's deregistration delay. `keepalive`
    above the ALB's 60 s idle timeout: a backend closing idle connections first causes
    sporadic 502s (ELB user guide).
    """

    workers: int = 2
    threads: int = 4
    timeout_seconds: int = 30
    graceful_timeout_seconds: int = 10
    keepalive_seconds: int = 75


@dataclass(frozen=True)
class Machine:
    """What one web server (an EC2 instance, a Fargate task) has: vCPUs and memory."""

    vcpus: float
    memory_mib: int
    reserved_mib: int  # what is not the app's: the OS, nginx and agents on EC2; little in a task


# vCPUs and memory (MiB) of the instance types a web server is likely to be (EC2 user
# guide, "Instance types" / burstable performance instances).
INSTANCE_TYPES: dict[str, tuple[int, int]] = {
    **{f"{family}.{size}": spec for family in ("t3", "t3a", "t4g")
       for size, spec in {"nano": (2, 512), "micro": (2, 1024), "small": (2, 2048), "medium": (2, 4096),
                          "large": (2, 8192), "xlarge": (4, 16384), "2xlarge": (8, 32768)}.items()},
    "t2.nano": (1, 512), "t2.micro": (1, 1024), "t2.small": (1, 2048), "t2.medium": (2, 4096),
    "t2.large": (2, 8192),
    **{f"{family}.{size}": (vcpus, vcpus * per_vcpu) for family, per_vcpu in
       (("m5", 4096), ("m6i", 4096), ("m6g", 4096), ("m7i", 4096), ("m7g", 4096),
        ("c5", 2048), ("c6i", 2048), ("c6g", 2048), ("c7i", 2048), ("c7g", 2048),
        ("r5", 8192), ("r6i", 8192), ("r6g", 8192), ("r7g", 8192))
       for size, vcpus in (("large", 2), ("xlarge", 4), ("2xlarge", 8), ("4xlarge", 16))},
}
EC2_RESERVED_MIB = 384  # Amazon Linux, nginx, the SSM and CloudWatch agents, page cache to spare
FARGATE_RESERVED_MIB = 64  # the task runs gunicorn alone (the image's entrypoint, no nginx)
WORKER_MIB = 160  # one worker's budget: ~80 MiB RSS measured under load, twice that for growth
THREADS_PER_WORKER = 4  # up to 3 requests waiting on the database while one runs
DEFAULT_GRACEFUL_TIMEOUT_SECONDS = 10


def machine_for_instance_type(instance_type: str) -> Machine:
    """An EC2 instance type's vCPUs and memory (INSTANCE_TYPES)."""
    try:
        vcpus, memory = INSTANCE_TYPES[instance_type]
    except KeyError:
        raise ValueError(
            f"web.instance_type {instance_type!r}: unknown vCPUs and memory, so gunicorn cannot be sized; "
            f"use one of {', '.join(sorted(INSTANCE_TYPES))} or add it to threetier.runtime.contract.INSTANCE_TYPES"
        ) from None
    return Machine(vcpus=vcpus, memory_mib=memory, reserved_mib=EC2_RESERVED_MIB)


def machine_for_fargate(cpu_units: int, memory_mib: int) -> Machine:
    """A Fargate task's size: `cpu` in CPU units (1024 = one vCPU) and memory."""
    return Machine(vcpus=cpu_units / 1024, memory_mib=memory_mib, reserved_mib=FARGATE_RESERVED_MIB)


def gunicorn_for(machine: Machine, *, deregistration_delay_seconds: float | None = None) -> Gunicorn:
    """The one sizing rule for every runtime:

    workers = min(vCPUs rounded, at least 1;  (memory − reserved) // WORKER_MIB, at least 1)
    threads = THREADS_PER_WORKER
    graceful timeout = 10 s, but 1 s below the deregistration delay when that is shorter.

    t3.micro (2 vCPU, 1 GiB) → 2 × 4; a 0.25-vCPU, 512 MiB Fargate task → 1 × 4;
    c6i.xlarge (4 vCPU, 8 GiB) → 4 × 4.
    """
    by_cpu = max(1, round(machine.vcpus))
    by_memory = max(1, (machine.memory_mib - machine.reserved_mib) // WORKER_MIB)
    graceful = DEFAULT_GRACEFUL_TIMEOUT_SECONDS
    if deregistration_delay_seconds is not None:
        graceful = max(1, min(graceful, math.ceil(deregistration_delay_seconds) - 1))
    return Gunicorn(workers=min(by_cpu, by_memory), threads=THREADS_PER_WORKER, graceful_timeout_seconds=graceful)


def gunicorn_for_instance_type(instance_type: str, **kwargs: float | None) -> Gunicorn:
    return gunicorn_for(machine_for_instance_type(instance_type), **kwargs)


def gunicorn_for_fargate(cpu_units: int, memory_mib: int, **kwargs: float | None) -> Gunicorn:
    return gunicorn_for(machine_for_fargate(cpu_units, memory_mib), **kwargs)


# The seeds' web server, a t3.micro: what the twin's instances and EC2 run (2 × 4).
GUNICORN = gunicorn_for_instance_type("t3.micro")


def unix_bind(socket: str | Path) -> str:
    return f"unix:{socket}"


# How many proxies append to X-Forwarded-For in front of the app (threetier.webapp.clients
# takes the client as that many entries from the end, so an entry the client forged on the
# left is never it). Behind nginx (a unix-socket bind: EC2, the twin) two: the load balancer
# (the ALB, or the twin's Caddy) and nginx ($proxy_add_x_forwarded_for appends the LB's
# address). Bound to TCP for the ALB (Fargate) one. With CloudFront in front, the ALB keeps
# CloudFront's header as it is (`routing.http.xff_header_processing.mode = preserve`; only
# CloudFront can reach it), so the count does not change.
PROXY_COUNT = "THREETIER_PROXY_COUNT"


def behind_nginx(bind: str) -> bool:
    """A unix-socket bind is nginx's (EC2, the twin); a TCP one the ALB's (Fargate)."""
    return bind.startswith("unix:")


def proxy_count(bind: str) -> int:
    return 2 if behind_nginx(bind) else 1


def gunicorn_command(
    python: str, *, bind: str, name: str, settings: Gunicorn = GUNICORN, app: AppIdentity = BUNDLED_APP
) -> list[str]:
    """gunicorn's whole command line: `bind` is `unix:/path` behind nginx (EC2, the twin)
    or `0.0.0.0:8000` behind the ALB (Fargate); `name` shows in the process titles.

    `--umask 007`: the socket is the group's too (nginx's workers on EC2); uploads are
    never world-readable. `--forwarded-allow-ips *`: only nginx or the ALB can reach
    gunicorn (unix socket; the web security group), and they set X-Forwarded-*.
    """
    return [
        python, "-m", "gunicorn", app.server_wsgi(),
        "--config", GUNICORN_CONFIG,
        "--bind", bind,
        "--worker-class", "gthread",
        "--workers", str(settings.workers),
        "--threads", str(settings.threads),
        "--timeout", str(settings.timeout_seconds),
        "--graceful-timeout", str(settings.graceful_timeout_seconds),
        "--keep-alive", str(settings.keepalive_seconds),
        "--umask", "007",
        "--forwarded-allow-ips", "*",
        "--env", f"{PROXY_COUNT}={proxy_count(bind)}",
        # Behind nginx its access log already has every request: a second line per request
        # from gunicorn cost the twin's supervisord (and journald on EC2) CPU for nothing.
        *([] if behind_nginx(bind) else ["--access-logfile", "-"]),
        "--error-logfile", "-",
        "--name", name,
    ]


# --- nginx ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nginx:
    """nginx's settings in front of gunicorn, the same on EC2 and in the twin.

    `client_max_body_size`: the app's largest request (an attachment at its limit plus
    the form around it, threetier.webapp.limits), so nginx refuses only what the app
    would refuse anyway and a slightly larger file still gets the app's own message.
    `proxy_read_timeout` outlasts gunicorn's worker timeout, so the app, not nginx,
    decides when a request took too long. `keepalive_timeout`: above the ALB's 60 s.
    `upstream_keepalive`: idle connections to gunicorn each nginx worker keeps (HTTP/1.1),
    so a request does not open a new unix-socket connection that a gthread worker must
    accept, register and close (measured: ~1.4 ms of CPU per /users/ request, docs/
    performance.md); closed by nginx after `upstream_keepalive_timeout`, below gunicorn's
    keep-alive, so nginx never reuses a connection gunicorn is closing. 0: a connection
    per request, as the seeds' nginx does.
    """

    client_max_body_bytes: int = MULTIPART_BODY_MAX
    keepalive_timeout_seconds: int = 75
    upstream_keepalive: int = 16
    upstream_keepalive_timeout_seconds: int = 60
    proxy_connect_timeout_seconds: int = 5
    proxy_timeout_seconds: int = GUNICORN.timeout_seconds + 5
    static_expires: str = "1h"


NGINX = Nginx()
MIME_TYPES = "/etc/nginx/mime.types"  # the nginx package's own (Debian and Amazon Linux alike)
# The temp directories nginx needs; set explicitly so it never falls back to a root-only path.
NGINX_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_size(size: int) -> str:
    """Bytes as nginx writes sizes: 11534336 → '11m'."""
    mib = 1024 * 1024
    return f"{size // mib}m" if size % mib == 0 else f"{math.ceil(size / 1024)}k"


def nginx_site(*, listen: str, socket: str | Path, static_root: str | Path, settings: Nginx = NGINX) -> str:
    """The server block: every Host (`server_name _`: the ALB's health checker sends the
    instance's address; Django validates hosts), static files from disk, the rest to
    gunicorn's unix socket. `listen`: "8000" (every interface, EC2) or "127.0.0.1:8101"."""
    timeout = f"{settings.proxy_timeout_seconds}s"
    if settings.upstream_keepalive:
        upstream = f"""upstream gunicorn {{
    server unix:{socket};
    keepalive {settings.upstream_keepalive};
    keepalive_timeout {settings.upstream_keepalive_timeout_seconds}s;
}}

"""
        target = "http://gunicorn"
        keepalive_directives = """
        proxy_http_version 1.1;
        proxy_set_header Connection "";"""
    else:
        upstream, target, keepalive_directives = "", f"http://unix:{socket}", ""
    return f"""{upstream}server {{
    listen {listen} default_server;
    server_name _;
    server_tokens off;
    client_max_body_size {nginx_size(settings.client_max_body_bytes)};
    keepalive_timeout {settings.keepalive_timeout_seconds}s;

    location /static/ {{
        alias {static_root}/;
        expires {settings.static_expires};
        access_log off;
    }}

    location / {{
        proxy_pass {target};{keepalive_directives}
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        # The load balancer terminates TLS and says which scheme the client used.
        proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;
        proxy_redirect off;
        proxy_connect_timeout {settings.proxy_connect_timeout_seconds}s;
        proxy_send_timeout {timeout};
        proxy_read_timeout {timeout};
    }}
}}
"""


def nginx_main(
    *, site: str | Path, pid: str | Path, error_log: str, access_log: str, temp_dir: str | Path,
    user: str | None = None,
) -> str:
    """nginx.conf around the site: every path nginx writes is named here, so an
    unprivileged nginx (the twin: `user` None) never reaches for a root-only default.
    No `daemon` line: systemd forks it (EC2); the twin adds `-g 'daemon off;'`."""
    temp = "\n".join(f"    {kind}_temp_path {temp_dir}/{kind};" for kind in NGINX_TEMP_DIRS)
    return f"""# Written by threetier (threetier.runtime.contract); edits are overwritten.
{f"user {user};" if user else "# no `user`: the master already runs as the app's user"}
worker_processes auto;
pid {pid};
error_log {error_log} warn;

events {{
    worker_connections 1024;
}}

http {{
    include {MIME_TYPES};
    default_type application/octet-stream;
    sendfile on;
    access_log {access_log};
{temp}
    include {site};
}}
"""


def nginx_test_command(nginx: str, *, conf: str | Path, prefix: str | Path | None = None) -> list[str]:
    """`nginx -t` for a config, its start-up messages on stderr (`-e`: never the
    package's default /var/log/nginx/error.log, which an unprivileged nginx cannot open)."""
    return [nginx, "-t", "-q", "-e", "stderr", *(["-p", str(prefix)] if prefix else []), "-c", str(conf)]


# --- the one-off steps ----------------------------------------------------------------------

# A fixed key every migrating process agrees on: "3tier" in ASCII.
MIGRATION_LOCK_KEY = 0x3374696572
MIGRATION_LOCK_WAIT_SECONDS = 900


def migrate_command(python: str, app: AppIdentity = BUNDLED_APP) -> list[str] | None:
    """Apply migrations as the app role: Django's, holding the migration advisory lock (so two
    migrating processes never race): `python -m threetier.runtime migrate`; the app's own
    command (`app.migrate`) through `python -m threetier.runtime run`; None for none."""
    if app.migrate is None:
        return [python, "-m", "threetier.runtime", "migrate"] if app.django else None
    if not app.migrate.strip():
        return None
    return [python, "-m", "threetier.runtime", "run", "--", *app_command(python, app.migrate)]


def app_command(python: str, command: str) -> list[str]:
    """A command line from the parameters, its leading `python` the app's own interpreter."""
    argv = shlex.split(command)
    return [python, *argv[1:]] if argv[:1] in (["python"], ["python3"]) else argv


def collectstatic_command(python: str, app: AppIdentity = BUNDLED_APP) -> list[str] | None:
    """Collect static files into THREETIER_STATIC_ROOT (the registry's: hashed, compressed);
    needs no database. None when the app collects none (not Django, or app.collectstatic off)."""
    if app.bundled:
        return [python, "-m", "threetier.webapp", "collectstatic", "--noinput"]
    if not (app.django and app.collectstatic):
        return None
    return [python, "-m", "threetier.runtime", "manage", "collectstatic", "--noinput"]


def one_off_environment(environment: Mapping[str, str], secret_key: str) -> dict[str, str]:
    """A one-off step's environment: the instance's, with the secret key's value itself
    (the step runs no gunicorn config to read the key file)."""
    env = {k: v for k, v in environment.items() if k != SECRET_KEY.variable}
    env[SECRET_KEY.value_variable] = secret_key
    return env
