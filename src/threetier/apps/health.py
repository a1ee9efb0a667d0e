"""threetier's WSGI middleware around a user's app: what the bundled registry has of its
own, for apps that lack it, without a change to the app's code.

- `/healthz`: 200 while the process answers (the load balancer's target health check);
- `/readyz`: 200 when the database answers (Django: the app's own `default` connection;
  any other WSGI app: a TCP connection to THREETIER_DB_HOST/PORT), else 503 with
  Retry-After (what `up` and the twin's replacer wait for);
- every response names its instance and AZ (X-Threetier-Instance, X-Threetier-AZ), as
  the registry's pages do, so the drills see which instance answered;
- with THREETIER_DRILL_PROBES=on (the twin), the drill probes (threetier.apps.probes).

Both health paths are answered before the app sees the request, so the health checker's
Host (the instance's own address) never meets ALLOWED_HOSTS. An app with a health
endpoint of its own (app.health_path) keeps it: that path goes to the app.

>>> application = HealthMiddleware(django_application, environ=os.environ)
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Mapping

from threetier.runtime import contract

INSTANCE_HEADER = "X-Threetier-Instance"
AZ_HEADER = "X-Threetier-AZ"
LIVE_PATH = "/healthz"
READY_PATH = "/readyz"
RETRY_AFTER_SECONDS = "5"
CONNECT_TIMEOUT_SECONDS = 2.0
# The drill probes' paths (threetier.apps.probes answers them; the drills call them).
PROBE_PREFIX = "/.threetier/"
SESSION_PROBE = PROBE_PREFIX + "session"
WRITE_PROBE = PROBE_PREFIX + "writes/"

Readiness = Callable[[], tuple[bool, str]]


def django_ready() -> tuple[bool, str]:
    """The app's own `default` database answers SELECT 1 (its settings, its driver)."""
    from django.db import connections  # noqa: PLC0415 - only for Django apps

    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any driver's error means "not ready"
        connection.close()
        return False, f"database: {type(exc).__name__}"
    return True, "database: ok"


def tcp_ready(environ: Mapping[str, str]) -> Readiness:
    """For a WSGI app threetier knows nothing of: one of the database's hosts accepts TCP."""
    hosts = [h for h in environ.get(contract.DB_HOST, "").split(",") if h]
    ports = (environ.get(contract.DB_PORT) or "5432").split(",")

    def ready() -> tuple[bool, str]:
        for index, host in enumerate(hosts):
            port = int(ports[min(index, len(ports) - 1)])
            try:
                with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
                    return True, f"database {host}:{port}: ok"
            except OSError:
                continue
        return (not hosts), "database: unreachable" if hosts else "no database configured"

    return ready


class HealthMiddleware:
    """Wrap `app`; `ready` defaults to Django's database when the app is Django's."""

    def __init__(self, app: Callable, *, environ: Mapping[str, str] = os.environ,  # noqa: B006 - read once
                 ready: Readiness | None = None, probes: Callable | None = None):
        self.app = app
        self.own_health = environ.get(contract.APP_HEALTH_PATH, "")
        self.ready = ready or (django_ready if environ.get(contract.SETTINGS) else tcp_ready(environ))
        self.identity = [(INSTANCE_HEADER, environ.get(contract.INSTANCE_NAME, "")),
                         (AZ_HEADER, environ.get(contract.AZ, ""))]
        self.probes = probes

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != self.own_health:
            if path == LIVE_PATH:
                return self.answer(start_response, "200 OK", b"ok\n")
            if path == READY_PATH:
                ok, detail = self.ready()
                if ok:
                    return self.answer(start_response, "200 OK", f"ready ({detail})\n".encode())
                return self.answer(start_response, "503 Service Unavailable", f"not ready ({detail})\n".encode(),
                                   [("Retry-After", RETRY_AFTER_SECONDS)])
        if self.probes is not None and path.startswith(PROBE_PREFIX):
            return self.probes(environ, self.with_identity(start_response))
        return self.app(environ, self.with_identity(start_response))

    def with_identity(self, start_response: Callable) -> Callable:
        def start(status: str, headers: list, exc_info: object = None) -> Callable:
            return start_response(status, [*headers, *self.identity], exc_info)

        return start

    def answer(self, start_response: Callable, status: str, body: bytes, extra: Iterable = ()) -> list[bytes]:
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store"),
                                ("Content-Length", str(len(body))), *extra, *self.identity])
        return [body]
