"""The twin's instances now use the shared `threetier.runtime.gunicorn_conf` (see
threetier.runtime.contract.GUNICORN_CONFIG); this name stays for configs written before."""

from threetier.runtime.gunicorn_conf import load_secret_key, post_worker_init, when_ready  # noqa: F401 - gunicorn hooks

load_secret_key()
