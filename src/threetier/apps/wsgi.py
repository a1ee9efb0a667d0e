"""What gunicorn serves for a user's app (contract.APP_WRAPPER): the callable named by
THREETIER_APP_WSGI, imported after the contract's process environment is in place
(DATABASE_URL, the secret key's value, THREETIER_APP_DIR on sys.path), wrapped in
threetier's health and identity middleware (threetier.apps.health)."""

from __future__ import annotations

import importlib
import os

from threetier.apps.health import HealthMiddleware
from threetier.apps.process import prepare
from threetier.errors import ThreetierError
from threetier.runtime import contract


def load(environ: dict | None = None) -> HealthMiddleware:
    environ = os.environ if environ is None else environ
    prepare(environ)
    target = environ.get(contract.APP_WSGI, "")
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ThreetierError(f"{contract.APP_WSGI}={target!r} is not module:callable",
                             fix="set app.wsgi in the parameters (e.g. \"mysite.wsgi:application\")")
    try:
        inner = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ThreetierError(f"cannot load the app's WSGI callable {target}: {exc}",
                             fix=f"check app.wsgi and app.source ({environ.get(contract.APP_DIR)})") from exc
    probes = None
    if environ.get(contract.DRILL_PROBES) == "on" and environ.get(contract.SETTINGS):
        from threetier.apps.probes import DjangoProbes  # noqa: PLC0415 - the twin's rehearsals only

        probes = DjangoProbes()
    return HealthMiddleware(inner, environ=environ, probes=probes)


application = load()
