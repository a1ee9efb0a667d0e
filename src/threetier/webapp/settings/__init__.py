"""Settings split by environment: `base` (shared, read from the environment),
`production` (gunicorn behind the load balancer), `local` (a developer's runserver),
`test` (pytest). See `base` for the environment-variable contract."""
