"""The Django web app: the seeds' `users` test app, made safe.

Run it with gunicorn (`threetier.webapp.wsgi:application`) and manage it with
`python -m threetier.webapp <django command>`; the settings contract is in
`threetier.webapp.settings.base`.
"""
