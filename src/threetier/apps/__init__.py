"""Your own app on threetier's topology (docs/apps.md): a Django project or any WSGI app,
named by the parameters' [app] section, run by the same instance runtime as the
bundled registry (threetier.runtime.contract).

Modules that run inside the app's own environment (its venv: the standard library and
the app's dependencies only, never the tool's):

    process     the contract's process environment (DATABASE_URL, the secret key) and sys.path
    wsgi        what gunicorn serves: the app's callable wrapped in `health`
    health      /healthz, /readyz and the instance headers for apps without them
    probes      the twin's drill probes (a session and a write through the app's settings)
    inspect     the app's settings as facts, for the HA-readiness checks

Modules of the tool: `identity` (the parameters' [app] → the contract's AppIdentity),
`environment` (the app's venv), `release` (the copy of its code an instance runs).
"""
