"""The web instances: each is nginx → gunicorn over a unix socket, as on an EC2 web
server, rendered from the one instance runtime (threetier.runtime.contract): the same
environment keys, gunicorn command line, nginx site and secrets layout. Also the
one-off steps (`migrate` under the advisory lock, `collectstatic`) `up` runs before
the instances start.

An instance's files live in <state>/instances/<name>/ (its "disk"): nginx.conf and
site.conf, nginx's pid and temp directories, gunicorn's socket. As root they belong
to the web user, which runs both servers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from threetier.apps.identity import AppSource
from threetier.errors import ThreetierError
from threetier.local.postgres import chown_to, demote_kwargs
from threetier.local.services import Probe, Service
from threetier.runtime import contract

SETTINGS = contract.SETTINGS_MODULE
WSGI_APP = contract.WSGI_APP
GUNICORN_CONFIG = contract.GUNICORN_CONFIG
WORKERS = contract.GUNICORN.workers
THREADS = contract.GUNICORN.threads
GRACEFUL_TIMEOUT = contract.GUNICORN.graceful_timeout_seconds
SOCKET_NAME = "gunicorn.sock"
# sun_path is 108 bytes on Linux; leave room (the twin's layout keeps its own sockets under 100).
MAX_SOCKET_PATH = 100
# Where the nginx package puts the binary; root's PATH has them, an unprivileged one may not.
NGINX_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin")
NGINX_FIX = (
    "install nginx: run ./scripts/ensure-nginx as root (Debian: apt-get install nginx), "
    "or put an nginx binary on PATH"
)


@dataclass(frozen=True)
class AppSettings:
    """What every instance shares: where the database is, the LB's URL, shared directories."""

    db_hosts: list[str]
    db_ports: list[int]
    db_name: str
    db_user: str
    db_password_file: Path
    secret_key_file: Path
    url: str
    media_root: Path
    static_root: Path
    instances_dir: Path  # <state>/instances: one directory per instance
    # Which app: the bundled registry (run by the tool's own Python), or the user's, whose
    # release copy and venv live in <state>/app (threetier.apps.release, .environment).
    app: contract.AppIdentity = contract.BUNDLED_APP
    python: str = sys.executable
    source: AppSource | None = None
    app_state: Path | None = None


def app_config(settings: AppSettings) -> contract.AppConfig:
    return contract.AppConfig(
        db_host=",".join(settings.db_hosts),
        db_port=",".join(str(p) for p in settings.db_ports),
        db_name=settings.db_name,
        allowed_hosts=["127.0.0.1", "localhost"],
        csrf_trusted_origins=[settings.url],
        secure_cookies=True,
        static_root=str(settings.static_root),
        media_root=str(settings.media_root),
        media_backend="filesystem",
        revision="local",
        app=settings.app,
        drill_probes=True,  # a rehearsal: the wrapper's drill probes answer (never on AWS)
    )


SIGNUP_RATE_VARIABLES = ("THREETIER_SIGNUP_RATE", "THREETIER_SIGNUP_RATE_ALL")


def app_env(settings: AppSettings) -> dict[str, str]:
    """The environment every webapp process gets, except the secrets' values.

    The secrets travel as file paths (the contract's secrets layout): the app reads the
    password file itself, and gunicorn's config turns THREETIER_SECRET_KEY_FILE into
    THREETIER_SECRET_KEY, so no value lands in supervisord.conf.
    """
    # A rehearsal may write faster than the app's sign-up throttle allows one client (the
    # drills' writes are sign-ups from one address): its rates pass through from the caller.
    rates = {name: os.environ[name] for name in SIGNUP_RATE_VARIABLES if os.environ.get(name)}
    return {
        **contract.app_environment(app_config(settings)),
        **rates,
        contract.DB_USER: settings.db_user,
        contract.DB_PASSWORD.variable: str(settings.db_password_file),
        contract.SECRET_KEY.variable: str(settings.secret_key_file),
    }


def nginx_executable() -> str:
    """The system's nginx (PATH, then the package's sbin directories); "nginx" if none
    is found (enough to name it; `up` checks with `require_nginx`)."""
    return shutil.which("nginx") or shutil.which("nginx", path=":".join(NGINX_DIRS)) or "nginx"


