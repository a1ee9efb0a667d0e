"""The web app's instance runtime: what every place that runs the app agrees on.

Three runtimes serve the same Django app: an EC2 web server (systemd, nginx → gunicorn
over a unix socket), a Fargate task (gunicorn behind the ALB) and the local twin's web
instances (supervisord, the same nginx → gunicorn). Each renders its configuration from
`threetier.runtime.contract`: the environment variables, the settings module and WSGI
callable, the secrets' files and modes, the gunicorn command line, the nginx site and
the one-off steps. Nothing else spells any of them.

A package, not one module, because its parts run in different places:

    contract        stdlib only: imported by the CDK synth, the twin, and the EC2 boot's
                    first stage under a bare python3.11 (before any dependency exists)
    gunicorn_conf   gunicorn's config module (`--config python:threetier.runtime.gunicorn_conf`)
    __main__        `python -m threetier.runtime migrate | serve`: the one-off migrate step
                    (under the advisory lock) and the container's entrypoint; needs Django
"""
