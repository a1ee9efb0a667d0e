"""The web instances: the environment the webapp reads (its contract), the gunicorn
command, and the one-off steps (`migrate`, `collectstatic`) `up` runs before them."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local.postgres import demote_kwargs
from threetier.local.services import Probe, Service

WSGI_APP = "threetier.webapp.wsgi:application"
SETTINGS = "threetier.webapp.settings.production"
GUNICORN_CONFIG = "python:threetier.local.gunicorn_conf"
WORKERS = 2
THREADS = 4
GRACEFUL_TIMEOUT = 3


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


def app_env(settings: AppSettings) -> dict[str, str]:
    """The environment every webapp process gets, except the secret key's value.

    The secret key travels as a file path (THREETIER_SECRET_KEY_FILE) that gunicorn's
    config turns into THREETIER_SECRET_KEY, so it never lands in supervisord.conf.
    """
    return {
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "THREETIER_SECRET_KEY_FILE": str(settings.secret_key_file),
        "THREETIER_DB_HOST": ",".join(settings.db_hosts),
        "THREETIER_DB_PORT": ",".join(str(p) for p in settings.db_ports),
        "THREETIER_DB_NAME": settings.db_name,
        "THREETIER_DB_USER": settings.db_user,
        "THREETIER_DB_PASSWORD_FILE": str(settings.db_password_file),
        "THREETIER_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "THREETIER_CSRF_TRUSTED_ORIGINS": settings.url,
        "THREETIER_MEDIA_BACKEND": "filesystem",
        "THREETIER_MEDIA_ROOT": str(settings.media_root),
        "THREETIER_STATIC_ROOT": str(settings.static_root),
        "THREETIER_SECURE_COOKIES": "true",
        "PYTHONUNBUFFERED": "1",
    }


def instance_service(
    name: str, az: str, port: int, index: int, settings: AppSettings, *, user: str | None = None
) -> Service:
    """Instance number `index` (0-based) of the Auto Scaling group's stand-in, run as
    `user` (None: as supervisord; see webuser.py)."""
    env = {**app_env(settings), "THREETIER_INSTANCE_NAME": name, "THREETIER_AZ": az}
    return Service(
        name=name,
        kind="web",
        az=az,
        command=[
            sys.executable, "-m", "gunicorn", WSGI_APP,
            "--config", GUNICORN_CONFIG,
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS),
            "--graceful-timeout", str(GRACEFUL_TIMEOUT), "--timeout", "30",
            "--access-logfile", "-", "--error-logfile", "-", "--name", name,
        ],
        env=env,
        port=port,
        port_key="local.first_app_port" if index == 0 else f"local.first_app_port (+{index})",
        probe=Probe("http", port, "/readyz"),
        user=user,
        # Not supervisord's job: the twin's Auto Scaling group (replacer.py) replaces an
        # instance that died, once the load balancer has marked it unhealthy.
        autorestart=False,
        stop_signal="TERM",
        stop_wait_seconds=GRACEFUL_TIMEOUT + 2,
        start_seconds=1,
        priority=20,
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


def manage(
    commands: list[list[str]], env: dict[str, str], *, log_dir: Path, timeout: float = 180,
    user: str | None = None, cwd: Path | None = None,
) -> None:
    """Run `python -m threetier.webapp ARGS` for each command, side by side (migrate needs
    the database, collectstatic does not: neither waits for the other), with the
    instances' environment and OS user (None: ourselves); each writes logs/<command>.log
    (opened by us, so the user needs no access to logs/). Raises on the first failure."""
    running = []
    for args in commands:
        log = log_dir / f"{args[0]}.log"
        out = log.open("a")
        out.write(f"\n$ python -m threetier.webapp {' '.join(args)}\n")
        out.flush()
        process = subprocess.Popen(
            [sys.executable, "-m", "threetier.webapp", *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd, **demote_kwargs(user),
        )
        running.append((args, log, out, process))
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