def require_nginx() -> str:
    found = nginx_executable()
    if not Path(found).is_file():
        raise ThreetierError("nginx is not installed; the twin's web instances run it in front of gunicorn",
                             fix=NGINX_FIX)
    return found


def instance_dir(settings: AppSettings, name: str) -> Path:
    return settings.instances_dir / name


def instance_service(
    name: str, az: str, port: int, index: int, settings: AppSettings, *, user: str | None = None
) -> Service:
    """Instance number `index` (0-based) of the Auto Scaling group's stand-in: nginx on
    `port` (the load balancer's target) → gunicorn on the instance's unix socket, both
    run as `user` (None: as supervisord; see webuser.py) by threetier.local.webinstance."""
    directory = instance_dir(settings, name)
    sock = directory / SOCKET_NAME
    env = {**app_env(settings), **contract.instance_environment(name, az)}
    gunicorn = contract.gunicorn_command(settings.python, bind=contract.unix_bind(sock), name=name, app=settings.app)
    return Service(
        name=name,
        kind="web",
        az=az,
        command=[
            sys.executable, "-m", "threetier.local.webinstance", "--nginx", nginx_executable(),
            "--dir", str(directory), "--socket", str(sock), "--", *gunicorn,
        ],
        env=env,
        port=port,
        port_key="local.first_app_port" if index == 0 else f"local.first_app_port (+{index})",
        probe=Probe("http", port, "/readyz"),
        user=user,
        directory=str(directory),
        # Not supervisord's job: the twin's Auto Scaling group (replacer.py) replaces an
        # instance that died, once the load balancer has marked it unhealthy.
        autorestart=False,
        # nginx's graceful stop; gunicorn takes it as graceful too (runtime.gunicorn_conf).
        stop_signal="QUIT",
        stop_wait_seconds=GRACEFUL_TIMEOUT + 3,
        start_seconds=1,
        priority=20,
    )


def instance_nginx_conf(settings: AppSettings, name: str, port: int) -> tuple[str, str]:
    """(nginx.conf, site.conf) of one instance: the contract's site, as on EC2, and a main
    config whose pid, temp and log paths are the instance's own (no root-only path)."""
    directory = instance_dir(settings, name)
    site = contract.nginx_site(
        listen=f"127.0.0.1:{port}", socket=directory / SOCKET_NAME, static_root=settings.static_root
    )
    main = contract.nginx_main(
        site=directory / "site.conf", pid=directory / "nginx.pid", error_log="stderr",
        access_log=str(directory / "access.log"), temp_dir=directory / "temp", user=None,
    )
    return main, site


def prepare_instances(instances: list, settings: AppSettings, user: str | None) -> None:
    """Write each instance's nginx config into its directory (the web user's) and check
    it with `nginx -t` as that user, before anything starts. `instances`: objects with
    `.name` and `.port` (the plan's)."""
    nginx = require_nginx()
    for instance in instances:
        directory = instance_dir(settings, instance.name)
        sock = directory / SOCKET_NAME
        if len(str(sock)) > MAX_SOCKET_PATH:
            raise ThreetierError(
                f"the state directory is too deep: the instance socket {sock} exceeds {MAX_SOCKET_PATH} characters",
                fix="set THREETIER_STATE_DIR or local.state_dir to a shorter path",
            )
        (directory / "temp").mkdir(parents=True, exist_ok=True)
        main, site = instance_nginx_conf(settings, instance.name, instance.port)
        (directory / "nginx.conf").write_text(main)
        (directory / "site.conf").write_text(site)
        for path in (settings.instances_dir, directory, directory / "temp", *(directory / "temp").iterdir()):
            chown_to(path, user)
        tested = subprocess.run(
            contract.nginx_test_command(nginx, conf=directory / "nginx.conf", prefix=directory),
            capture_output=True, text=True, timeout=30, check=False, cwd=directory, **demote_kwargs(user),
        )
        if tested.returncode != 0:
            raise ThreetierError(
                f"nginx -t refused the configuration of {instance.name} ({directory / 'nginx.conf'}):",
                details=tested.stderr.strip().splitlines()[-10:],
                fix="fix the error above (a threetier bug if the config is the generated one)",
            )


