"""The twin's drill probes for a user's Django app: requests that go through the app's own
settings — its database connection (CONN_MAX_AGE, CONN_HEALTH_CHECKS), its session
engine and cache — so `drill web`, `drill db` and `drill az` show what breaks when the
app runs on several instances with a failover database:

    GET  /.threetier/session        a session kept across requests: created on the first,
                                    read back on every later one (whichever instance
                                    answers); 409 "session-lost" when it is gone
    POST /.threetier/writes/<id>    one acknowledged write (201) into threetier_drill_writes
    GET  /.threetier/writes/<id>    200 when that write is still there, 404 when lost

Each request is bracketed as Django brackets its own (close_old_connections before and
after), so a stale connection after a failover fails here as it fails in the app's
views: a 500. Answered only with THREETIER_DRILL_PROBES=on (the twin), never on AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie

from threetier.apps.health import SESSION_PROBE, WRITE_PROBE

COOKIE = "threetier_probe"
SESSION_MARK = "threetier_probe"
PROBE_HEADER = "X-Threetier-Probe"
TABLE = "threetier_drill_writes"
WRITE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class DjangoProbes:
    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        from django.db import close_old_connections  # noqa: PLC0415 - Django is the app's

        close_old_connections()
        try:
            status, body, headers = self.route(environ)
        except Exception as exc:  # noqa: BLE001 - what the app's own view would turn into a 500
            status, body, headers = "500 Internal Server Error", {"error": type(exc).__name__,
                                                                  "detail": str(exc)[:300]}, [
                (PROBE_HEADER, f"error: {type(exc).__name__}")]
        finally:
            close_old_connections()
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                                ("Content-Length", str(len(data))), *headers])
        return [data]

    def route(self, environ: dict) -> tuple[str, dict, list]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == SESSION_PROBE and method == "GET":
            return session_probe(environ)
        if path.startswith(WRITE_PROBE) and WRITE_ID.match(path[len(WRITE_PROBE):]):
            write_id = path[len(WRITE_PROBE):]
            if method == "POST":
                return write(write_id)
            if method == "GET":
                return read(write_id)
        return "404 Not Found", {"error": "no such probe"}, []


def session_probe(environ: dict) -> tuple[str, dict, list]:
    from importlib import import_module  # noqa: PLC0415

    from django.conf import settings  # noqa: PLC0415

    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    key = cookie[COOKIE].value if COOKIE in cookie else None
    if key:
        session = store_class(key)
        if session.get(SESSION_MARK):
            session[SESSION_MARK] += 1
            session.save()
            return "200 OK", {"session": "kept", "requests": session[SESSION_MARK]}, [(PROBE_HEADER, "session-kept")]
    fresh = store_class()
    fresh[SESSION_MARK] = 1
    fresh.save()
    headers = [("Set-Cookie", f"{COOKIE}={fresh.session_key}; Path=/; HttpOnly; SameSite=Lax")]
    if key:
        return "409 Conflict", {"session": "lost", "engine": settings.SESSION_ENGINE}, [
            (PROBE_HEADER, "session-lost"), *headers]
    return "200 OK", {"session": "created"}, [(PROBE_HEADER, "session-created"), *headers]


def write(write_id: str) -> tuple[str, dict, list]:
    from django.db import connection  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id varchar(64) PRIMARY KEY, "
                       "written_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP)")
        cursor.execute(f"INSERT INTO {TABLE} (id) VALUES (%s)", [write_id])  # noqa: S608 - a constant table
    return "201 Created", {"write": write_id}, [(PROBE_HEADER, "written")]


def read(write_id: str) -> tuple[str, dict, list]:
    from django.db import connection  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {TABLE} WHERE id = %s", [write_id])  # noqa: S608 - a constant table
        found = cursor.fetchone() is not None
    return ("200 OK", {"write": write_id}, []) if found else ("404 Not Found", {"write": write_id, "lost": True}, [])
