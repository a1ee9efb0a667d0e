"""Health endpoints for the load balancer and the twin's supervisor.

- `/healthz`: the process answers (liveness). Touches no database, so a database
  outage does not make the load balancer drop every instance at once.
- `/readyz`: `SELECT 1` on a fresh read-write connection with a short connect timeout;
  503 with a short reason when the database is unreachable.
- `/whoami`: JSON {"instance", "az"}, no database, for drills and benchmarks.
"""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from threetier.webapp.instance import current_instance

log = logging.getLogger(__name__)

READY_CONNECT_TIMEOUT_SECONDS = 2  # libpq's minimum; per host in a multi-host list


def database_problem(alias: str = DEFAULT_DB_ALIAS) -> str | None:
    """None when `SELECT 1` works on a new connection, else a short, public reason.

    A throwaway connection wrapper keeps the probe independent of the request's own
    connection (and of its transaction state). The detailed error goes to the log only:
    it names hosts and ports, which the public need not see.
    """
    wrapper = connections.create_connection(alias)
    params = wrapper.get_connection_params()
    params["connect_timeout"] = READY_CONNECT_TIMEOUT_SECONDS
    try:
        with wrapper.Database.connect(**params) as probe:
            probe.execute("SELECT 1").fetchone()
    except wrapper.Database.Error as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        log.warning("readyz: database unreachable: %s", first_line)
        return f"database unreachable ({type(error).__name__})"
    return None


def healthz(request: HttpRequest) -> HttpResponse:
    """200 "ok" while the process answers."""
    return HttpResponse("ok\n", content_type="text/plain")


def readyz(request: HttpRequest) -> HttpResponse:
    """200 "ready" when the database answers, 503 with the reason when it does not."""
    problem = database_problem()
    if problem:
        return HttpResponse(f"not ready: {problem}\n", status=503, content_type="text/plain")
    return HttpResponse("ready\n", content_type="text/plain")


def whoami(request: HttpRequest) -> JsonResponse:
    """{"instance": ..., "az": ...} of the instance that answered."""
    return JsonResponse(current_instance().as_dict())


HEALTH_VIEWS = {"/healthz": healthz, "/readyz": readyz}