STATIC_PACKAGES = ("django", "djangorestframework", "whitenoise")
FINGERPRINT_FILE = ".threetier-collected"


def static_fingerprint() -> str:
    """What `collectstatic` output depends on: the versions of the packages shipping
    static files and the webapp's own static files (path, size, mtime).

    collectstatic with hashed, compressed files takes seconds even when nothing
    changed, so `up` skips it while this fingerprint matches the last run's.
    """
    from importlib import metadata  # noqa: PLC0415
    from importlib.util import find_spec  # noqa: PLC0415

    digest = hashlib.sha256()
    for package in STATIC_PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} missing\n".encode())
    found = find_spec("threetier.webapp")
    for location in (found.submodule_search_locations or []) if found else []:
        for path in sorted(Path(location).rglob("*")):
            if path.is_file() and "static" in path.relative_to(location).parts:
                info = path.stat()
                digest.update(f"{path.relative_to(location)} {info.st_size} {info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def static_is_current(static_root: Path) -> bool:
    marker = static_root / FINGERPRINT_FILE
    return (
        (static_root / "staticfiles.json").is_file() and marker.is_file() and marker.read_text() == static_fingerprint()
    )


def mark_static_collected(static_root: Path) -> Path:
    marker = static_root / FINGERPRINT_FILE
    marker.write_text(static_fingerprint())
    return marker


def prepare_user_app(settings: AppSettings, progress: Callable[[str], None]) -> None:
    """The user's app before its instances start: its code copied into <state>/app/release
    (theirs to read, not to change: the web user is not its owner, as on EC2) and its venv."""
    from threetier.apps import environment, readiness, release  # noqa: PLC0415 - only for a user's app

    if settings.source is None or settings.app_state is None:
        return
    source = settings.source.checked_directory()
    progress(f"copying the app from {source} into {release.release_dir(settings.app_state)}")
    copy = release.copy_release(source, settings.app_state)
    environment.ensure_venv(settings.source, settings.app_state, progress=progress)
    # Its HA-readiness facts, for the drills' report (`check` reports them as findings).
    readiness.save_facts(settings.app_state, readiness.inspect_app(
        settings.source, settings.app_state, settings=settings.app.settings, directory=copy))


def one_off_commands(settings: AppSettings, *, collect: bool) -> list[tuple[str, list[str]]]:
    """(log name, argv) of the one-off steps `up` runs before the instances: the contract's
    migrate (under the advisory lock) and, when `collect`, collectstatic; the app's own
    steps when it is the user's (app.migrate, app.collectstatic), none when it has none."""
    steps = [("migrate", contract.migrate_command(settings.python, settings.app))]
    if collect:
        steps.append(("collectstatic", contract.collectstatic_command(settings.python, settings.app)))
    return [(name, argv) for name, argv in steps if argv]


def manage(
    commands: list[tuple[str, list[str]]], env: dict[str, str], *, log_dir: Path, timeout: float = 180,
    user: str | None = None, cwd: Path | None = None,
) -> None:
    """Run each (log name, argv) of `one_off_commands` side by side (migrate needs the
    database, collectstatic does not: neither waits for the other), with the instances'
    environment and OS user (None: ourselves); each writes logs/<name>.log (opened by us,
    so the user needs no access to logs/). Raises on the first failure."""
    running = []
    for name, argv in commands:
        log = log_dir / f"{name}.log"
        out = log.open("a")
        out.write(f"\n$ {' '.join(argv[1:])}\n")
        out.flush()
        process = subprocess.Popen(
            argv,
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd, **demote_kwargs(user),
        )
        running.append((argv[1:], log, out, process))
    deadline = time.monotonic() + timeout
    failures = []
    for args, log, out, process in running:
        try:
            code = process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
            failures.append((args, log, f"took longer than {timeout:.0f} s"))
        else:
            if code != 0:
                failures.append((args, log, f"exit {code}"))
        finally:
            out.close()
    if failures:
        args, log, why = failures[0]
        raise ThreetierError(
            f"`{' '.join(args)}` failed ({why}); the last lines of {log}:",
            details=log.read_text(errors="replace").splitlines()[-15:],
            fix="fix the error above, then run `threetier up` again",
        )
